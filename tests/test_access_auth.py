"""TOTP against RFC 6238 vectors, password login with MFA, replay refusal, lockout and sessions."""

from __future__ import annotations

import base64
import datetime as dt

import pytest

from access_support import CHEAP_HASHER, PASSWORD, Clock, clock, engine  # noqa: F401
from avanon.access.auth import (
    MAX_FAILURES,
    MAX_PER_ACCOUNT,
    MAX_PER_ADDRESS,
    Authenticator,
    SecretBox,
    hotp,
    matching_step,
    totp,
    totp_uri,
)
from avanon.access.db import User, connect, session_factory
from avanon.errors import AccessError, ParameterError

RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
TOTP_KEY = b"k" * 32


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(59, "94287082"), (1111111109, "07081804"), (1111111111, "14050471"), (1234567890, "89005924"), (2000000000, "69279037"), (20000000000, "65353130")],
)
def test_totp_rfc6238_sha1_vectors(seconds: int, expected: str) -> None:
    when = dt.datetime.fromtimestamp(seconds, dt.timezone.utc)
    assert totp(RFC_SECRET, when, digits=8) == expected


def test_hotp_rfc4226_vectors() -> None:
    assert [hotp(RFC_SECRET, i) for i in range(3)] == ["755224", "287082", "359152"]


def test_matching_step_allows_one_step_drift() -> None:
    now = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    step = int(now.timestamp()) // 30
    assert matching_step(RFC_SECRET, totp(RFC_SECRET, now - dt.timedelta(seconds=30)), now) == step - 1
    assert matching_step(RFC_SECRET, totp(RFC_SECRET, now - dt.timedelta(seconds=90)), now) is None
    assert matching_step(RFC_SECRET, "abc", now) is None
    assert "secret=" in totp_uri(RFC_SECRET, "ana")


@pytest.fixture()
def auth(engine, clock: Clock) -> Authenticator:  # noqa: F811
    return Authenticator(session_factory(connect(engine)), clock, CHEAP_HASHER, secret_key=TOTP_KEY)


def test_steward_needs_totp_and_codes_cannot_be_replayed(auth: Authenticator, clock: Clock) -> None:  # noqa: F811
    _, secret = auth.create_user("stew", "steward", PASSWORD)
    assert secret
    with pytest.raises(AccessError, match="Invalid"):
        auth.login("stew", PASSWORD, None)
    code = totp(secret, clock())
    token, info = auth.login("stew", PASSWORD, code)
    assert info.principal.role == "steward" and auth.session(token) == info
    with pytest.raises(AccessError, match="Invalid"):
        auth.login("stew", PASSWORD, code)  # same step again: replay
    clock.advance(seconds=30)
    auth.login("stew", PASSWORD, totp(secret, clock()))


def test_guest_without_mfa_and_role_rules(auth: Authenticator) -> None:
    _, secret = auth.create_user("visitor", "guest", PASSWORD, mfa=False)
    assert secret is None
    auth.login("visitor", PASSWORD, None)
    with pytest.raises(ParameterError, match="requires a one-time password"):
        auth.create_user("admin", "administrator", PASSWORD, mfa=False)
    with pytest.raises(ParameterError, match="'role' parameter must be one of"):
        auth.create_user("x", "superuser", PASSWORD)
    with pytest.raises(ParameterError, match="at least 10"):
        auth.create_user("y", "guest", "short")
    with pytest.raises(ParameterError, match="already exists"):
        auth.create_user("visitor", "guest", PASSWORD)


def test_same_message_for_unknown_user_and_wrong_password(auth: Authenticator) -> None:
    auth.create_user("res", "researcher", PASSWORD, mfa=False)
    with pytest.raises(AccessError) as unknown:
        auth.login("nobody", PASSWORD, None)
    with pytest.raises(AccessError) as wrong:
        auth.login("res", "wrong password!", None)
    assert str(unknown.value) == str(wrong.value)


def test_lockout_after_failures_then_expiry(auth: Authenticator, clock: Clock) -> None:  # noqa: F811
    auth.create_user("res", "researcher", PASSWORD, mfa=False)
    for _ in range(MAX_FAILURES):
        with pytest.raises(AccessError, match="Invalid"):
            auth.login("res", "wrong password!", None, ip="127.0.0.1")
    with pytest.raises(AccessError, match="too many failed logins"):
        auth.login("res", PASSWORD, None, ip="127.0.0.1")
    for _ in range(MAX_FAILURES):  # unknown names lock the same way: lockout reveals nothing
        with pytest.raises(AccessError):
            auth.login("ghost", "x" * 12, None)
    with pytest.raises(AccessError, match="too many failed logins"):
        auth.login("ghost", "x" * 12, None)
    clock.advance(minutes=16)
    auth.login("res", PASSWORD, None)


