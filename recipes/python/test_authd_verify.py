"""Runs the recipe in authd_verify.py against a real authd. The Go test
internal/app/recipes_test.go starts authd, mints the tokens and runs
`python3 -m unittest` with them in the environment."""
import os
import unittest

import jwt

from authd_verify import AccessTokenVerifier, InvalidTokenType


def env(name):
    value = os.environ.get(name)
    if not value:
        raise AssertionError(f"{name} is not set: run this through internal/app/recipes_test.go")
    return value


class VerifyAuthdTokens(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.verifier = AccessTokenVerifier(env("AUTHD_ISSUER"), env("AUTHD_JWKS_URL"), env("AUTHD_AUDIENCE"))

    def test_accepts_a_good_rs256_token(self):
        claims = self.verifier.verify(env("TOKEN_GOOD_RS256"))
        self.assertEqual(claims["iss"], env("AUTHD_ISSUER"))
        self.assertEqual(claims["client_id"], env("AUTHD_CLIENT_ID"))
        self.assertEqual(claims["scope"], "orders:read")

    def test_accepts_a_good_es256_token(self):
        claims = self.verifier.verify(env("TOKEN_GOOD_ES256"))
        self.assertEqual(claims["client_id"], env("AUTHD_CLIENT_ID_ES256"))

    def test_refuses_a_tampered_token(self):
        with self.assertRaises(jwt.InvalidSignatureError):
            self.verifier.verify(env("TOKEN_TAMPERED"))

    def test_refuses_an_expired_token(self):
        with self.assertRaises(jwt.ExpiredSignatureError):
            self.verifier.verify(env("TOKEN_EXPIRED"))

    def test_refuses_a_token_for_another_audience(self):
        with self.assertRaises(jwt.InvalidAudienceError):
            self.verifier.verify(env("TOKEN_WRONG_AUD"))

    def test_refuses_an_alg_none_token(self):
        with self.assertRaises(jwt.InvalidAlgorithmError):
            self.verifier.verify(env("TOKEN_ALG_NONE"))

    def test_refuses_a_token_that_is_not_an_access_token(self):
        # An ID token from the same issuer: signed by the same keys, but
        # its "typ" is not at+jwt.
        with self.assertRaises(InvalidTokenType):
            self.verifier.verify(env("TOKEN_WRONG_TYP"))

    def test_refuses_a_token_whose_kid_is_not_in_the_jwks(self):
        with self.assertRaises(jwt.PyJWKClientError):
            self.verifier.verify(env("TOKEN_UNKNOWN_KID"))

    def test_refuses_what_is_not_a_jwt(self):
        with self.assertRaises(jwt.DecodeError):
            self.verifier.verify("not-a-jwt")


if __name__ == "__main__":
    unittest.main()
