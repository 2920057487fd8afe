"""The portal over HTTP: an authorization matrix (every role x every route x every tier), CSRF,
cookies and headers, and the serving rules."""

from __future__ import annotations

import datetime as dt
import html
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from access_support import ORIGINALS, PASSWORD, build_world
from avanon.access.auth import totp
from avanon.errors import ParameterError
from avanon.portal import check_bind, create_app

ROLES = ["administrator", "steward", "researcher", "guest", "anonymous"]
TIER_FILES = {"private": "p03/unconsented.mp4", "authorized": "p01/session.mp4", "learning": "p01/session_pose.csv", "public": "p02/talk.wav"}
CURATORS = {"administrator", "steward"}


def login(client: TestClient, username: str, secret: str | None) -> None:
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    otp = totp(secret, dt.datetime.now(dt.timezone.utc)) if secret else ""
    response = client.post("/login", data={"username": username, "password": PASSWORD, "otp": otp, "csrf": csrf}, follow_redirects=False)
    assert response.status_code == 303, response.text


def csrf_of(client: TestClient) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/requests").text).group(1)


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("portal")
    gov, users, secrets, release, run = build_world(f"sqlite:///{tmp / 'catalogue.sqlite'}", tmp)
    gov.approve_release(users["steward"], release)
    request_id = gov.request_access(users["researcher"], "study1", "authorized", "Gesture coding for a thesis")
    gov.decide_request(users["steward"], request_id, approve=True, days=30)
    app = create_app(gov)
    clients = {}
    for name, role in [("ada", "administrator"), ("stew", "steward"), ("res", "researcher"), ("guest", "guest")]:
        client = TestClient(app, base_url="http://127.0.0.1")
        login(client, name, secrets[role])
        clients[role] = client
    clients["anonymous"] = TestClient(app, base_url="http://127.0.0.1")
    ids = {f.path: f.id for f in gov.catalogue(users["steward"])}
    return {"gov": gov, "users": users, "clients": clients, "ids": ids, "release": release, "app": app, "run": run}


def may_read(role: str, tier: str) -> bool:
    if role in CURATORS:
        return True
    if role == "researcher":
        return tier != "private"
    return role == "guest" and tier == "public"


FILE_ROUTES = ["/files/{id}", "/files/{id}/download", "/review/{id}", "/review/{id}/original"]
PAGE_ROUTES = {
    "/": set(ROLES) - {"anonymous"},
    "/requests": set(ROLES) - {"anonymous"},
    "/releases": CURATORS,
    "/flags": CURATORS,
    "/audit": CURATORS,
    "/admin/users": {"administrator"},
}


def expected_file_status(role: str, route: str, tier: str) -> int:
    if role == "anonymous":
        return 303
    if not may_read(role, tier):
        return 404
    if route.startswith("/review") and role not in CURATORS:
        return 403
    return 200


@pytest.mark.parametrize("tier", list(TIER_FILES))
@pytest.mark.parametrize("route", FILE_ROUTES)
@pytest.mark.parametrize("role", ROLES)
def test_file_route_matrix(portal, role: str, route: str, tier: str) -> None:
    file_id = portal["ids"][TIER_FILES[tier]]
    response = portal["clients"][role].get(route.format(id=file_id), follow_redirects=False)
    assert response.status_code == expected_file_status(role, route, tier), response.text[:300]
    if response.status_code == 404:
        assert "No such file." in response.text
        assert TIER_FILES[tier] not in response.text
    if route == "/review/{id}/original" and response.status_code == 200:
        assert response.content == ORIGINALS[TIER_FILES[tier].replace("_pose.csv", ".mp4")]


@pytest.mark.parametrize("route", sorted(PAGE_ROUTES))
@pytest.mark.parametrize("role", ROLES)
def test_page_route_matrix(portal, role: str, route: str) -> None:
    response = portal["clients"][role].get(route, follow_redirects=False)
    expected = 200 if role in PAGE_ROUTES[route] else 303 if role == "anonymous" else 403
    assert response.status_code == expected


POST_ROUTES = {
    "/requests": {"researcher"},
    "/requests/{request}/approve": CURATORS,
    "/requests/{request}/deny": CURATORS,
    "/releases/{release}/approve": CURATORS,
    "/logout": set(ROLES) - {"anonymous"},
}


@pytest.mark.parametrize("route", sorted(POST_ROUTES))
@pytest.mark.parametrize("role", ROLES)
def test_post_route_matrix_with_and_without_csrf(portal, role: str, route: str) -> None:
    gov, client = portal["gov"], portal["clients"][role]
    request_id = gov.request_access(portal["users"]["researcher"], "study1", "learning", "Teaching a methods class")
    url = route.format(request=request_id, release=portal["release"])
    form = {"study": "study1", "tier": "authorized", "purpose": "Replication of the gesture analysis"}
    if role == "anonymous":
        assert client.post(url, data=form, follow_redirects=False).status_code == 303
        return
    assert client.post(url, data=form, follow_redirects=False).status_code == 403  # no CSRF token
    assert client.post(url, data={**form, "csrf": "forged"}, follow_redirects=False).status_code == 403
    if route == "/logout":
        return  # logging out for real would end the shared session; the matrix above covers its CSRF
    response = client.post(url, data={**form, "csrf": csrf_of(client)}, follow_redirects=False)
    assert response.status_code == (303 if role in POST_ROUTES[route] else 403), response.text[:300]


