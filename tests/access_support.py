"""Fixtures shared by the vault, access and portal tests: catalogue engines (SQLite, and PostgreSQL when
AVANON_TEST_POSTGRES_URL is set), a fixed clock, a cheap password hasher, and a small anonymized run."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from avanon.access.auth import totp
from avanon.access.policy import Consent
from avanon.access.service import Governance

POSTGRES_URL = os.environ.get("AVANON_TEST_POSTGRES_URL", "")
BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORD = "correct horse battery"
AUDIT_KEY = bytes(range(32))


class Clock:
    """A settable UTC clock."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@contextlib.contextmanager
def catalogue_engine(backend: str, folder: Path) -> Iterator[sa.Engine]:
    """An empty catalogue database: SQLite in ``folder``, or a private schema in the test PostgreSQL."""
    if backend == "sqlite":
        eng = sa.create_engine(f"sqlite:///{folder / 'catalogue.sqlite'}", connect_args={"check_same_thread": False})
        try:
            yield eng
        finally:
            eng.dispose()
        return
    schema = f"t_{secrets.token_hex(6)}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    eng = sa.create_engine(POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield eng
    finally:
        eng.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """A fresh, empty catalogue database: SQLite, or a private schema in the test PostgreSQL."""
    with catalogue_engine(request.param, tmp_path) as eng:
        yield eng


@pytest.fixture()
def clock() -> Clock:
    return Clock(dt.datetime(2025, 3, 3, 10, 0, tzinfo=dt.timezone.utc))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_run(root: Path, originals: dict[str, bytes]) -> Path:
    """An anonymization run: OUT with outputs and avanon_manifest.json covering every export-guard case.

    Outputs: ``p01/session.mp4`` (ok), ``p01/session_pose.csv`` (ok, derived), ``p02/talk.wav`` (ok),
    ``p02/failed.mp4`` (status failed), ``p02/copied.mp4`` (ok status but identical to its original),
    ``p02/qa.mp4`` (QA found residual faces), ``p03/unconsented.mp4`` (ok, nobody's consent on record); an extra file ``p01/stray.mp4`` is not in the manifest.
    """
    out = root / "OUT"
    files = {
        "p01/session.mp4": (b"anon video " * 5000, "p01/session.mp4", {}),
        "p01/session_pose.csv": (b"frame,x,y\n1,0.5,0.5\n", "p01/session.mp4", {}),
        "p02/talk.wav": (b"anon audio " * 3000, "p02/talk.wav", {}),
        "p02/copied.mp4": (originals["p02/copied.mp4"], "p02/copied.mp4", {}),
        "p02/qa.mp4": (b"leaky video " * 100, "p02/qa.mp4", {"qa": {"passed": False, "residual_faces": 3}}),
        "p03/unconsented.mp4": (b"anon video p03 " * 100, "p03/unconsented.mp4", {}),
    }
    entries = []
    for rel, (data, source, extra) in files.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(data)
        entries.append({"input": source, "output": rel, "status": "ok", "input_sha256": sha(originals[source]), "output_sha256": sha(data), **extra})
    entries.append(
        {
            "input": "p02/failed.mp4",
            "output": "p02/failed.mp4",
            "status": "failed",
            "reason": "decode error",
            "input_sha256": sha(originals["p02/failed.mp4"]),
            "output_sha256": None,
        }
    )
    (out / "p01" / "stray.mp4").write_bytes(originals["p01/session.mp4"])
    (out / "avanon_manifest.json").write_text(json.dumps({"entries": entries}), encoding="utf-8")
    return out


ORIGINALS = {
    "p01/session.mp4": b"ORIGINAL VIDEO p01 " * 4000,
    "p02/talk.wav": b"ORIGINAL AUDIO p02 " * 2000,
    "p02/copied.mp4": b"ORIGINAL COPIED " * 100,
    "p02/failed.mp4": b"ORIGINAL FAILED " * 100,
    "p02/qa.mp4": b"ORIGINAL QA " * 100,
    "p03/unconsented.mp4": b"ORIGINAL P03 " * 100,
}


def code(secret: str, gov: Governance) -> str:
    """The current one-time password for ``secret`` on the governance clock."""
    return totp(secret, gov.clock())


USERS = [("ada", "administrator"), ("stew", "steward"), ("res", "researcher"), ("guest", "guest")]


def build_world(
    engine: sa.Engine | str, tmp_path: Path, *, clock: Clock | None = None, mfa_for_all: bool = False
) -> tuple[Governance, dict[str, object], dict[str, str | None], int, Path]:
    """A vault with the study's originals, a run, consenting participants P01/P02, four users, one draft release.

    Returns the governance object, principals by role, TOTP secrets by role, the release id and the run root.
    """
    from avanon.vault import Vault

    study_dir = tmp_path / "study1"
    for rel, data in ORIGINALS.items():
        (study_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (study_dir / rel).write_bytes(data)
    vault = Vault.init(tmp_path / "vault", passphrase="vault pass", chunk_size=4096, scrypt_n=2**10)
    vault.add_study(study_dir)
    gov = Governance(engine, audit_key=AUDIT_KEY, vault=vault, clock=clock, hasher=CHEAP_HASHER)
    gov.set_consent("stew", "P01", "study1", consent=Consent(audio=True, video=True, excerpts=True, derived=True, public=False))
    gov.set_consent("stew", "P02", "study1", consent=Consent(audio=True, derived=True, public=True))
    principals, secrets_by_role = {}, {}
    for name, role in USERS:
        secrets_by_role[role] = gov.create_user("system", name, role, PASSWORD, mfa=True if mfa_for_all else role in ("administrator", "steward"))
        principals[role] = next(u for u in gov.auth.users() if u.username == name)
    run = make_run(tmp_path, ORIGINALS)
    release = gov.register_release(
        "stew",
        run,
        study="study1",
        name="wave1",
        tiers={"video": "authorized", "audio": "public", "derived": "public"},
        participants={"p01/session.mp4": ["P01"], "p02/talk.wav": ["P02"]},
    )
    return gov, principals, secrets_by_role, release, run
