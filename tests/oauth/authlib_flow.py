#!/usr/bin/env python3
"""Drives the edge's OAuth 2.0 authorization server with Authlib, a client nobody here wrote.

Authorization code with PKCE (S256), the consent form played as a browser with `requests`, a
SCIM user created with the access token, a rotating refresh, then the reuse of a spent refresh
token, which must revoke the whole grant: the newest refresh token and access token too.

Inputs (environment): EDGE_URL (no trailing slash), CLIENT_ID, CLIENT_SECRET, REDIRECT_URI,
OWNER_CREDENTIAL, USER_NAME. Talks to EDGE_URL only.

On success prints one JSON line {"user_id": ..., "steps": [...]} and exits 0; on the first failed
expectation prints it to stderr and exits 1.
"""

import html
import json
import os
import re
import sys
from urllib.parse import urljoin

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

TIMEOUT_SECS = 10
SCIM_JSON = "application/scim+json"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"


class Failed(Exception):
    """An expectation that did not hold."""


def expect(condition, message):
    if not condition:
        raise Failed(message)


def env(name):
    value = os.environ.get(name)
    expect(value, f"environment variable {name} is not set")
    return value


def hidden_request_id(page):
    """The value of the input named request_id, whatever the order of its attributes."""
    for tag in re.findall(r"<input\b[^>]*>", page, re.IGNORECASE):
        if re.search(r"""\bname\s*=\s*["']request_id["']""", tag):
            value = re.search(r"""\bvalue\s*=\s*["']([^"']*)["']""", tag)
            expect(value, f"the request_id input has no value: {tag}")
            return html.unescape(value.group(1))
    raise Failed(f"no request_id input in the consent page:\n{page[:2000]}")


def expect_invalid_grant(session, token_endpoint, refresh_token, which):
    """Authlib must raise an OAuth error invalid_grant for this refresh token."""
    try:
        token = session.refresh_token(token_endpoint, refresh_token=refresh_token)
    except Exception as error:  # authlib's OAuthError, or something unexpected to report
        got = getattr(error, "error", None)
        expect(got == "invalid_grant",
               f"refreshing with the {which} refresh token: expected invalid_grant, "
               f"got {type(error).__name__}: {error!r} (error={got!r})")
        return
    raise Failed(f"refreshing with the {which} refresh token succeeded: {dict(token)}")