def test_sessions_expire_logout_and_disable(auth: Authenticator, clock: Clock) -> None:  # noqa: F811
    auth.create_user("res", "researcher", PASSWORD, mfa=False)
    token, info = auth.login("res", PASSWORD, None)
    auth.check_csrf(info, info.csrf)
    with pytest.raises(AccessError, match="CSRF"):
        auth.check_csrf(info, "forged")
    with pytest.raises(AccessError, match="CSRF"):
        auth.check_csrf(info, None)
    auth.logout(token)
    assert auth.session(token) is None
    token, _ = auth.login("res", PASSWORD, None)
    auth.set_active("res", False)
    assert auth.session(token) is None
    with pytest.raises(AccessError):
        auth.login("res", PASSWORD, None)
    auth.set_active("res", True)
    token, _ = auth.login("res", PASSWORD, None)
    clock.advance(hours=9)
    assert auth.session(token) is None
    assert auth.session(None) is None and auth.session("garbage") is None
    auth.set_password("res", "another long password")
    auth.login("res", "another long password", None)


def test_totp_secrets_are_encrypted_at_rest(auth: Authenticator, clock: Clock) -> None:  # noqa: F811
    """A copy of the catalogue does not hold second factors in the clear (issue 17)."""
    import sqlalchemy as sa

    _, secret = auth.create_user("stew", "steward", PASSWORD)
    assert secret
    with auth._sessions() as session:  # noqa: SLF001 - read the row as a thief of the database would
        stored = session.execute(sa.select(User.totp_secret).where(User.username == "stew")).scalar_one()
    assert stored and secret not in stored and len(stored) <= 64
    assert SecretBox(TOTP_KEY).open("stew", stored) == secret
    with pytest.raises(AccessError, match="cannot be decrypted"):
        SecretBox(b"x" * 32).open("stew", stored)
    with pytest.raises(AccessError, match="cannot be decrypted"):
        SecretBox(TOTP_KEY).open("other", stored)  # bound to the user name: rows cannot be swapped
    auth.login("stew", PASSWORD, totp(secret, clock()))


def test_plain_secret_of_an_older_version_is_encrypted_at_login(auth: Authenticator, clock: Clock) -> None:  # noqa: F811
    import sqlalchemy as sa

    _, secret = auth.create_user("stew", "steward", PASSWORD)
    with auth._sessions.begin() as session:  # noqa: SLF001
        session.execute(sa.update(User).where(User.username == "stew").values(totp_secret=secret))
    auth.login("stew", PASSWORD, totp(secret, clock()))
    with auth._sessions() as session:  # noqa: SLF001
        assert session.execute(sa.select(User.totp_secret).where(User.username == "stew")).scalar_one() != secret


def test_one_person_behind_a_shared_address_cannot_lock_out_everyone(auth: Authenticator, clock: Clock) -> None:  # noqa: F811
    """Failures lock a user name from one address; colleagues behind the same address still log in (issue 17)."""
    auth.create_user("res", "researcher", PASSWORD, mfa=False)
    auth.create_user("other", "researcher", PASSWORD, mfa=False)
    shared = "10.0.0.1"
    for name in [f"guess{i}" for i in range(14)]:  # 70 failures behind a NAT: more than the old per-address limit (30)
        for _ in range(MAX_FAILURES):
            with pytest.raises(AccessError):
                auth.login(name, "wrong password!", None, ip=shared)
    for _ in range(MAX_FAILURES):
        with pytest.raises(AccessError):
            auth.login("res", "wrong password!", None, ip=shared)
    with pytest.raises(AccessError, match="too many failed logins for this user name"):
        auth.login("res", PASSWORD, None, ip=shared)
    auth.login("other", PASSWORD, None, ip=shared)  # a colleague behind the same address
    auth.login("res", PASSWORD, None, ip="192.0.2.7")  # the same person from elsewhere
    assert MAX_PER_ADDRESS > 15 * MAX_FAILURES and MAX_PER_ACCOUNT > MAX_FAILURES


def test_address_and_account_ceilings(auth: Authenticator, clock: Clock) -> None:  # noqa: F811
    auth.create_user("res", "researcher", PASSWORD, mfa=False)
    for i in range(MAX_PER_ADDRESS):
        with pytest.raises(AccessError):
            auth.login(f"n{i}", "wrong password!", None, ip="10.0.0.2")
    with pytest.raises(AccessError, match="from this address"):
        auth.login("res", PASSWORD, None, ip="10.0.0.2")
    for i in range(MAX_PER_ACCOUNT):
        with pytest.raises(AccessError):
            auth.login("res", "wrong password!", None, ip=f"172.16.0.{i}")
    with pytest.raises(AccessError, match="for this user name"):
        auth.login("res", PASSWORD, None, ip="192.0.2.8")
