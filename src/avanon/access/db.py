"""Catalogue tables (SQLAlchemy 2.0): users, sessions, releases, files, consent, requests, grants, audit.

SQLite is the embedded default; PostgreSQL is selected by URL
(``postgresql+psycopg://user:password@127.0.0.1/db``). Times are stored as timezone-aware UTC.
Participants appear only under their pseudonymous codes.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, sessionmaker
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A datetime column that always returns timezone-aware UTC values (SQLite keeps no zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"Naive datetime {value!r} given to the catalogue; use timezone-aware UTC times.")
        return value.astimezone(dt.timezone.utc)

    def process_result_value(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


class Base(DeclarativeBase):
    """Declarative base of the catalogue."""


file_participants = sa.Table(
    "file_participants",
    Base.metadata,
    sa.Column("file_id", sa.ForeignKey("released_files.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("participant", sa.ForeignKey("participants.code", ondelete="CASCADE"), primary_key=True),
)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    role: Mapped[str] = mapped_column(sa.String(16))
    password_hash: Mapped[str] = mapped_column(sa.String(256))
    totp_secret: Mapped[str | None] = mapped_column(sa.String(64))
    totp_last_step: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    active: Mapped[bool] = mapped_column(default=True)
    created: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class Session(Base):
    __tablename__ = "sessions"
    token_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    csrf: Mapped[str] = mapped_column(sa.String(64))
    created: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    ip: Mapped[str | None] = mapped_column(sa.String(64))


class LoginAttempt(Base):
    __tablename__ = "login_attempts"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), index=True)
    ip: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    time: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    success: Mapped[bool]


class Participant(Base):
    __tablename__ = "participants"
    code: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    study: Mapped[str] = mapped_column(sa.String(128), index=True)
    audio: Mapped[bool] = mapped_column(default=False)
    video: Mapped[bool] = mapped_column(default=False)
    excerpts: Mapped[bool] = mapped_column(default=False)
    derived: Mapped[bool] = mapped_column(default=False)
    public: Mapped[bool] = mapped_column(default=False)
    until: Mapped[dt.date | None] = mapped_column(sa.Date)
    recorded: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class Release(Base):
    __tablename__ = "releases"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(128))
    study: Mapped[str] = mapped_column(sa.String(128), index=True)
    root: Mapped[str] = mapped_column(sa.String(1024))
    manifest_sha256: Mapped[str] = mapped_column(sa.String(64))
    created: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(sa.String(64))
    approved_by: Mapped[str | None] = mapped_column(sa.String(64))
    approved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    files: Mapped[list[ReleasedFile]] = relationship(back_populates="release", cascade="all, delete-orphan")


class ReleasedFile(Base):
    __tablename__ = "released_files"
    id: Mapped[int] = mapped_column(primary_key=True)
    release_id: Mapped[int] = mapped_column(sa.ForeignKey("releases.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(sa.String(1024))
    original: Mapped[str] = mapped_column(sa.String(1024))
    kind: Mapped[str] = mapped_column(sa.String(16))
    requested_tier: Mapped[str] = mapped_column(sa.String(16))
    tier: Mapped[str] = mapped_column(sa.String(16))
    has_audio: Mapped[bool] = mapped_column(default=True)
    size: Mapped[int] = mapped_column(sa.BigInteger)
    input_sha256: Mapped[str] = mapped_column(sa.String(64))
    output_sha256: Mapped[str] = mapped_column(sa.String(64))
    derived_from: Mapped[int | None] = mapped_column(sa.ForeignKey("released_files.id", ondelete="SET NULL"))
    excluded: Mapped[bool] = mapped_column(default=False)
    excluded_reason: Mapped[str | None] = mapped_column(sa.String(512))
    release: Mapped[Release] = relationship(back_populates="files")
    participants: Mapped[list[Participant]] = relationship(secondary=file_participants)


class AccessRequest(Base):
    __tablename__ = "access_requests"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    study: Mapped[str] = mapped_column(sa.String(128))
    tier: Mapped[str] = mapped_column(sa.String(16))
    purpose: Mapped[str] = mapped_column(sa.String(2000))
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    created: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(sa.String(64))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class Grant(Base):
    __tablename__ = "grants"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    study: Mapped[str] = mapped_column(sa.String(128))
    tier: Mapped[str] = mapped_column(sa.String(16))
    purpose: Mapped[str] = mapped_column(sa.String(2000))
    granted_by: Mapped[str] = mapped_column(sa.String(64))
    created: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    request_id: Mapped[int | None] = mapped_column(sa.ForeignKey("access_requests.id", ondelete="SET NULL"))


class Flag(Base):
    __tablename__ = "flags"
    id: Mapped[int] = mapped_column(primary_key=True)
    created: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(sa.String(32))
    actor: Mapped[str] = mapped_column(sa.String(64))
    detail: Mapped[str] = mapped_column(sa.String(2000))
    resolved: Mapped[bool] = mapped_column(default=False)


class AuditEntry(Base):
    __tablename__ = "audit_entries"
    seq: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    time: Mapped[str] = mapped_column(sa.String(40))
    actor: Mapped[str] = mapped_column(sa.String(64))
    action: Mapped[str] = mapped_column(sa.String(32), index=True)
    target: Mapped[str] = mapped_column(sa.String(1024))
    outcome: Mapped[str] = mapped_column(sa.String(16))
    ip: Mapped[str] = mapped_column(sa.String(64))
    purpose: Mapped[str] = mapped_column(sa.String(2000))
    detail: Mapped[str] = mapped_column(sa.Text)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))


class AuditHead(Base):
    """One row: the sequence number and hash of the newest audit entry (detects a cut-off tail)."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    hash: Mapped[str] = mapped_column(sa.String(64))


def connect(db: str | Engine) -> Engine:
    """Return an engine for ``db`` (a SQLAlchemy URL or an engine) with the catalogue tables created.

    Parameters
    ----------
    db : str or Engine
        ``sqlite:///path/catalogue.sqlite`` (default kind) or ``postgresql+psycopg://...``.
    """
    if isinstance(db, Engine):
        engine = db
    else:
        kwargs: dict[str, object] = {}
        if db.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        engine = sa.create_engine(db, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    Base.metadata.create_all(engine)
    return engine


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def session_factory(engine: Engine) -> sessionmaker[sa.orm.Session]:
    """Return a session factory whose objects stay readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)
