// Dynamic client registration (RFC 7591) with openid-client v6, a
// certified relying-party library, against a running authd; the
// registered client then signs a user in (authorization code with PKCE,
// the login and consent pages driven over HTTP), refreshes, reads
// userinfo, and reads and deletes its registration (RFC 7592).
//
// Run by internal/app/registration_test.go (TestRegistrationOpenIDClient),
// which sets:
//   AUTHD_ISSUER          the issuer (http on loopback)
//   AUTHD_INITIAL_TOKEN   an initial access token
//   AUTHD_USERNAME, AUTHD_PASSWORD   a user to sign in
//   AUTHD_REDIRECT_URI    a redirect URI (never served: the test reads the
//                         Location header)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import { Browser } from './browser.mjs';

const env = (name) => {
  const v = process.env[name];
  assert.ok(v, `${name} must be set`);
  return v;
};

const issuer = new URL(env('AUTHD_ISSUER'));
const redirectURI = env('AUTHD_REDIRECT_URI');

test('dynamicClientRegistration, then a code flow with PKCE, refresh, userinfo and RFC 7592', async () => {
  // http on loopback: openid-client v6 refuses http unless told.
  const config = await client.dynamicClientRegistration(
    issuer,
    {
      client_name: 'openid-client test app',
      redirect_uris: [redirectURI],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
      scope: 'openid profile offline_access',
    },
    undefined,
    { initialAccessToken: env('AUTHD_INITIAL_TOKEN'), execute: [client.allowInsecureRequests] },
  );
  const meta = config.clientMetadata();
  assert.ok(meta.client_id, 'a client_id was issued');
  assert.ok(meta.client_secret, 'a client_secret was issued');
  assert.equal(meta.client_secret_expires_at, 0);
  assert.ok(meta.registration_access_token);
  assert.equal(meta.registration_client_uri, `${issuer.href.replace(/\/$/, '')}/oauth2/register/${meta.client_id}`);
  assert.equal(config.serverMetadata().registration_endpoint, `${issuer.href.replace(/\/$/, '')}/oauth2/register`);

  // Authorization code with PKCE (RFC 7636) and a nonce.
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const authURL = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectURI,
    scope: 'openid profile offline_access',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  const b = new Browser();
  let resp = await b.fetch(authURL);
  assert.equal(resp.status, 200, 'the login page');
  let page = await resp.text();
  assert.match(page, /name="username"/);
  resp = await b.submit(page, authURL, { username: env('AUTHD_USERNAME'), password: env('AUTHD_PASSWORD') });
  page = await resp.text();
  assert.equal(resp.status, 200, 'the consent page: a registered client never skips consent');
  assert.match(page, /name="decision" value="allow"/);
  resp = await b.submit(page, authURL, { decision: 'allow' });
  assert.equal(resp.status, 303);
  const callback = new URL(resp.headers.get('location'));
  assert.ok(callback.href.startsWith(redirectURI), `redirect to ${callback}`);

  const tokens = await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
  });
  const claims = tokens.claims();
  assert.equal(claims.aud, meta.client_id);
  assert.equal(claims.iss, issuer.href.replace(/\/$/, ''));
  assert.ok(tokens.access_token);
  assert.ok(tokens.refresh_token);

  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  assert.ok(refreshed.access_token);
  assert.notEqual(refreshed.refresh_token, tokens.refresh_token);

  const info = await client.fetchUserInfo(config, refreshed.access_token, claims.sub);
  assert.equal(info.preferred_username, env('AUTHD_USERNAME'));

  // RFC 7592: openid-client has no management API; the registration
  // access token it kept is used with plain fetch.
  const auth = { authorization: `Bearer ${meta.registration_access_token}` };
  resp = await fetch(meta.registration_client_uri, { headers: auth });
  assert.equal(resp.status, 200);
  const read = await resp.json();
  assert.equal(read.client_id, meta.client_id);
  assert.deepEqual(read.redirect_uris, [redirectURI]);
  resp = await fetch(meta.registration_client_uri, { method: 'DELETE', headers: auth });
  assert.equal(resp.status, 204);

  // The deleted client's refresh token no longer works.
  // (authd answers 401 invalid_client with a Basic challenge, which
  // openid-client reports as the challenge.)
  await assert.rejects(client.refreshTokenGrant(config, refreshed.refresh_token), (err) => {
    assert.equal(err.status, 401);
    assert.equal(err.code, 'OAUTH_WWW_AUTHENTICATE_CHALLENGE');
    return true;
  });
});
