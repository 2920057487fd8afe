"""Property-based API test of the portal: schemathesis generates requests from the app's OpenAPI document
for every operation and every role, and the portal must answer each without a server error and with a
documented status code and content type.

Each generated form gets the role's real CSRF token (and the login form its double-submit cookie), so
the cases reach the library calls behind the CSRF check instead of all stopping at a 403. Generation is
derandomized and bounded (a few examples per operation and role) so the test is deterministic and fast.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from schemathesis.checks import content_type_conformance, not_a_server_error, status_code_conformance

from access_support import BACKENDS, PASSWORD, Clock, build_world, catalogue_engine
from avanon.access.auth import totp
from avanon.access.service import Governance
from avanon.portal import create_app
from avanon.portal.app import LOGIN_CSRF_COOKIE, SESSION_COOKIE

USERNAMES = {"administrator": "ada", "steward": "stew", "researcher": "res", "guest": "guest"}
ROLES = [*USERNAMES, "anonymous"]
LOGIN_CSRF = "schema-test-login-csrf-token"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance]


class Sessions:
    """A live session per role, reopened (on a clock moved past the last one-time-password step) after a
    generated case logged it out."""

    def __init__(self, gov: Governance, clock: Clock, secrets: dict[str, str | None]) -> None:
        self.gov, self.clock, self.secrets = gov, clock, secrets
        self.tokens: dict[str, str] = {}

    def cookie_and_csrf(self, role: str) -> tuple[dict[str, str], str]:
        """Cookies and the CSRF token a browser of ``role`` would send."""
        if role == "anonymous":
            return {LOGIN_CSRF_COOKIE: LOGIN_CSRF}, LOGIN_CSRF
        token = self.tokens.get(role)
        info = self.gov.auth.session(token)
        if info is None:
            self.clock.advance(seconds=31)
            secret = self.secrets[role]
            otp = totp(secret, self.clock()) if secret else None
            token, info = self.gov.login(USERNAMES[role], PASSWORD, otp, ip="127.0.0.1")
            self.tokens[role] = token
        return {SESSION_COOKIE: token}, info.csrf


@pytest.fixture(scope="module", params=BACKENDS)
def catalogue(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    """The catalogue database: SQLite, and a private schema of the test PostgreSQL when one is configured
    (its 32-bit ids and NUL-free text are stricter than SQLite's)."""
    with catalogue_engine(request.param, tmp_path_factory.mktemp("schema_db")) as eng:
        yield eng


@pytest.fixture(scope="module")
def world(catalogue: sa.Engine, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    tmp: Path = tmp_path_factory.mktemp("portal_schema")
    clock = Clock(dt.datetime.now(dt.timezone.utc))
    gov, users, secrets, release, _run = build_world(catalogue, tmp, clock=clock)
    gov.approve_release(users["steward"], release)
    request_id = gov.request_access(users["researcher"], "study1", "authorized", "Gesture coding for a thesis")
    gov.decide_request(users["steward"], request_id, approve=True, days=30)
    for _ in range(3):  # pending requests for the approve/deny operations to act on
        gov.request_access(users["researcher"], "study1", "learning", "Teaching a methods class")
    return {"gov": gov, "app": create_app(gov), "sessions": Sessions(gov, clock, secrets)}


@pytest.fixture(scope="module")
def portal_schema(world: dict[str, object]) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", world["app"])


schema = schemathesis.pytest.from_fixture("portal_schema")


@schema.parametrize()
@settings(max_examples=12, derandomize=True, deadline=None, database=None, print_blob=True, suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_documented_answers(case: schemathesis.Case, world: dict[str, object]) -> None:
    generated = dict(case.body) if isinstance(case.body, dict) else None
    for role in ROLES:
        cookies, csrf = world["sessions"].cookie_and_csrf(role)
        # The generated form as it is (its CSRF field is whatever was generated), then with the role's real token.
        bodies = [generated, {**generated, "csrf": csrf}] if generated is not None else [case.body]
        for body in bodies:
            if generated is not None:
                case.body = dict(body)
            case.call_and_validate(cookies=cookies, checks=CHECKS, allow_redirects=False)


def test_schema_lists_every_route(portal_schema: schemathesis.BaseSchema, world: dict[str, object]) -> None:
    documented = {(op.ok().method.upper(), op.ok().path) for op in portal_schema.get_all_operations()}
    routed = {
        (method, route.path)
        for route in world["app"].routes
        for method in getattr(route, "methods", None) or ()
        if method != "HEAD" and route.path not in ("/openapi.json",)
    }
    assert documented == routed