def test_matrix_covers_every_route(portal) -> None:
    covered = (
        set(FILE_ROUTES) | set(PAGE_ROUTES) | {r.replace("{request}", "{request_id}").replace("{release}", "{release_id}") for r in POST_ROUTES} | {"/login"}
    )
    routes = {r.path.replace("{file_id}", "{id}") for r in portal["app"].routes if getattr(r, "methods", None)}
    routes -= {"/openapi.json"}
    assert routes == covered, routes ^ covered


def test_researcher_download_headers_and_audit(portal) -> None:
    client = portal["clients"]["researcher"]
    response = client.get(f"/files/{portal['ids']['p01/session.mp4']}/download")
    assert response.status_code == 200
    assert response.content == (portal["run"] / "p01" / "session.mp4").read_bytes()
    assert "attachment" in response.headers["content-disposition"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert "strict-transport-security" not in response.headers
    ranged = client.get(f"/files/{portal['ids']['p01/session.mp4']}/download?inline=true", headers={"Range": "bytes=0-9"})
    assert ranged.status_code == 206 and ranged.content == b"anon video"
    last = portal["gov"].audit.entries(action="download")[-1]
    assert last.actor == "res" and last.purpose == "playback"


def test_session_cookie_flags_and_tls_headers(portal, tmp_path: Path) -> None:
    client = TestClient(create_app(portal["gov"], tls=True), base_url="https://127.0.0.1")
    page = client.get("/login")
    assert "max-age=63072000" in page.headers["strict-transport-security"]
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" in cookie
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    response = client.post("/login", data={"username": "guest", "password": PASSWORD, "csrf": csrf}, follow_redirects=False)
    session_cookie = response.headers["set-cookie"].lower()
    assert response.status_code == 303 and "avanon_session" in session_cookie
    assert "httponly" in session_cookie and "samesite=strict" in session_cookie and "secure" in session_cookie


def test_login_without_csrf_or_with_wrong_otp(portal) -> None:
    client = TestClient(portal["app"], base_url="http://127.0.0.1")
    assert client.post("/login", data={"username": "guest", "password": PASSWORD}).status_code == 403
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    response = client.post("/login", data={"username": "stew", "password": PASSWORD, "otp": "000000", "csrf": csrf})
    assert response.status_code == 401 and "Invalid user name, password or one-time password." in response.text


def test_check_bind_rules(tmp_path: Path) -> None:
    assert check_bind("127.0.0.1", tls_cert=None, tls_key=None) is False
    assert check_bind("::1", tls_cert=None, tls_key=None) is False
    with pytest.raises(ParameterError, match="plain HTTP"):
        check_bind("0.0.0.0", tls_cert=None, tls_key=None)
    with pytest.raises(ParameterError, match="both"):
        check_bind("127.0.0.1", tls_cert=tmp_path / "c.pem", tls_key=None)
    (tmp_path / "c.pem").write_text("x")
    (tmp_path / "k.pem").write_text("x")
    assert check_bind("0.0.0.0", tls_cert=tmp_path / "c.pem", tls_key=tmp_path / "k.pem") is True


# Regression tests for server errors found by the property-based API test (tests/test_portal_schema.py).
@pytest.mark.parametrize("route", ["/files/{id}", "/files/{id}/download", "/review/{id}", "/review/{id}/original"])
@pytest.mark.parametrize("file_id", [0, 2**31, 2**70])
def test_out_of_range_file_ids_are_malformed_not_server_errors(portal, route: str, file_id: int) -> None:
    response = portal["clients"]["steward"].get(route.format(id=file_id), follow_redirects=False)
    assert response.status_code == 422
    assert "text/html" in response.headers["content-type"] and "The 'file_id' field" in html.unescape(response.text)


@pytest.mark.parametrize("route", ["/requests/{id}/approve", "/requests/{id}/deny", "/releases/{id}/approve"])
def test_out_of_range_request_and_release_ids_are_malformed(portal, route: str) -> None:
    client = portal["clients"]["steward"]
    response = client.post(route.format(id=2**70), data={"csrf": csrf_of(client)}, follow_redirects=False)
    assert response.status_code == 422 and "_id' field" in html.unescape(response.text)


def test_nul_characters_in_forms_are_refused_with_the_field_named(portal) -> None:
    client = portal["clients"]["researcher"]
    before = len(portal["gov"].requests(portal["users"]["researcher"]))
    response = client.post(
        "/requests",
        data={"study": "study1\x00", "tier": "authorized", "csrf": csrf_of(client), "purpose": "Replication of the gesture analysis"},
        follow_redirects=False,
    )
    assert response.status_code == 422
    assert "The 'study' field must not contain NUL characters." in html.unescape(response.text)
    assert len(portal["gov"].requests(portal["users"]["researcher"])) == before
    anonymous = TestClient(portal["app"], base_url="http://127.0.0.1")
    csrf = re.search(r'name="csrf" value="([^"]+)"', anonymous.get("/login").text).group(1)
    response = anonymous.post("/login", data={"username": "res\x00", "password": PASSWORD, "csrf": csrf}, follow_redirects=False)
    assert response.status_code == 422 and "The 'username' field must not contain NUL characters." in html.unescape(response.text)


def test_non_ascii_csrf_tokens_are_refused_not_server_errors(portal) -> None:
    response = portal["clients"]["guest"].post("/logout", data={"csrf": "\u00e9t\u00e9"}, follow_redirects=False)
    assert response.status_code == 403 and "CSRF token is missing or wrong" in html.unescape(response.text)
    anonymous = TestClient(portal["app"], base_url="http://127.0.0.1")
    anonymous.get("/login")
    response = anonymous.post("/login", data={"username": "guest", "password": PASSWORD, "csrf": "\u00e9"}, follow_redirects=False)
    assert response.status_code == 403 and "login form's CSRF token" in html.unescape(response.text)
