#!/usr/bin/env python3
"""Regenerates the fixtures in events/ (Standard Webhooks and the IdP senders).

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


# --- Identity-provider senders: Okta event hook, Okta registration inline hook,
# Auth0 log stream. None is signed: each authenticates with a static secret in
# a header, so the fixtures carry these TEST-ONLY values (never real ones):
#   okta-events        Authorization: test-only-okta-event-hook-secret
#   okta-registration  Authorization: Basic dGVzdC1vbmx5Om9rdGEtcmVnaXN0cmF0aW9u
#                      (base64 of "test-only:okta-registration")
#   auth0-logs         Authorization: test-only-auth0-log-stream-token
#                      (configure the bare token; "Bearer <token>" works too)
OKTA_EVENT_SECRET = "test-only-okta-event-hook-secret"
OKTA_REGISTRATION_SECRET = "Basic dGVzdC1vbmx5Om9rdGEtcmVnaXN0cmF0aW9u"
AUTH0_LOG_TOKEN = "test-only-auth0-log-stream-token"
WRONG_SECRET = "test-only-wrong-secret"


def idp_event(name, method, path, body, headers, user_agent):
    """An API Gateway v2 event for an IdP route (plain-text body)."""
    base = {"user-agent": user_agent, "host": "abc123xyz.execute-api.eu-west-1.amazonaws.com"}
    if body:
        base["content-type"] = "application/json"
    event = {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {**base, **headers},
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc123xyz",
            "domainName": "abc123xyz.execute-api.eu-west-1.amazonaws.com", "domainPrefix": "abc123xyz",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "198.51.100.7", "userAgent": user_agent},
            "requestId": f"req-{name}", "routeKey": f"{method} {path}", "stage": "$default",
            "time": "02/Mar/2026:09:30:00 +0000", "timeEpoch": SIGNED_AT * 1000,
        },
        "isBase64Encoded": False,
    }
    if body:
        event["body"] = body.decode()
        (HERE / f"{name}.body.json").write_text(body.decode() + "\n")
    (HERE / f"{name}.apigw.json").write_text(json.dumps(event, indent=2) + "\n")


def okta_user(uid, login, name):
    return {"id": uid, "type": "User", "alternateId": login, "displayName": name}


def okta_events():
    path, agent = "/webhooks/okta", "Okta-Event-Hooks"
    auth = {"authorization": OKTA_EVENT_SECRET}
    # Okta's one-time verification GET (carries the secret too).
    idp_event("okta-events-verify", "GET", path, b"",
              {**auth, "x-okta-verification-challenge": "test-only-challenge-7Kq2mB9xZ4"}, agent)
    admin = {"id": "00uADMIN123", "type": "User", "alternateId": "admin@example.org", "displayName": "Site Admin"}
    app = {"id": "0oaARCGIS89", "type": "AppInstance", "alternateId": "ArcGIS Online", "displayName": "ArcGIS Online"}
    events = [
        {"uuid": "a1b2c3d4-0000-4000-8000-000000000001", "published": "2026-03-02T09:15:03.100Z",
         "eventType": "user.lifecycle.create", "outcome": {"result": "SUCCESS"}, "actor": admin,
         "target": [okta_user("00uNEW4567", "ana.lopez@example.org", "Ana Lopez")]},
        {"uuid": "a1b2c3d4-0000-4000-8000-000000000002", "published": "2026-03-02T09:15:03.900Z",
         "eventType": "application.user_membership.add", "outcome": {"result": "SUCCESS"}, "actor": admin,
         "target": [okta_user("00uNEW4567", "ana.lopez@example.org", "Ana Lopez"), app]},
        {"uuid": "a1b2c3d4-0000-4000-8000-000000000003", "published": "2026-03-02T09:16:10.000Z",
         "eventType": "user.session.start", "outcome": {"result": "SUCCESS"},
         "actor": okta_user("00uOLD0001", "ben.okafor@example.org", "Ben Okafor"), "target": []},
        {"uuid": "a1b2c3d4-0000-4000-8000-000000000004", "published": "2026-03-02T09:16:20.000Z",
         "eventType": "user.session.start", "outcome": {"result": "FAILURE", "reason": "INVALID_CREDENTIALS"},
         "actor": okta_user("00uOLD0002", "eve@example.org", "Eve Example"), "target": []},
    ]
    body = json.dumps({
        "eventType": "com.okta.event_hook", "eventTypeVersion": "1.0", "cloudEventsVersion": "0.1",
        "contentType": "application/json", "eventId": "3f0c9a52-0000-4000-8000-000000000001",
        "eventTime": "2026-03-02T09:16:21.120Z",
        "source": "https://example.okta.com/api/v1/eventHooks/who1AbCdEfGhIjK",
        "data": {"events": events}}).encode()
    idp_event("okta-events-signup", "POST", path, body, auth, agent)
    # Okta's one retry: the same delivery again (same event uuids).
    idp_event("okta-events-replay", "POST", path, body, auth, agent)
    # Wrong shared secret.
    idp_event("okta-events-bad-secret", "POST", path, body, {"authorization": WRONG_SECRET}, agent)


def okta_registration():
    path, agent = "/hooks/okta/registration", "Okta-Inline-Hooks"
    auth = {"authorization": OKTA_REGISTRATION_SECRET}
    body = json.dumps({
        "eventId": "RgT9xA1b2C", "eventTime": "2026-03-02T09:20:00.000Z",
        "eventType": "com.okta.user.pre-registration", "eventTypeVersion": "1.0",
        "contentType": "application/json", "cloudEventVersion": "0.1", "source": "regABCDEF123",
        "requestType": "self.service.registration",
        "data": {"context": {"request": {"method": "POST", "ipAddress": "198.51.100.7",
                                         "url": {"value": "/idp/idx/enroll/new"}}},
                 "userProfile": {"firstName": "Ana", "lastName": "Lopez", "email": "ana.lopez@example.org",
                                 "login": "ana.lopez@example.org", "organization": "Example Water Board"},
                 "action": "ALLOW"}}).encode()
    idp_event("okta-registration-signup", "POST", path, body, auth, agent)
    idp_event("okta-registration-replay", "POST", path, body, auth, agent)
    idp_event("okta-registration-bad-secret", "POST", path, body, {"authorization": WRONG_SECRET}, agent)


def auth0_logs():
    path, agent = "/webhooks/auth0-logs", "Auth0-Log-Streams"
    auth = {"authorization": AUTH0_LOG_TOKEN}
    records = [
        {"log_id": "90020260302093000123456789012345678901234567890123", "data": {
            "date": "2026-03-02T09:30:00.123Z", "type": "ss", "description": "",
            "connection": "Username-Password-Authentication", "connection_id": "con_TESTONLY0000001",
            "client_id": "TESTONLYclient0000000000000000000", "client_name": "ArcGIS Seat Portal",
            "ip": "198.51.100.7", "user_agent": "Firefox 148.0.0 / Linux 0.0.0",
            "details": {"body": {"email": "ana.lopez@example.org", "tenant": "example",
                                 "connection": "Username-Password-Authentication"}},
            "user_id": "auth0|65f0c0ffee0000000000abcd", "user_name": "ana.lopez@example.org",
            "strategy": "auth0", "strategy_type": "database",
            "log_id": "90020260302093000123456789012345678901234567890123"}},
        {"log_id": "90020260302093005123456789012345678901234567890124", "data": {
            "date": "2026-03-02T09:30:05.456Z", "type": "s", "description": "Successful login",
            "connection": "Username-Password-Authentication", "client_name": "ArcGIS Seat Portal",
            "user_id": "auth0|65f0c0ffee0000000000abcd", "user_name": "ana.lopez@example.org",
            "log_id": "90020260302093005123456789012345678901234567890124"}},
    ]
    # The stream's "JSON array" content format.
    body = json.dumps(records).encode()
    idp_event("auth0-logs-signup", "POST", path, body, auth, agent)
    idp_event("auth0-logs-replay", "POST", path, body, auth, agent)
    idp_event("auth0-logs-bad-token", "POST", path, body, {"authorization": WRONG_SECRET}, agent)


def idp_fixtures():
    okta_events()
    okta_registration()
    auth0_logs()


if __name__ == "__main__":
    main()
    idp_fixtures()
