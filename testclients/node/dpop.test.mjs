// DPoP (RFC 9449) with openid-client v6, a certified relying-party
// library, against a running authd: its own DPoP support (getDPoPHandle,
// the DPoP option) for client_credentials, a code flow with PKCE (the
// proof sent at the pushed authorization request, RFC 9449 §10.1, and
// dpop_jkt on a front-channel request, §10), refreshes and userinfo with
// the DPoP scheme; and a server that asks for nonces (§8), which
// openid-client handles by itself (it retries once on use_dpop_nonce).
// Bindings are checked with jose, independently of openid-client: the
// access token's cnf.jkt is the RFC 7638 thumbprint of the public key.
//
// Run by internal/app/dpop_node_test.go (TestDPoPOpenIDClient), which sets:
//   AUTHD_ISSUER                      an authd without nonces
//   AUTHD_CC_ID, AUTHD_CC_SECRET      a client_credentials client
//   AUTHD_PUBLIC_ID                   a public code-flow client (skip_consent)
//   AUTHD_USERNAME, AUTHD_PASSWORD    a user to sign in
//   AUTHD_REDIRECT_URI                its redirect URI (never served)
//   AUTHD_NONCE_ISSUER                an authd with --dpop-nonce
//   AUTHD_NONCE_CC_ID, AUTHD_NONCE_CC_SECRET   a client_credentials client there
//   AUTHD_NONCE_PUBLIC_ID             a public code-flow client there
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import * as jose from 'jose';
import { Browser } from './browser.mjs';

const env = (name) => {
  const v = process.env[name];
  assert.ok(v, `${name} must be set`);
  return v;
};

const redirectURI = env('AUTHD_REDIRECT_URI');
// http on loopback: openid-client v6 refuses http unless told.
const insecure = { execute: [client.allowInsecureRequests] };

// thumbprint is the RFC 7638 thumbprint of a key pair's public key, by jose.
async function thumbprint(keyPair) {
  return jose.calculateJwkThumbprint(await jose.exportJWK(keyPair.publicKey), 'sha256');
}

// assertBound checks a token response: token_type DPoP (RFC 9449 §5) and
// the access token's cnf.jkt (§6.1).
function assertBound(tokens, jkt, what) {
  assert.equal(tokens.token_type.toLowerCase(), 'dpop', `${what}: token_type`);
  const claims = jose.decodeJwt(tokens.access_token);
  assert.equal(claims.cnf?.jkt, jkt, `${what}: cnf.jkt`);
  return claims;
}

// signIn drives the login page of an authorization URL (the client skips
// consent) and returns the callback URL.
async function signIn(authURL) {
  const b = new Browser();
  let resp = await b.fetch(authURL);
  assert.equal(resp.status, 200, 'the login page');
  const page = await resp.text();
  assert.match(page, /name="username"/);
  resp = await b.submit(page, authURL, { username: env('AUTHD_USERNAME'), password: env('AUTHD_PASSWORD') });
  assert.equal(resp.status, 303, 'signed in: redirect to the client');
  const callback = new URL(resp.headers.get('location'));
  assert.ok(callback.href.startsWith(redirectURI), `redirect to ${callback}`);
  return callback;
}

// codeFlow runs a public client's code flow with PKCE and DPoP; with par
// the request is pushed with a DPoP proof (§10.1), otherwise it carries
// dpop_jkt (§10). It returns the token response.
async function codeFlow(config, DPoP, jkt, { par }) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const params = {
    redirect_uri: redirectURI,
    scope: 'openid offline_access',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
  };
  let authURL;
  if (par) {
    authURL = await client.buildAuthorizationUrlWithPAR(config, params, { DPoP });
    assert.ok(authURL.searchParams.get('request_uri')?.startsWith('urn:ietf:params:oauth:request_uri:'), 'a pushed request');
  } else {
    // openid-client's own thumbprint, which must be jose's.
    const own = await DPoP.calculateThumbprint();
    assert.equal(own, jkt, 'calculateThumbprint');
    authURL = client.buildAuthorizationUrl(config, { ...params, dpop_jkt: own });
  }
  const callback = await signIn(authURL);
  return client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state }, undefined, { DPoP });
}

test('client_credentials with DPoP', async () => {
  const issuer = new URL(env('AUTHD_ISSUER'));
  const config = await client.discovery(issuer, env('AUTHD_CC_ID'), undefined, client.ClientSecretBasic(env('AUTHD_CC_SECRET')), insecure);
  assert.ok(config.serverMetadata().dpop_signing_alg_values_supported.includes('ES256'));
  const keyPair = await client.randomDPoPKeyPair('ES256');
  const DPoP = client.getDPoPHandle(config, keyPair);
  const tokens = await client.clientCredentialsGrant(config, {}, { DPoP });
  const claims = assertBound(tokens, await thumbprint(keyPair), 'client_credentials');
  assert.equal(claims.client_id, env('AUTHD_CC_ID'));
  // Without the DPoP option the same client gets a bearer token.
  const bearer = await client.clientCredentialsGrant(config, {});
  assert.equal(bearer.token_type.toLowerCase(), 'bearer');
  assert.equal(jose.decodeJwt(bearer.access_token).cnf, undefined);
});

