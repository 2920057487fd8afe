"""Multi-factor login: argon2 password hashes, time-based one-time passwords, lockout, sessions.

* Passwords are hashed with Argon2id (``argon2-cffi``).
* One-time passwords follow RFC 6238 (TOTP: HMAC-SHA1, 30 s steps, 6 digits; computed by ``pyotp``),
  accepting one step of clock drift either way and refusing a code whose step was already used (no
  replay). TOTP secrets are stored encrypted (AES-256-GCM, bound to the user name) with a key kept
  outside the database (:class:`SecretBox`), so a copy of the catalogue does not give away second
  factors.
* Stewards and administrators must give a one-time password; other users must give one when they
  have enrolled.
* Failed logins lock a user name *from one address* after :data:`MAX_FAILURES` failures within
  :data:`LOCKOUT`, whether or not the account exists, so nothing tells an attacker which accounts
  exist; one address may fail at most :data:`MAX_PER_ADDRESS` times and one user name at most
  :data:`MAX_PER_ACCOUNT` times (from all addresses) per :data:`LOCKOUT`. Someone behind a shared
  address (a campus NAT) who guesses at a colleague's name locks only that name from that address,
  not every user behind it, and cannot lock anyone out from elsewhere with a few guesses.
* Session tokens are random (256 bits); only their SHA-256 is stored, next to a CSRF token.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import pyotp
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.orm import sessionmaker

from avanon.access.db import LoginAttempt, Session, User
from avanon.access.policy import MFA_REQUIRED, Principal, check_role
from avanon.errors import AccessError, ParameterError

TOTP_STEP = 30
TOTP_DIGITS = 6
MAX_FAILURES = 5  # per user name and address
MAX_PER_ADDRESS = 100  # per address, all user names
MAX_PER_ACCOUNT = 50  # per user name, all addresses
LOCKOUT = dt.timedelta(minutes=15)
SESSION_LIFETIME = dt.timedelta(hours=8)
MIN_PASSWORD = 10
LOGIN_REFUSED = "Invalid user name, password or one-time password."


def totp_secret() -> str:
    """A new random TOTP secret (160 bits, base32 without padding)."""
    return pyotp.random_base32(32)


def hotp(secret: str, counter: int, *, digits: int = TOTP_DIGITS, digest: str = "sha1") -> str:
    """HOTP value (RFC 4226) for ``counter``; ``secret`` is base32."""
    return pyotp.HOTP(_normal(secret), digits=digits, digest=getattr(hashlib, digest)).at(counter)


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
    return pyotp.TOTP(_normal(secret), digits=digits, digest=getattr(hashlib, digest), interval=step).at(when)


def totp_uri(secret: str, username: str, issuer: str = "avanon") -> str:
    """``otpauth://`` URI for authenticator apps (shown once, at enrolment)."""
    return pyotp.TOTP(_normal(secret), digits=TOTP_DIGITS, interval=TOTP_STEP).provisioning_uri(name=username, issuer_name=issuer)


def matching_step(secret: str, code: str, when: dt.datetime, *, drift: int = 1) -> int | None:
    """The time step whose code equals ``code`` within ``drift`` steps of ``when``, or None."""
    code = code.strip().replace(" ", "")
    if not code.isdigit() or len(code) != TOTP_DIGITS:
        return None
    generator = pyotp.TOTP(_normal(secret), digits=TOTP_DIGITS, interval=TOTP_STEP)
    now_step = generator.timecode(when)
    for candidate in range(now_step - drift, now_step + drift + 1):
        if hmac.compare_digest(generator.generate_otp(candidate), code):
            return candidate
    return None


def _normal(secret: str) -> str:
    text = secret.strip().replace(" ", "").upper()
    return text + "=" * (-len(text) % 8)


