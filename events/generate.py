#!/usr/bin/env python3
"""Regenerates the Standard Webhooks fixtures in events/.

Every event is signed with the Standard Webhooks spec's published test secret
(never a real one) at a fixed time, so tests replay them with the clock set to
SIGNED_AT. Run from the repository root: python3 events/generate.py
"""
import base64, hashlib, hmac, json, pathlib

SECRET = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"  # spec test vector, public
SIGNED_AT = 1772443800  # 2026-03-02T09:30:00Z
HERE = pathlib.Path(__file__).parent


def sign(msg_id, ts, body):
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def apigw(name, body, headers, base64_body=False):
    event = {
        "version": "2.0",
        "routeKey": "POST /webhooks/standard",
        "rawPath": "/webhooks/standard",
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "user-agent": "Standard-Webhooks-Sender/1.0",
                    "host": "abc123xyz.execute-api.eu-west-1.amazonaws.com", **headers},
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc123xyz",
            "domainName": "abc123xyz.execute-api.eu-west-1.amazonaws.com", "domainPrefix": "abc123xyz",
            "http": {"method": "POST", "path": "/webhooks/standard", "protocol": "HTTP/1.1",
                     "sourceIp": "198.51.100.7", "userAgent": "Standard-Webhooks-Sender/1.0"},
            "requestId": f"req-{name}", "routeKey": "POST /webhooks/standard", "stage": "$default",
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


if __name__ == "__main__":
    main()
