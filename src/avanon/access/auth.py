"""Multi-factor login: argon2 password hashes, time-based one-time passwords, lockout, sessions.

* Passwords are hashed with Argon2id (``argon2-cffi``).
* One-time passwords follow RFC 6238 (TOTP: HMAC-SHA1, 30 s steps, 6 digits), accepting one step of
  clock drift either way and refusing a code whose step was already used (no replay).
* Stewards and administrators must give a one-time password; other users must give one when they
  have enrolled.
* Failed logins lock a user name for :data:`LOCKOUT` after :data:`MAX_FAILURES` failures within
  :data:`LOCKOUT`, whether or not the account exists, and one address may try at most
  :data:`MAX_PER_ADDRESS` times per :data:`LOCKOUT`, so that nothing tells an attacker which
  accounts exist.
* Session tokens are random (256 bits); only their SHA-256 is stored, next to a CSRF token.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
import struct
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.orm import sessionmaker

from avanon.access.db import LoginAttempt, Session, User
from avanon.access.policy import MFA_REQUIRED, Principal, check_role
from avanon.errors import AccessError, ParameterError

TOTP_STEP = 30
TOTP_DIGITS = 6
MAX_FAILURES = 5
MAX_PER_ADDRESS = 30
LOCKOUT = dt.timedelta(minutes=15)
SESSION_LIFETIME = dt.timedelta(hours=8)
MIN_PASSWORD = 10
LOGIN_REFUSED = "Invalid user name, password or one-time password."


def totp_secret() -> str:
    """A new random TOTP secret (160 bits, base32 without padding)."""
    return base64.b32encode(secrets.token_bytes(20)).decode("ascii").rstrip("=")


def _secret_bytes(secret: str) -> bytes:
    text = secret.strip().replace(" ", "").upper()
    return base64.b32decode(text + "=" * (-len(text) % 8))


def hotp(secret: str, counter: int, *, digits: int = TOTP_DIGITS, digest: str = "sha1") -> str:
    """HOTP value (RFC 4226) for ``counter``; ``secret`` is base32."""
    mac = hmac.new(_secret_bytes(secret), struct.pack(">Q", counter), digest).digest()
    offset = mac[-1] & 0x0F
    code = (struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF) % 10**digits
    return str(code).zfill(digits)


def totp(secret: str, when: dt.datetime, *, step: int = TOTP_STEP, digits: int = TOTP_DIGITS, digest: str = "sha1") -> str:
    """TOTP value (RFC 6238) at time ``when``.

    Parameters
    ----------
    secret : str
        Base32 shared secret.
    when : datetime
        Time (timezone-aware).
    step : int > 0 [s]
        Time step.
    digits : int in [6, 10]
        Code length.
    """
    return hotp(secret, int(when.timestamp()) // step, digits=digits, digest=digest)


def totp_uri(secret: str, username: str, issuer: str = "avanon") -> str:
    """``otpauth://`` URI for authenticator apps (shown once, at enrolment)."""
    return f"otpauth://totp/{quote(issuer)}:{quote(username)}?secret={secret}&issuer={quote(issuer)}&digits={TOTP_DIGITS}&period={TOTP_STEP}"


def matching_step(secret: str, code: str, when: dt.datetime, *, drift: int = 1) -> int | None:
    """The time step whose code equals ``code`` within ``drift`` steps of ``when``, or None."""
    code = code.strip().replace(" ", "")
    if not code.isdigit() or len(code) != TOTP_DIGITS:
        return None
    now_step = int(when.timestamp()) // TOTP_STEP
    for candidate in range(now_step - drift, now_step + drift + 1):
        if hmac.compare_digest(hotp(secret, candidate), code):
            return candidate
    return None


@dataclass(frozen=True)
class SessionInfo:
    """A live session: its principal, CSRF token and expiry."""

    principal: Principal
    csrf: str
    expires: dt.datetime


