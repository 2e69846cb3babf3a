#!/usr/bin/env python3
"""Regenerates the webhook fixtures in events/ (every sender).

Every event is signed with a published or clearly test-only secret (never a
real one) at a fixed time, so tests replay them with the clock set to
SIGNED_AT. Run from the repository root: python3 events/generate.py

Test-only secrets, per source (configure these to replay the fixtures):
- standard:  SECRET below (the Standard Webhooks spec's test vector).
- typeform:  TYPEFORM_SECRET = "tf-test-secret" (webhook-sources.md §6 vector),
             route POST /webhooks/typeform, header Typeform-Signature.
- tally:     TALLY_SECRET = "tally-test-secret", route POST /webhooks/tally,
             header Tally-Signature.
- survey123: SURVEY123_TOKEN = "s123-test-token-0000-not-a-real-secret", the
             path token of POST /webhooks/survey123/{token} (Survey123 cannot
             sign, so the token is the only proof).

The Entra fixtures (entra-*) carry RS256 JWTs signed with the TEST-ONLY key
tests/fixtures/entra/test-key-1.pem (public: events/entra-jwks.json); see
events/README.md. They need the `cryptography` package and are skipped
without it.
"""
import base64, hashlib, hmac, json, pathlib, time

SECRET = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"  # spec test vector, public
SIGNED_AT = 1772443800  # 2026-03-02T09:30:00Z
HERE = pathlib.Path(__file__).parent
TYPEFORM_SECRET = "tf-test-secret"  # webhook-sources.md §6 test vector, public
TALLY_SECRET = "tally-test-secret"  # test-only
SURVEY123_TOKEN = "s123-test-token-0000-not-a-real-secret"  # test-only path token


def sign(msg_id, ts, body):
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def apigw(name, body, headers, base64_body=False, path="/webhooks/standard", route=None,
          user_agent="Standard-Webhooks-Sender/1.0", path_parameters=None, at=SIGNED_AT):
    route = route or f"POST {path}"
    event = {
        "version": "2.0",
        "routeKey": route,
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "user-agent": user_agent,
                    "host": "abc123xyz.execute-api.eu-west-1.amazonaws.com", **headers},
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc123xyz",
            "domainName": "abc123xyz.execute-api.eu-west-1.amazonaws.com", "domainPrefix": "abc123xyz",
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "198.51.100.7", "userAgent": user_agent},
            "requestId": f"req-{name}", "routeKey": route, "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(at)), "timeEpoch": at * 1000,
        },
        "body": base64.b64encode(body).decode() if base64_body else body.decode(),
        "isBase64Encoded": base64_body,
    }
    if path_parameters:
        event["pathParameters"] = path_parameters
    (HERE / f"{name}.apigw.json").write_text(json.dumps(event, indent=2) + "\n")


def body_file(name, body):
    (HERE / f"{name}.body.json").write_text(body.decode() + "\n")


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
    typeform()
    tally()
    survey123()


def hmac_b64(secret, body):
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def typeform():
    """Typeform: `Typeform-Signature: sha256=<base64 HMAC(secret, body)>`; key event_id."""
    delivery = {
        "event_id": "01JNHX3T9ZTYPEFORM0000001", "event_type": "form_response",
        "form_response": {
            "form_id": "lT4Z3j", "token": "a3a12ec67a1365927098a606107fac15",
            "landed_at": "2026-03-02T09:28:41Z", "submitted_at": "2026-03-02T09:30:00Z",
            "hidden": {"pool": "water-board", "utm_source": "newsletter"},
            "definition": {"id": "lT4Z3j", "title": "ArcGIS Online access", "fields": [
                {"id": "Fa1", "ref": "first_name", "type": "short_text", "title": "First name"},
                {"id": "Fa2", "ref": "last_name", "type": "short_text", "title": "Last name"},
                {"id": "Fa3", "ref": "email", "type": "email", "title": "Work e-mail"},
                {"id": "Fa4", "ref": "organization", "type": "multiple_choice", "title": "Organization"},
                {"id": "Fa5", "ref": "department", "type": "short_text", "title": "Department"}]},
            "answers": [
                {"type": "text", "text": "Ana", "field": {"id": "Fa1", "ref": "first_name", "type": "short_text"}},
                {"type": "text", "text": "Lopez", "field": {"id": "Fa2", "ref": "last_name", "type": "short_text"}},
                {"type": "email", "email": "ana.lopez@example.org", "field": {"id": "Fa3", "ref": "email", "type": "email"}},
                {"type": "choice", "choice": {"id": "Ch1", "label": "Example Water Board"},
                 "field": {"id": "Fa4", "ref": "organization", "type": "multiple_choice"}},
                {"type": "text", "text": "Hydrology", "field": {"id": "Fa5", "ref": "department", "type": "short_text"}}],
        },
    }
    body = json.dumps(delivery).encode()
    common = dict(path="/webhooks/typeform", user_agent="Typeform Webhooks")
    good = {"typeform-signature": "sha256=" + hmac_b64(TYPEFORM_SECRET, body)}
    body_file("typeform-signup", body)
    apigw("typeform-signup", body, good, **common)
    # Typeform's retry 2-3 min later: the same body, event_id and signature.
    body_file("typeform-replay", body)
    apigw("typeform-replay", body, good, at=SIGNED_AT + 150, **common)
    # Tampered: the body changed after signing.
    tampered = body.replace(b"ana.lopez@example.org", b"eve@example.org")
    body_file("typeform-bad-signature", tampered)
    apigw("typeform-bad-signature", tampered, good, **common)