def main():
    edge = env("EDGE_URL")
    client_id, client_secret = env("CLIENT_ID"), env("CLIENT_SECRET")
    redirect_uri, owner_credential = env("REDIRECT_URI"), env("OWNER_CREDENTIAL")
    user_name = env("USER_NAME")
    steps = []

    # the resource owner's "browser", and the SCIM client: plain sessions (the browser's cookies
    # never reach SCIM), with no proxies or netrc from the environment
    browser, api = requests.Session(), requests.Session()
    browser.trust_env = api.trust_env = False

    # a. metadata (RFC 8414)
    resp = api.get(f"{edge}/.well-known/oauth-authorization-server", timeout=TIMEOUT_SECS)
    expect(resp.status_code == 200, f"metadata: status {resp.status_code}: {resp.text}")
    meta = resp.json()
    for key, path in [("authorization_endpoint", "/oauth/authorize"),
                      ("token_endpoint", "/oauth/token"), ("revocation_endpoint", "/oauth/revoke")]:
        expect(meta.get(key) == edge + path, f"metadata: {key} is {meta.get(key)!r}, not {edge + path}")
    expect(meta.get("issuer"), f"metadata: no issuer: {meta}")
    expect("S256" in meta.get("code_challenge_methods_supported", []), f"metadata: no S256: {meta}")
    expect("code" in meta.get("response_types_supported", []), f"metadata: no code response: {meta}")
    for grant in ("authorization_code", "refresh_token", "client_credentials"):
        expect(grant in meta.get("grant_types_supported", []), f"metadata: no {grant} grant: {meta}")
    expect("client_secret_basic" in meta.get("token_endpoint_auth_methods_supported", []),
           f"metadata: no client_secret_basic: {meta}")
    expect("scim" in meta.get("scopes_supported", []), f"metadata: no scim scope: {meta}")
    token_endpoint = meta["token_endpoint"]
    steps.append("metadata")

    # b. the authorization request, with PKCE
    session = OAuth2Session(client_id, client_secret, scope="scim", redirect_uri=redirect_uri,
                            code_challenge_method="S256",
                            token_endpoint_auth_method="client_secret_basic",
                            default_timeout=TIMEOUT_SECS)
    session.trust_env = False
    verifier = generate_token(48)
    auth_url, state = session.create_authorization_url(meta["authorization_endpoint"],
                                                       code_verifier=verifier)
    steps.append("authorization_url")

    # c. the resource owner approves on the consent page
    resp = browser.get(auth_url, timeout=TIMEOUT_SECS)
    expect(resp.status_code == 200, f"consent page: status {resp.status_code}: {resp.text[:2000]}")
    form = {"request_id": hidden_request_id(resp.text), "owner_credential": owner_credential,
            "decision": "approve"}
    resp = browser.post(urljoin(resp.url, "/oauth/authorize"), data=form,
                        allow_redirects=False, timeout=TIMEOUT_SECS)
    expect(resp.status_code == 303, f"approve: status {resp.status_code}, not 303: {resp.text[:2000]}")
    location = resp.headers.get("Location", "")
    expect(location.startswith(redirect_uri), f"approve: Location {location!r} is not {redirect_uri}")
    steps.append("consent")

    # d. the code for tokens (authlib checks the state)
    token = session.fetch_token(token_endpoint, authorization_response=location, state=state,
                                code_verifier=verifier)
    expect(str(token.get("token_type", "")).lower() == "bearer", f"token: not Bearer: {dict(token)}")
    expect(token.get("access_token") and token.get("refresh_token"), f"token: {dict(token)}")
    old_access, old_refresh = token["access_token"], token["refresh_token"]
    steps.append("authorization_code")

    # e. a SCIM user, with the access token
    user = {"schemas": [USER_SCHEMA], "userName": user_name,
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "emails": [{"value": user_name if "@" in user_name else f"{user_name}@example.com",
                        "primary": True}]}
    resp = api.post(f"{edge}/scim/v2/Users", data=json.dumps(user), timeout=TIMEOUT_SECS,
                        headers={"Authorization": f"Bearer {old_access}", "Content-Type": SCIM_JSON})
    expect(resp.status_code == 201, f"SCIM create: status {resp.status_code}: {resp.text}")
    user_id = resp.json().get("id")
    expect(user_id, f"SCIM create: no id: {resp.text}")
    steps.append("scim_create")

    # f. a rotating refresh
    token = session.refresh_token(token_endpoint, refresh_token=old_refresh)
    new_access, new_refresh = token.get("access_token"), token.get("refresh_token")
    expect(new_access and new_access != old_access, f"refresh: no new access token: {dict(token)}")
    expect(new_refresh and new_refresh != old_refresh, f"refresh: no new refresh token: {dict(token)}")
    user_url = f"{edge}/scim/v2/Users/{user_id}"
    resp = api.get(user_url, headers={"Authorization": f"Bearer {new_access}"},
                       timeout=TIMEOUT_SECS)
    expect(resp.status_code == 200, f"SCIM get after refresh: status {resp.status_code}: {resp.text}")
    steps.append("refresh")

    # g. the spent refresh token again: refused
    expect_invalid_grant(session, token_endpoint, old_refresh, "already used")
    steps.append("refresh_reuse_refused")

    # h. ... and the whole family revoked: the newest refresh token and access token too
    expect_invalid_grant(session, token_endpoint, new_refresh, "newest (after reuse)")
    resp = api.get(user_url, headers={"Authorization": f"Bearer {new_access}"},
                       timeout=TIMEOUT_SECS)
    challenge = resp.headers.get("WWW-Authenticate", "")
    expect(resp.status_code == 401, f"SCIM get with a revoked token: status {resp.status_code}: {resp.text}")
    expect("Bearer" in challenge and 'error="invalid_token"' in challenge,
           f"SCIM get with a revoked token: WWW-Authenticate is {challenge!r}")
    steps.append("family_revoked")

    print(json.dumps({"user_id": user_id, "steps": steps}))


if __name__ == "__main__":
    try:
        main()
    except Failed as failure:
        print(f"authlib_flow: {failure}", file=sys.stderr)
        sys.exit(1)
    except Exception as error:  # authlib or requests raised where nothing was expected
        print(f"authlib_flow: unexpected {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
