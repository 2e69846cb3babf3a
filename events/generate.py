#!/usr/bin/env python3
"""Regenerates the fixtures in events/: Standard Webhooks and Entra.

Every event is signed with the Standard Webhooks spec's published test secret
(never a real one) at a fixed time, so tests replay them with the clock set to
SIGNED_AT. Run from the repository root: python3 events/generate.py

The Entra fixtures (entra-*) carry RS256 JWTs signed with the TEST-ONLY key
tests/fixtures/entra/test-key-1.pem (public: events/entra-jwks.json); see
events/README.md. They need the `cryptography` package and are skipped
without it.
"""
import base64, hashlib, hmac, json, pathlib

SECRET = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"  # spec test vector, public
SIGNED_AT = 1772443800  # 2026-03-02T09:30:00Z
HERE = pathlib.Path(__file__).parent


def sign(msg_id, ts, body):
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def apigw(name, body, headers, base64_body=False, path="/webhooks/standard",
          user_agent="Standard-Webhooks-Sender/1.0"):
    event = {
        "version": "2.0",
        "routeKey": f"POST {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "user-agent": user_agent,
                    "host": "abc123xyz.execute-api.eu-west-1.amazonaws.com", **headers},
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc123xyz",
            "domainName": "abc123xyz.execute-api.eu-west-1.amazonaws.com", "domainPrefix": "abc123xyz",
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "198.51.100.7", "userAgent": user_agent},
            "requestId": f"req-{name}", "routeKey": f"POST {path}", "stage": "$default",
            "time": "02/Mar/2026:09:30:00 +0000", "timeEpoch": SIGNED_AT * 1000,
        },
        "body": base64.b64encode(body).decode() if base64_body else body.decode(),
        "isBase64Encoded": base64_body,
    }
    (HERE / f"{name}.apigw.json").write_text(json.dumps(event, indent=2) + "\n")


def main():
    signup = {"email": "ana.lopez@example.org", "first_name": "Ana", "last_name": "Lopez",
              "organization": "Example Water Board", "department": "Hydrology"}
    body = json.dumps(signup).encode()
    (HERE / "standard-signup.body.json").write_text(body.decode() + "\n")
    msg = "msg_2tLq7cVn0signup0001"
    good = {"webhook-id": msg, "webhook-timestamp": str(SIGNED_AT), "webhook-signature": sign(msg, SIGNED_AT, body)}
    # A valid sign-up (as a Function URL would deliver it: base64 body).
    apigw("standard-signup", body, good, base64_body=True)
    # The sender's retry 40 s later: same id and body, new timestamp and signature.
    ts = SIGNED_AT + 40
    apigw("standard-replay", body, {"webhook-id": msg, "webhook-timestamp": str(ts),
                                    "webhook-signature": sign(msg, ts, body)})
    # Tampered: the body changed after signing.
    tampered = body.replace(b"Ana", b"Eve")
    apigw("standard-bad-signature", tampered, good)
    # Correctly signed but not JSON.
    bad_body = b'{"email": "ana.lopez@example.org", "first_name": '
    msg2 = "msg_2tLq7cVn0malformed01"
    apigw("standard-malformed", bad_body, {"webhook-id": msg2, "webhook-timestamp": str(SIGNED_AT),
                                          "webhook-signature": sign(msg2, SIGNED_AT, bad_body)})


# --- Entra External ID, OnAttributeCollectionSubmit --------------------------

