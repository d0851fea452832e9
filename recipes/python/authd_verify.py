"""Verifying authd access tokens in Python with PyJWT (https://pyjwt.readthedocs.io)."""
import jwt

# The only algorithms authd signs access tokens with. An allowlist, never the
# token's own "alg": that is how "alg": "none" and key-confusion tokens are
# refused (RFC 8725 §3.1, RFC 9068 §4).
ALGORITHMS = ["RS256", "ES256"]


class InvalidTokenType(jwt.InvalidTokenError):
    """The token's "typ" header is not at+jwt: it is not an access token."""


class AccessTokenVerifier:
    """Checks authd access tokens (RFC 9068 §4). Build one per process: the
    key set is fetched on first use, cached, and fetched again when a token
    names a kid it has not seen (a rotated key)."""

    def __init__(self, issuer, jwks_url, audience):
        self.issuer = issuer  # exactly the issuer in authd's discovery document
        self.audience = audience  # this resource server's own identifier
        self.jwks = jwt.PyJWKClient(jwks_url, cache_keys=True)

    def verify(self, token):
        """Returns the token's claims, or raises a jwt.PyJWTError:
        InvalidSignatureError, ExpiredSignatureError, InvalidAudienceError,
        InvalidIssuerError, InvalidAlgorithmError, InvalidTokenType, ...,
        or PyJWKClientError (no key for its kid, or no JWKS to be had)."""
        header = jwt.get_unverified_header(token)
        # RFC 9068 §4: the header must say this is an access token. PyJWT
        # does not check "typ", so we do (RFC 8725 §3.11 allows the
        # "application/" prefix).
        typ = str(header.get("typ", "")).lower().removeprefix("application/")
        if typ != "at+jwt":
            raise InvalidTokenType(f'unexpected "typ" header {header.get("typ")!r}')
        # Refuse an algorithm outside the allowlist before any key lookup.
        if header.get("alg") not in ALGORITHMS:
            raise jwt.InvalidAlgorithmError("The specified alg value is not allowed")
        key = self.jwks.get_signing_key_from_jwt(token)
        return jwt.decode(
            token,
            key.key,
            algorithms=ALGORITHMS,
            issuer=self.issuer,
            audience=self.audience,
            options={"require": ["iss", "exp", "aud", "sub", "client_id", "iat", "jti"]},  # RFC 9068 §2.2
        )  # exp and nbf were checked by jwt.decode
