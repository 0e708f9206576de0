"""Verify fortress-minted tokens with Google's own client library and with PyJWT.

Called by tests/interop_python.rs with the URLs of a local key server and the tokens to check.
Prints one JSON object with what each library accepted; exits non-zero on any surprise. The point
is independence: none of this shares code with google-tokens, so a token that passes here is in
Google's format, not merely in ours.
"""

import argparse
import json
import sys

import google.auth.exceptions
import google.auth.transport.requests
import jwt
import requests
from google.oauth2 import id_token


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--jwks-url", required=True)
    p.add_argument("--x509-url", required=True)
    p.add_argument("--id-token", required=True)
    p.add_argument("--id-audience", required=True)
    p.add_argument("--firebase-token", required=True)
    p.add_argument("--firebase-project", required=True)
    p.add_argument("--tampered-id-token", required=True)
    a = p.parse_args()

    session = requests.Session()
    session.trust_env = False  # never route loopback traffic through a proxy
    request = google.auth.transport.requests.Request(session=session)
    out = {}

    # google-auth: ID token against the JWKS (it reads {"keys": [...]} as JWKs).
    claims = id_token.verify_token(a.id_token, request, audience=a.id_audience, certs_url=a.jwks_url)
    out["google_auth_id_token_jwks"] = {"email": claims["email"], "iss": claims["iss"]}

    # google-auth: Firebase token against the x509 PEM map. verify_firebase_token is verify_token
    # with Google's securetoken URL fixed in; verify_token takes the same map from our server.
    fb = id_token.verify_token(
        a.firebase_token, request, audience=a.firebase_project, certs_url=a.x509_url
    )
    expected_iss = "https://securetoken.google.com/" + a.firebase_project
    if fb["iss"] != expected_iss:
        print(f"unexpected firebase iss {fb['iss']}", file=sys.stderr)
        return 1
    out["google_auth_firebase_x509"] = {"user_id": fb["user_id"], "iss": fb["iss"]}

    # PyJWT: ID token through PyJWKClient (kid lookup in the JWKS), RS256 only.
    jwk_client = jwt.PyJWKClient(a.jwks_url)
    key = jwk_client.get_signing_key_from_jwt(a.id_token)
    pj = jwt.decode(
        a.id_token, key.key, algorithms=["RS256"], audience=a.id_audience,
        issuer="https://accounts.google.com",
    )
    out["pyjwt_id_token_jwks"] = {"sub": pj["sub"]}

    # PyJWT: Firebase token with the certificate from the x509 map.
    from cryptography.x509 import load_pem_x509_certificate

    header = jwt.get_unverified_header(a.firebase_token)
    certs = session.get(a.x509_url, timeout=5).json()
    cert = load_pem_x509_certificate(certs[header["kid"]].encode())
    pf = jwt.decode(
        a.firebase_token, cert.public_key(), algorithms=["RS256"],
        audience=a.firebase_project, issuer=expected_iss,
    )
    out["pyjwt_firebase_x509"] = {"sub": pf["sub"]}

    # Both libraries must refuse a payload edited after signing.
    rejected = []
    try:
        id_token.verify_token(a.tampered_id_token, request, audience=a.id_audience, certs_url=a.jwks_url)
    except (ValueError, google.auth.exceptions.GoogleAuthError, jwt.InvalidTokenError):
        # With a JWKS, google-auth hands the check to PyJWT and lets its error through.
        rejected.append("google-auth")
    try:
        jwt.decode(a.tampered_id_token, key.key, algorithms=["RS256"], audience=a.id_audience)
    except jwt.InvalidTokenError:
        rejected.append("pyjwt")
    out["tampered_rejected_by"] = rejected

    print(json.dumps(out, sort_keys=True))
    return 0 if len(rejected) == 2 else 1


if __name__ == "__main__":
    sys.exit(main())