ENTRA_PATH = "/webhooks/entra-attribute-collection"
ENTRA_KEY = HERE.parent / "tests" / "fixtures" / "entra" / "test-key-1.pem"  # TEST ONLY
ENTRA_KID = "entra-test-key-1"
ENTRA_TENANT = "11111111-2222-3333-4444-555555555555"
ENTRA_ISSUER = f"https://contosotest.ciamlogin.com/{ENTRA_TENANT}/v2.0"
ENTRA_AUDIENCE = "6a9b4c3d-0000-4000-8000-00000000e0a1"  # the extension's app id (made up)
ENTRA_SERVICE_APP = "99045fe1-7639-4a75-9d4a-577b6ca3810f"  # Entra's custom-extension caller


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def entra_token(private_key, issued_at, uti):
    """An RS256 JWT shaped like the ones Entra sends to custom extensions."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    header = {"typ": "JWT", "alg": "RS256", "kid": ENTRA_KID}
    claims = {"aud": ENTRA_AUDIENCE, "iss": ENTRA_ISSUER, "iat": issued_at, "nbf": issued_at,
              "exp": issued_at + 300, "azp": ENTRA_SERVICE_APP, "azpacr": "1",
              "oid": "aaaabbbb-0000-1111-2222-333344445555", "sub": "aaaabbbb-0000-1111-2222-333344445555",
              "tid": ENTRA_TENANT, "uti": uti, "ver": "2.0"}
    signing_input = f"{b64u(json.dumps(header).encode())}.{b64u(json.dumps(claims).encode())}"
    # PKCS#1 v1.5 is deterministic, so the fixtures do not change between runs.
    sig = private_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64u(sig)}", claims


def entra():
    try:
        from cryptography.hazmat.primitives import serialization
    except ImportError:
        print("cryptography not installed: Entra fixtures not regenerated")
        return
    pem = ENTRA_KEY.read_bytes()
    private_key = serialization.load_pem_private_key(pem[pem.index(b"-----BEGIN"):], password=None)
    public = private_key.public_key().public_numbers()
    as_bytes = lambda n: n.to_bytes((n.bit_length() + 7) // 8, "big")
    jwks = {"_comment": "TEST ONLY: public half of tests/fixtures/entra/test-key-1.pem",
            "keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": ENTRA_KID,
                      "n": b64u(as_bytes(public.n)), "e": b64u(as_bytes(public.e))}]}
    (HERE / "entra-jwks.json").write_text(json.dumps(jwks, indent=2) + "\n")

    attr = lambda value, kind="builtIn": {"@odata.type": "microsoft.graph.stringDirectoryAttributeValue",
                                          "value": value, "attributeType": kind}
    payload = {
        "type": "microsoft.graph.authenticationEvent.attributeCollectionSubmit",
        "source": f"/tenants/{ENTRA_TENANT}/applications/{ENTRA_AUDIENCE}",
        "data": {
            "@odata.type": "microsoft.graph.onAttributeCollectionSubmitCalloutData",
            "tenantId": ENTRA_TENANT,
            "authenticationEventListenerId": "0b6c4e2a-0000-4000-8000-0000000000aa",
            "customAuthenticationExtensionId": "0b6c4e2a-0000-4000-8000-0000000000bb",
            "authenticationContext": {
                "correlationId": "d2c1f0e3-7a44-4b8e-9c55-3f1e2a6b7c80",
                "client": {"ip": "203.0.113.9", "locale": "en-us", "market": "en-us"},
                "protocol": "OAUTH2.0",
                "clientServicePrincipal": {"id": "0b6c4e2a-0000-4000-8000-0000000000cc",
                                           "appId": "0b6c4e2a-0000-4000-8000-0000000000dd",
                                           "appDisplayName": "GIS portal sign-up", "displayName": "GIS portal sign-up"},
                "resourceServicePrincipal": {"id": "0b6c4e2a-0000-4000-8000-0000000000cc",
                                             "appId": "0b6c4e2a-0000-4000-8000-0000000000dd",
                                             "appDisplayName": "GIS portal sign-up", "displayName": "GIS portal sign-up"},
            },
            "userSignUpInfo": {
                "attributes": {
                    "givenName": attr("Ana"),
                    "surname": attr("Lopez"),
                    "companyName": attr("Example Water Board"),
                    "extension_0123456789abcdef0123456789abcdef_pool": attr("water", "directorySchemaExtension"),
                },
                "identities": [{"signInType": "email", "issuer": "contosotest.onmicrosoft.com",
                                "issuerAssignedId": "ana.lopez@example.org"}],
            },
        },
    }
    body = json.dumps(payload).encode()
    (HERE / "entra-attribute-collection-signup.body.json").write_text(body.decode() + "\n")
    agent = "Entra-Custom-Extension-Fixture/1.0"

    def send(name, token):
        apigw(name, body, {"authorization": f"Bearer {token}"}, path=ENTRA_PATH, user_agent=agent)

    token, claims = entra_token(private_key, SIGNED_AT - 5, "fixture-uti-signup")
    send("entra-attribute-collection-signup", token)
    # Entra's retry (or a second submit of the same flow) 2 s later: same
    # correlationId, a fresh token.
    retry, _ = entra_token(private_key, SIGNED_AT - 3, "fixture-uti-retry")
    send("entra-attribute-collection-replay", retry)
    # Tampered: the claims were edited (another audience) after signing.
    head, _, sig = token.split(".")
    forged = dict(claims, aud="api://attacker.example/other")
    send("entra-attribute-collection-bad-token", f"{head}.{b64u(json.dumps(forged).encode())}.{sig}")


if __name__ == "__main__":
    main()
    entra()
