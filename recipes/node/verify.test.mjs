// Runs the recipe in verify.mjs against a real authd. The Go test
// internal/app/recipes_test.go starts authd, mints the tokens and runs
// `node --test` with them in the environment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeVerifier } from './verify.mjs';

function env(name) {
  const v = process.env[name];
  assert.ok(v, `${name} is not set: run this through internal/app/recipes_test.go`);
  return v;
}

const verify = makeVerifier({
  issuer: env('AUTHD_ISSUER'),
  jwksUrl: env('AUTHD_JWKS_URL'),
  audience: env('AUTHD_AUDIENCE'),
});

// refused asserts that verify rejects token with the jose error code (and,
// for a claim check, the claim) that names the reason.
async function refused(token, code, claim) {
  await assert.rejects(verify(token), (err) => {
    assert.equal(err.code, code, `refused for another reason: ${err.code}: ${err.message}`);
    if (claim) assert.equal(err.claim, claim);
    return true;
  });
}

test('accepts a good RS256 token', async () => {
  const claims = await verify(env('TOKEN_GOOD_RS256'));
  assert.equal(claims.iss, env('AUTHD_ISSUER'));
  assert.equal(claims.client_id, env('AUTHD_CLIENT_ID'));
  assert.equal(claims.scope, 'orders:read');
});

test('accepts a good ES256 token', async () => {
  const claims = await verify(env('TOKEN_GOOD_ES256'));
  assert.equal(claims.client_id, env('AUTHD_CLIENT_ID_ES256'));
});

test('refuses a tampered token', async () => {
  await refused(env('TOKEN_TAMPERED'), 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED');
});

test('refuses an expired token', async () => {
  await refused(env('TOKEN_EXPIRED'), 'ERR_JWT_EXPIRED', 'exp');
});

test('refuses a token for another audience', async () => {
  await refused(env('TOKEN_WRONG_AUD'), 'ERR_JWT_CLAIM_VALIDATION_FAILED', 'aud');
});

test('refuses an alg none token', async () => {
  await refused(env('TOKEN_ALG_NONE'), 'ERR_JOSE_ALG_NOT_ALLOWED');
});

test('refuses a token that is not an access token (an ID token)', async () => {
  await refused(env('TOKEN_WRONG_TYP'), 'ERR_JWT_CLAIM_VALIDATION_FAILED', 'typ');
});

test('refuses a token whose kid is not in the JWKS', async () => {
  await refused(env('TOKEN_UNKNOWN_KID'), 'ERR_JWKS_NO_MATCHING_KEY');
});

test('refuses what is not a JWT', async () => {
  await refused('not-a-jwt', 'ERR_JWS_INVALID');
});
