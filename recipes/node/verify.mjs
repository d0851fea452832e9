// Verifying authd access tokens in Node with jose (https://github.com/panva/jose).
import { createRemoteJWKSet, jwtVerify } from 'jose';

// The only algorithms authd signs access tokens with. An allowlist, never
// the token's own "alg": that is how "alg": "none" and key-confusion tokens
// are refused (RFC 8725 §3.1, RFC 9068 §4).
export const ALGORITHMS = ['RS256', 'ES256'];

// makeVerifier returns an async function that checks one access token and
// resolves to its claims, or rejects with a jose error (err.code says why:
// ERR_JWS_SIGNATURE_VERIFICATION_FAILED, ERR_JWT_EXPIRED,
// ERR_JWT_CLAIM_VALIDATION_FAILED with err.claim, ERR_JOSE_ALG_NOT_ALLOWED, ...).
// Build it once per process: the key set is fetched on first use, cached, and
// fetched again when a token names a kid it has not seen (a rotated key).
export function makeVerifier({ issuer, jwksUrl, audience }) {
  const jwks = createRemoteJWKSet(new URL(jwksUrl));
  return async function verify(token) {
    const { payload } = await jwtVerify(token, jwks, {
      typ: 'at+jwt', // RFC 9068 §4: the header says this is an access token
      algorithms: ALGORITHMS,
      issuer, // exactly the issuer in authd's discovery document
      audience, // this resource server's own identifier
      requiredClaims: ['exp', 'iat', 'sub', 'client_id', 'jti'], // RFC 9068 §2.2
    });
    return payload; // exp and nbf were checked by jwtVerify
  };
}