class SecretBox:
    """Encrypts TOTP secrets for the catalogue: AES-256-GCM, bound to the user name.

    The stored form is 64 URL-safe base64 characters (12-byte nonce, the 20-byte secret, 16-byte
    tag). A secret stored in the clear by an older version (32 base32 characters) is still read,
    and encrypted at the user's next login.

    Parameters
    ----------
    key : bytes, 32 bytes
        Kept outside the database (:class:`avanon.access.service.Governance` derives it from the
        audit key).
    """

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ParameterError(f"The TOTP secret key must be 32 bytes. Got {len(key)} bytes.")
        self._aead = AESGCM(key)

    @staticmethod
    def _aad(username: str) -> bytes:
        return b"avanon-totp\x00" + username.encode("utf-8")

    def seal(self, username: str, secret: str) -> str:
        """The stored form of a base32 ``secret``."""
        nonce = secrets.token_bytes(12)
        raw = base64.b32decode(_normal(secret))
        return base64.urlsafe_b64encode(nonce + self._aead.encrypt(nonce, raw, self._aad(username))).decode("ascii")

    def open(self, username: str, stored: str) -> str:
        """The base32 secret from its stored form.

        Raises
        ------
        AccessError
            The stored value was made with another key, for another user, or was altered.
        """
        if is_plain_secret(stored):
            return stored
        try:
            data = base64.urlsafe_b64decode(stored.encode("ascii"))
            raw = self._aead.decrypt(data[:12], data[12:], self._aad(username))
        except (binascii.Error, ValueError, InvalidTag):
            raise AccessError(f"The one-time password secret of user {username!r} cannot be decrypted (other key, or altered); enrol the user again.") from None
        return base64.b32encode(raw).decode("ascii").rstrip("=")


def is_plain_secret(stored: str) -> bool:
    """Whether a stored TOTP secret is base32 in the clear (written by an older version)."""
    return len(stored) == 32 and all(c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" for c in stored)


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
    secret_key : bytes, 32 bytes
        Key that encrypts TOTP secrets in the catalogue (:class:`SecretBox`), kept outside it.
    """

    def __init__(
        self, sessions: sessionmaker[sa.orm.Session], clock: Callable[[], dt.datetime], hasher: PasswordHasher | None = None, *, secret_key: bytes
    ) -> None:
        self._box = SecretBox(secret_key)
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
            stored = self._box.seal(username, secret) if secret else None
            user = User(
                username=username,
                role=role,
                password_hash=self._hasher.hash(password),
                totp_secret=stored,
                totp_last_step=0,
                active=True,
                created=self._clock(),
            )
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
        """Why logins for ``username`` from ``ip`` are refused right now, or None (see the module docstring)."""
        since = self._clock() - LOCKOUT
        minutes = int(LOCKOUT.total_seconds() // 60)
        recent = sa.and_(LoginAttempt.time > since, LoginAttempt.success.is_(False))
        with self._sessions() as session:
            pair = (
                session.execute(
                    sa.select(LoginAttempt.success)
                    .where(LoginAttempt.username == username, LoginAttempt.ip.is_(None) if ip is None else LoginAttempt.ip == ip, LoginAttempt.time > since)
                    .order_by(LoginAttempt.time.desc())
                )
                .scalars()
                .all()
            )
            recent_failures = 0
            for success in pair:
                if success:
                    break
                recent_failures += 1
            if recent_failures >= MAX_FAILURES:
                return f"too many failed logins for this user name; try again in {minutes} minutes"
            account = session.execute(sa.select(sa.func.count()).select_from(LoginAttempt).where(LoginAttempt.username == username, recent)).scalar_one()
            if account >= MAX_PER_ACCOUNT:
                return f"too many failed logins for this user name; try again in {minutes} minutes"
            if ip:
                count = session.execute(sa.select(sa.func.count()).select_from(LoginAttempt).where(LoginAttempt.ip == ip, recent)).scalar_one()
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
                    plain = self._box.open(user.username, user.totp_secret) if user.totp_secret else None
                    step = matching_step(plain, otp or "", now) if plain else None
                    ok = step is not None and step > user.totp_last_step
                    if ok and plain and is_plain_secret(user.totp_secret or ""):
                        user.totp_secret = self._box.seal(user.username, plain)  # encrypted from now on
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
                session.add(Session(token_hash=_token_hash(token), user_id=user.id, csrf=info.csrf, created=now, expires=info.expires, ip=ip))
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