def tally():
    """Tally: `Tally-Signature: <base64 HMAC(secret, body)>`; key eventId."""
    org_opts = [{"id": "5c0d1a2b-0000-4000-8000-00000000000a", "text": "City of Example GIS"},
                {"id": "5c0d1a2b-0000-4000-8000-00000000000b", "text": "Example Water Board"}]
    delivery = {
        "eventId": "9d1f4b8e-7a61-4c2e-9b7d-3f5a2c1e0d11", "eventType": "FORM_RESPONSE",
        "createdAt": "2026-03-02T09:30:00.000Z",
        "data": {
            "responseId": "2wgx4n", "submissionId": "2wgx4n", "respondentId": "dwQKYm",
            "formId": "VwbNEw", "formName": "ArcGIS Online access", "createdAt": "2026-03-02T09:29:58.000Z",
            "fields": [
                {"key": "question_mVGEg3", "label": "First name", "type": "INPUT_TEXT", "value": "Bo"},
                {"key": "question_nPxyz1", "label": "Last name", "type": "INPUT_TEXT", "value": "Chen"},
                {"key": "question_3EKz4n", "label": "Email", "type": "INPUT_EMAIL", "value": "bo.chen@city.example"},
                {"key": "question_w4Q9ae", "label": "Organization", "type": "DROPDOWN",
                 "value": ["5c0d1a2b-0000-4000-8000-00000000000a"], "options": org_opts},
                {"key": "question_p7Rt2b", "label": "Phone", "type": "INPUT_PHONE_NUMBER", "value": None},
                {"key": "question_k2Lm8c", "label": "Team size", "type": "INPUT_NUMBER", "value": 4}],
        },
    }
    body = json.dumps(delivery).encode()
    common = dict(path="/webhooks/tally", user_agent="Tally Webhooks")
    good = {"tally-signature": hmac_b64(TALLY_SECRET, body)}
    body_file("tally-signup", body)
    apigw("tally-signup", body, good, **common)
    # Tally's retry: the same body, eventId and signature.
    body_file("tally-replay", body)
    apigw("tally-replay", body, good, at=SIGNED_AT + 60, **common)
    # Tampered: the body changed after signing.
    tampered = body.replace(b"bo.chen@city.example", b"eve@city.example")
    body_file("tally-bad-signature", tampered)
    apigw("tally-bad-signature", tampered, good, **common)


def survey123():
    """Survey123: unsigned; the path token authenticates; key feature.attributes.globalid."""
    gid = "{3F2A9C71-5B4D-4E8F-9A10-2B3C4D5E6F70}"
    service = "https://services9.arcgis.com/AbCdEf/arcgis/rest/services/survey123_0123_form/FeatureServer"
    delivery = {
        "eventType": "addData",
        "feature": {
            "attributes": {"objectid": 57, "globalid": gid, "first_name": "Cai", "last_name": "Moreno",
                           "email": "cai.moreno@contractors.example", "organisation": "Example Survey Contractors",
                           "pool": "field", "crew_id": "C-14",
                           "CreationDate": 1772443799000, "Creator": "", "EditDate": 1772443799000, "Editor": ""},
            "geometry": None, "layerInfo": {"id": 0, "name": "survey", "type": "Feature Layer"},
            "result": {"objectId": 57, "globalId": gid, "success": True},
        },
        "surveyInfo": {"formItemId": "0123456789abcdef0123456789abcdef", "formTitle": "Field crew ArcGIS access",
                       "serviceItemId": "fedcba9876543210fedcba9876543210", "serviceUrl": service},
        "portalInfo": {"url": "https://www.arcgis.com"},
    }
    body = json.dumps(delivery).encode()

    def route(name, token, payload, at=SIGNED_AT):
        body_file(name, payload)
        apigw(name, payload, {}, path=f"/webhooks/survey123/{token}", route="POST /webhooks/survey123/{token}",
              user_agent="Survey123", path_parameters={"token": token}, at=at)

    route("survey123-signup", SURVEY123_TOKEN, body)
    # A second delivery of the same record: the same globalid.
    route("survey123-replay", SURVEY123_TOKEN, body, at=SIGNED_AT + 30)
    # Wrong path token: refused (401) before the body is read.
    route("survey123-bad-token", "s123-test-token-0000-guessed-wrongly", body)
    # An edit of the same record (e.g. an approver's change): acknowledged, ignored.
    edit = json.loads(body)
    edit["eventType"] = "editData"
    edit["feature"]["attributes"]["EditDate"] = 1772447400000
    route("survey123-edit", SURVEY123_TOKEN, json.dumps(edit).encode(), at=SIGNED_AT + 3600)


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


# --- Entra External ID, OnAttributeCollectionSubmit --------------------------

ENTRA_PATH = "/hooks/entra/attribute-collection"
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
    idp_fixtures()
    entra()