class Authenticator:
    """Users, login and sessions over the catalogue database.

    Parameters
    ----------
    sessions : sessionmaker
        Catalogue session factory.
    clock : callable
        Returns the current UTC time.
    hasher : argon2.PasswordHasher, optional
        Password hasher; the default uses argon2-cffi's recommended parameters.
    """

    def __init__(self, sessions: sessionmaker[sa.orm.Session], clock: Callable[[], dt.datetime],
                 hasher: PasswordHasher | None = None) -> None:
        self._sessions = sessions
        self._clock = clock
        self._hasher = hasher or PasswordHasher()
        self._dummy_hash: str | None = None

    def create_user(self, username: str, role: str, password: str, *, mfa: bool | None = None) -> tuple[Principal, str | None]:
        """Create a user; returns the principal and the new TOTP secret (None when not enrolled).

        Parameters
        ----------
        username : str, 1-64 characters of letters, digits, ``._-``
            Login name.
        role : {'administrator', 'steward', 'researcher', 'guest'}
            Role.
        password : str, at least 10 characters
            Initial password.
        mfa : bool, optional
            Enrol a one-time password; always on for stewards and administrators, default on.
        """
        check_role(role)
        if not username or len(username) > 64 or not all(c.isalnum() or c in "._-" for c in username):
            raise ParameterError(f"The 'username' parameter must be 1-64 letters, digits, '.', '_' or '-'. Got {username!r} instead.")
        if len(password) < MIN_PASSWORD:
            raise ParameterError(f"The 'password' parameter must have at least {MIN_PASSWORD} characters. Got {len(password)}.")
        if role in MFA_REQUIRED and mfa is False:
            raise ParameterError(f"Role {role} requires a one-time password; 'mfa' cannot be False.")
        secret = totp_secret() if mfa is not False else None
        with self._sessions.begin() as session:
            if session.execute(sa.select(User).where(User.username == username)).scalar_one_or_none():
                raise ParameterError(f"A user named {username!r} already exists.")
            user = User(username=username, role=role, password_hash=self._hasher.hash(password), totp_secret=secret,
                        totp_last_step=0, active=True, created=self._clock())
            session.add(user)
            session.flush()
            principal = Principal(user.id, user.username, user.role)
        return principal, secret

    def set_password(self, username: str, password: str) -> None:
        """Replace a user's password."""
        if len(password) < MIN_PASSWORD:
            raise ParameterError(f"The 'password' parameter must have at least {MIN_PASSWORD} characters. Got {len(password)}.")
        with self._sessions.begin() as session:
            user = self._user(session, username)
            user.password_hash = self._hasher.hash(password)

    def set_active(self, username: str, active: bool) -> None:
        """Enable or disable an account (disabling ends its sessions)."""
        with self._sessions.begin() as session:
            user = self._user(session, username)
            user.active = active
            if not active:
                session.execute(sa.delete(Session).where(Session.user_id == user.id))

    @staticmethod
    def _user(session: sa.orm.Session, username: str) -> User:
        user = session.execute(sa.select(User).where(User.username == username)).scalar_one_or_none()
        if user is None:
            raise ParameterError(f"No user named {username!r}.")
        return user

    def users(self) -> list[Principal]:
        """Every user, sorted by name."""
        with self._sessions() as session:
            return [Principal(u.id, u.username, u.role) for u in session.execute(sa.select(User).order_by(User.username)).scalars()]

    def locked(self, username: str, ip: str | None) -> str | None:
        """Why logins for ``username`` from ``ip`` are refused right now, or None."""
        since = self._clock() - LOCKOUT
        with self._sessions() as session:
            failures = session.execute(sa.select(LoginAttempt.success).where(
                LoginAttempt.username == username, LoginAttempt.time > since).order_by(LoginAttempt.time.desc())).scalars().all()
            recent_failures = 0
            for success in failures:
                if success:
                    break
                recent_failures += 1
            if recent_failures >= MAX_FAILURES:
                return f"too many failed logins for this user name; try again in {int(LOCKOUT.total_seconds() // 60)} minutes"
            if ip:
                count = session.execute(sa.select(sa.func.count()).select_from(LoginAttempt).where(
                    LoginAttempt.ip == ip, LoginAttempt.time > since, LoginAttempt.success.is_(False))).scalar_one()
                if count >= MAX_PER_ADDRESS:
                    return "too many failed logins from this address; try again later"
        return None

    def login(self, username: str, password: str, otp: str | None, *, ip: str | None = None) -> tuple[str, SessionInfo]:
        """Check the credentials and open a session.

        Returns
        -------
        token : str
            Session token for the cookie (only its hash is stored).
        info : SessionInfo
            The session.

        Raises
        ------
        AccessError
            With one message for every wrong credential, or a lockout message.
        """
        lock = self.locked(username, ip)
        if lock:
            raise AccessError(f"Login refused: {lock}.")
        now = self._clock()
        with self._sessions.begin() as session:
            user = session.execute(sa.select(User).where(User.username == username)).scalar_one_or_none()
            ok = self._verify_password(user, password)
            step = None
            if ok and user is not None:
                needs_otp = user.role in MFA_REQUIRED or user.totp_secret is not None
                if needs_otp:
                    step = matching_step(user.totp_secret, otp or "", now) if user.totp_secret else None
                    ok = step is not None and step > user.totp_last_step
                ok = ok and user.active
            session.add(LoginAttempt(username=username, ip=ip, time=now, success=bool(ok)))
            if not ok or user is None:
                refused = True
            else:
                refused = False
                if step is not None:
                    user.totp_last_step = step
                if self._hasher.check_needs_rehash(user.password_hash):
                    user.password_hash = self._hasher.hash(password)
                token = secrets.token_urlsafe(32)
                info = SessionInfo(Principal(user.id, user.username, user.role), secrets.token_urlsafe(32), now + SESSION_LIFETIME)
                session.add(Session(token_hash=_token_hash(token), user_id=user.id, csrf=info.csrf, created=now,
                                    expires=info.expires, ip=ip))
        if refused:
            raise AccessError(LOGIN_REFUSED)
        return token, info

    def _verify_password(self, user: User | None, password: str) -> bool:
        if user is None and self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash(secrets.token_hex(16))
        # An unknown user costs one hash verification too, so timing does not reveal which names exist.
        stored = user.password_hash if user is not None else self._dummy_hash
        try:
            self._hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return user is not None

    def session(self, token: str | None) -> SessionInfo | None:
        """The live session for a cookie token, or None (expired, logged out, unknown, disabled user)."""
        if not token:
            return None
        now = self._clock()
        with self._sessions() as session:
            row = session.get(Session, _token_hash(token))
            if row is None or row.expires <= now:
                return None
            user = session.get(User, row.user_id)
            if user is None or not user.active:
                return None
            return SessionInfo(Principal(user.id, user.username, user.role), row.csrf, row.expires)

    def logout(self, token: str) -> None:
        """End a session."""
        with self._sessions.begin() as session:
            session.execute(sa.delete(Session).where(Session.token_hash == _token_hash(token)))

    def check_csrf(self, info: SessionInfo, submitted: str | None) -> None:
        """Raise :class:`AccessError` unless ``submitted`` equals the session's CSRF token."""
        # Compared as bytes: hmac.compare_digest refuses str with non-ASCII characters (a forged token may have them).
        if not submitted or not hmac.compare_digest(info.csrf.encode("utf-8"), submitted.encode("utf-8", "surrogatepass")):
            raise AccessError("The form's CSRF token is missing or wrong; reload the page and try again.")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()