test('public client: code flow (PAR with a DPoP proof, and dpop_jkt), refresh and userinfo, all DPoP-bound', async () => {
  const issuer = new URL(env('AUTHD_ISSUER'));
  const config = await client.discovery(issuer, env('AUTHD_PUBLIC_ID'), undefined, client.None(), insecure);
  const keyPair = await client.randomDPoPKeyPair('ES256');
  const jkt = await thumbprint(keyPair);
  const DPoP = client.getDPoPHandle(config, keyPair);

  for (const par of [true, false]) {
    const what = par ? 'code pushed with a proof' : 'code with dpop_jkt';
    const tokens = await codeFlow(config, DPoP, jkt, { par });
    const claims = assertBound(tokens, jkt, what);
    assert.ok(tokens.refresh_token, `${what}: a refresh token`);

    // RFC 9449 §5: the public client's refresh token is bound to the key.
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP });
    assertBound(refreshed, jkt, `${what}: refresh`);
    assert.notEqual(refreshed.refresh_token, tokens.refresh_token);
    // Another key cannot refresh it.
    const thief = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
    await assert.rejects(client.refreshTokenGrant(config, refreshed.refresh_token, undefined, { DPoP: thief }), (err) => {
      assert.equal(err.error, 'invalid_dpop_proof', `${what}: refresh with another key`);
      return true;
    });
    // The refusal spent nothing: the key holder refreshes again.
    const again = await client.refreshTokenGrant(config, refreshed.refresh_token, undefined, { DPoP });
    assertBound(again, jkt, `${what}: refresh after a refused one`);

    // §7: userinfo with the DPoP scheme and a proof with ath.
    const info = await client.fetchUserInfo(config, again.access_token, claims.sub, { DPoP });
    assert.equal(info.sub, claims.sub);
    // The same token copied and sent as a bearer token is refused.
    const resp = await fetch(config.serverMetadata().userinfo_endpoint, { headers: { authorization: `Bearer ${again.access_token}` } });
    assert.equal(resp.status, 401, `${what}: bound token as Bearer`);
    assert.match(resp.headers.get('www-authenticate'), /^DPoP .*error="invalid_token"/);
  }
});

test('server nonces (--dpop-nonce): openid-client retries with the DPoP-Nonce by itself', async () => {
  const issuer = new URL(env('AUTHD_NONCE_ISSUER'));
  // Record what authd answered, to see the nonce round openid-client
  // hides: a 400 use_dpop_nonce with DPoP-Nonce, then success.
  const seen = [];
  const recording = async (url, init) => {
    const resp = await fetch(url, init);
    const path = new URL(url).pathname;
    if (init?.method === 'POST') {
      const body = resp.status === 400 ? await resp.clone().json() : {};
      seen.push({ path, status: resp.status, error: body.error, nonce: resp.headers.get('dpop-nonce') });
    } else if (path === '/oauth2/userinfo') {
      // §9: a resource server's nonce error is a 401 challenge.
      const error = /error="([^"]+)"/.exec(resp.headers.get('www-authenticate') ?? '')?.[1];
      seen.push({ path, status: resp.status, error, nonce: resp.headers.get('dpop-nonce') });
    }
    return resp;
  };
  const rounds = (path) => seen.filter((s) => s.path === path).map((s) => `${s.status}${s.error ? ' ' + s.error : ''}${s.nonce ? ' +nonce' : ''}`);

  const cc = await client.discovery(issuer, env('AUTHD_NONCE_CC_ID'), undefined, client.ClientSecretBasic(env('AUTHD_NONCE_CC_SECRET')), insecure);
  cc[client.customFetch] = recording;
  const keyPair = await client.randomDPoPKeyPair('ES256');
  const jkt = await thumbprint(keyPair);
  const tokens = await client.clientCredentialsGrant(cc, {}, { DPoP: client.getDPoPHandle(cc, keyPair) });
  assertBound(tokens, jkt, 'client_credentials with a nonce');
  assert.deepEqual(rounds('/oauth2/token'), ['400 use_dpop_nonce +nonce', '200']);

  // A code flow whose pushed request is the first to meet the nonce (a
  // new handle knows no nonce yet); the token endpoint then accepts it.
  seen.length = 0;
  const pub = await client.discovery(issuer, env('AUTHD_NONCE_PUBLIC_ID'), undefined, client.None(), insecure);
  pub[client.customFetch] = recording;
  const DPoP = client.getDPoPHandle(pub, keyPair);
  const code = await codeFlow(pub, DPoP, jkt, { par: true });
  assertBound(code, jkt, 'code flow with nonces');
  assert.deepEqual(rounds('/oauth2/par'), ['400 use_dpop_nonce +nonce', '201']);
  assert.deepEqual(rounds('/oauth2/token'), ['200']);
  const refreshed = await client.refreshTokenGrant(pub, code.refresh_token, undefined, { DPoP });
  assertBound(refreshed, jkt, 'refresh with nonces');

  // Userinfo asks for the nonce too (RFC 9449 §9): a new handle, which
  // knows no nonce, meets 401 use_dpop_nonce and openid-client retries.
  seen.length = 0;
  const info = await client.fetchUserInfo(pub, refreshed.access_token, client.skipSubjectCheck,
    { DPoP: client.getDPoPHandle(pub, keyPair) });
  assert.ok(info.sub, 'userinfo with nonces has a sub');
  assert.deepEqual(rounds('/oauth2/userinfo'), ['401 use_dpop_nonce +nonce', '200']);
});
