"""google-auth against iap-lb-emulator (run by tests/api/python.rs).

1. compute_engine.IDTokenCredentials through GCE_METADATA_HOST (ping, then identity).
2. service_account.IDTokenCredentials from a minted key file whose token_uri is the emulator.
3. id_token.verify_token of both at the emulator's host-prefixed oauth2/v1 certs URL, and of a
   Firebase ID token (signed up at identitytoolkit) at the
   securetoken x509 URL (what verify_firebase_token does with Google's URL).
4. An IAP assertion the load balancer added, verified as python-docs-samples iap/validate_jwt.py
   does: id_token.verify_token with the gstatic public_key URL and the backend-service audience.
"""

import json
import os
import sys
import urllib.request

import google.auth.transport.requests
from google.auth import compute_engine
from google.auth.compute_engine import _metadata
from google.oauth2 import id_token, service_account

emulator = os.environ["EMULATOR"].rstrip("/")
audience = os.environ["AUDIENCE"]
expected = os.environ["EXPECTED_EMAIL"]
request = google.auth.transport.requests.Request()
google_certs = f"{emulator}/www.googleapis.com/oauth2/v1/certs"

if not _metadata.ping(request):
    sys.exit("metadata ping failed")
creds = compute_engine.IDTokenCredentials(request, audience, use_metadata_identity_endpoint=True)
creds.refresh(request)
claims = id_token.verify_token(creds.token, request, audience=audience, certs_url=google_certs)
assert claims["email"] == expected, claims
assert claims["iss"] == "https://accounts.google.com", claims
print("metadata: ok")

sa = service_account.IDTokenCredentials.from_service_account_file(
    os.environ["KEY_FILE"], target_audience=audience
)
sa.refresh(request)
claims = id_token.verify_token(sa.token, request, audience=audience, certs_url=google_certs)
assert claims["email"] == expected, claims
print("key file: ok")

body = json.dumps({"email": "py@example.com", "password": "secret1", "returnSecureToken": True})
req = urllib.request.Request(
    f"{emulator}/identitytoolkit.googleapis.com/v1/accounts:signUp?key=test",
    data=body.encode(),
    headers={"Content-Type": "application/json"},
)
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
signed_up = json.load(opener.open(req))
firebase_certs = (
    f"{emulator}/www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com"
)
# verify_firebase_token is verify_token with the securetoken certs URL; give ours.
claims = id_token.verify_token(
    signed_up["idToken"], request, audience="my-project", certs_url=firebase_certs
)
assert claims["email"] == "py@example.com", claims
assert claims["iss"] == "https://securetoken.google.com/my-project", claims
print("firebase: ok")

claims = id_token.verify_token(
    os.environ["IAP_ASSERTION"],
    request,
    audience=os.environ["IAP_AUDIENCE"],
    certs_url=f"{emulator}/www.gstatic.com/iap/verify/public_key",
)
assert claims["iss"] == "https://cloud.google.com/iap", claims
assert claims["email"] == expected, claims
print("iap: ok")

# 5. An access token with IAP's scopes (item 2) as compute_engine.Credentials asks the metadata
#    server for one (`.../token?scopes=a,b`). Written to a file, never printed: the Rust side
#    presents it to IAP.
token_file = os.environ.get("ACCESS_TOKEN_FILE")
if token_file:
    scoped = compute_engine.Credentials(
        scopes=["openid", "https://www.googleapis.com/auth/userinfo.email"]
    )
    scoped.refresh(request)
    assert scoped.token.startswith("ya29."), "not a Google access token"
    with open(token_file, "w", encoding="utf-8") as f:
        f.write(scoped.token)
    print("access token: ok")
