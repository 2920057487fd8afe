"""The vault, access and audit commands end to end, through the real command-line entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from access_support import ORIGINALS, make_run
from avanon.access.db import AuditEntry, AuditHead
from avanon.access.service import Governance, Settings
from avanon.cli import main


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AVANON_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AVANON_VAULT_PASSPHRASE", "a long vault passphrase")
    monkeypatch.setenv("AVANON_NEW_PASSWORD", "correct horse battery")
    monkeypatch.delenv("AVANON_DB", raising=False)
    monkeypatch.delenv("AVANON_VAULT", raising=False)
    monkeypatch.delenv("AVANON_AUDIT_KEY_FILE", raising=False)
    monkeypatch.delenv("AVANON_VAULT_KEY_FILE", raising=False)
    assert main(["access", "init"]) == 0
    return tmp_path / "home"


def test_vault_commands_round_trip(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    study = tmp_path / "study1"
    for rel, data in ORIGINALS.items():
        (study / rel).parent.mkdir(parents=True, exist_ok=True)
        (study / rel).write_bytes(data)
    assert main(["vault", "init", "--chunk-size", "4096"]) == 0
    assert main(["vault", "add", str(study), "--retention-until", "2020-01-01"]) == 0
    assert main(["vault", "list"]) == 0
    assert "study1/p02/talk.wav" in capsys.readouterr().out
    out = tmp_path / "talk.wav"
    assert main(["vault", "get", "study1/p02/talk.wav", str(out), "--purpose", "check a transcript"]) == 0
    assert out.read_bytes() == ORIGINALS["p02/talk.wav"]
    assert main(["vault", "verify"]) == 0
    elsewhere = tmp_path / "no-home"
    monkeypatch.setenv("AVANON_HOME", str(elsewhere))  # a vault read with nowhere to record it is refused (issue 17)
    monkeypatch.setenv("AVANON_VAULT", str(home / "vault"))
    capsys.readouterr()
    assert main(["vault", "get", "study1/p02/talk.wav", str(tmp_path / "x.wav"), "--purpose", "no record"]) == 2
    assert "reading an original must be recorded" in capsys.readouterr().err and not (tmp_path / "x.wav").exists()
    monkeypatch.setenv("AVANON_HOME", str(home))
    monkeypatch.delenv("AVANON_VAULT")
    key = tmp_path / "new.key"
    assert main(["vault", "rotate-key", "--new-key-file", str(key)]) == 2  # key file must exist first
    from avanon.vault.crypto import MasterKey

    MasterKey.write_key_file(key)
    assert main(["vault", "rotate-key", "--new-key-file", str(key)]) == 0
    assert main(["vault", "verify"]) == 2  # the passphrase no longer opens it
    assert main(["vault", "verify", "--key-file", str(key)]) == 0
    assert main(["vault", "backup", str(tmp_path / "b.tar")]) == 0
    assert main(["vault", "restore", str(tmp_path / "b.tar"), str(tmp_path / "restored")]) == 0
    assert main(["vault", "verify", "--vault", str(tmp_path / "restored"), "--key-file", str(key)]) == 0
    assert main(["vault", "purge", "--key-file", str(key)]) == 0
    assert "certificate is audit entry" in capsys.readouterr().out
    assert main(["audit", "verify"]) == 0
    csv_path = tmp_path / "audit.csv"
    assert main(["audit", "export", "-o", str(csv_path)]) == 0
    text = csv_path.read_text()
    for action in ("vault.add", "read", "vault.rotate-key", "dispose"):
        assert f",{action}," in text


def test_access_commands_and_tamper_detection(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = make_run(tmp_path, ORIGINALS)
    assert main(["access", "user-add", "stew", "--role", "steward"]) == 0
    assert "One-time password secret" in capsys.readouterr().out
    assert main(["access", "user-add", "guest1", "--role", "guest", "--no-mfa"]) == 0
    assert main(["access", "consent", "P02", "--study", "study1", "--audio", "--public"]) == 0
    participants = tmp_path / "participants.json"
    participants.write_text(json.dumps({"p02/talk.wav": ["P02"]}))
    assert main(["access", "release-add", str(run), "--study", "study1", "--tier", "audio=public", "--participants", str(participants)]) == 0
    assert main(["access", "release-approve", "1", "--as", "guest1"]) == 2
    assert main(["access", "release-approve", "1", "--as", "nobody"]) == 2
    assert main(["access", "release-approve", "1", "--as", "stew"]) == 0
    assert main(["access", "export", str(run), "p02/talk.wav", "--to", str(tmp_path / "share")]) == 0
    assert main(["access", "export", str(run), "p01/stray.mp4", "--to", str(tmp_path / "share2")]) == 2
    assert "not an anonymized output" in capsys.readouterr().err
    report = tmp_path / "consent.csv"
    assert main(["access", "consent-report", "study1", "-o", str(report)]) == 0
    assert "P02" in report.read_text()
    assert main(["audit", "verify"]) == 0
    refusals = Governance.from_settings(Settings.from_env()).audit.entries(action="refusal")
    assert [(e.actor, e.outcome) for e in refusals if e.target == "release 1"] == [("guest1", "refused"), ("nobody", "refused")]
    engine = sa.create_engine(f"sqlite:///{home / 'catalogue.sqlite'}")
    with engine.begin() as conn:
        conn.execute(sa.update(AuditEntry).where(AuditEntry.seq == 2).values(target="nothing to see"))
    engine.dispose()
    capsys.readouterr()
    assert main(["audit", "verify"]) == 1
    assert "entry 2 was edited" in capsys.readouterr().out


def test_every_command_has_help() -> None:
    from avanon.cli import _register_all
    from avanon.cli.access import access_app, audit_app, serve
    from avanon.cli.vault import vault_app

    _register_all()
    for group in (vault_app, access_app, audit_app):
        for command in group.registered_commands:
            assert command.callback.__doc__, command.name
    assert serve.__doc__


def test_audit_verify_catches_wholesale_deletion(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Deleting every row of the trail (entries and head) fails verification (issue 17)."""
    assert main(["access", "user-add", "guest1", "--role", "guest", "--no-mfa"]) == 0
    assert main(["audit", "verify"]) == 0
    engine = sa.create_engine(f"sqlite:///{home / 'catalogue.sqlite'}")
    with engine.begin() as conn:
        conn.execute(sa.delete(AuditEntry))
        conn.execute(sa.delete(AuditHead))
    engine.dispose()
    capsys.readouterr()
    assert main(["audit", "verify"]) == 1
    assert "entries 1..1 at the end of the trail are missing (deleted)" in capsys.readouterr().out


def test_audit_checkpoints_catch_a_cut_tail_with_the_head_put_back(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`access init` makes the checkpoint key; `audit checkpoint` signs the trail outside the database (issue 17)."""
    import shutil
    import stat

    assert stat.S_IMODE((home / "audit-checkpoint.key").stat().st_mode) == 0o600 and (home / "audit-checkpoint.pub").exists()
    assert main(["access", "user-add", "guest1", "--role", "guest", "--no-mfa"]) == 0
    shutil.copy(home / "audit.head", home.parent / "head-at-1")
    assert main(["access", "user-add", "guest2", "--role", "guest", "--no-mfa"]) == 0
    assert main(["audit", "checkpoint"]) == 0
    assert "Checkpoint 1 of" in capsys.readouterr().out
    assert main(["audit", "verify"]) == 0
    assert "OK: the audit trail verifies. Signed checkpoints: 1." in capsys.readouterr().out
    engine = sa.create_engine(f"sqlite:///{home / 'catalogue.sqlite'}")
    with engine.begin() as conn:
        kept = conn.execute(sa.select(AuditEntry.hash).where(AuditEntry.seq == 1)).scalar_one()
        conn.execute(sa.delete(AuditEntry).where(AuditEntry.seq > 1))
        conn.execute(sa.update(AuditHead).values(seq=1, hash=kept))
    engine.dispose()
    shutil.copy(home.parent / "head-at-1", home / "audit.head")
    assert main(["audit", "verify"]) == 1
    assert "entries 2..2 at the end of the trail are missing (deleted); checkpoint line 1 of" in capsys.readouterr().out
    assert main(["audit", "checkpoint"]) == 2  # a trail that does not verify gets no checkpoint
    assert "does not verify" in capsys.readouterr().err


def test_home_without_checkpoint_key_is_refused_until_init(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (home / "audit-checkpoint.key").unlink()
    assert main(["audit", "verify"]) == 2
    assert "run `avanon access init`" in capsys.readouterr().err
    assert main(["access", "init"]) == 0
    assert main(["audit", "verify"]) == 0


def test_audit_consent_lists_files_and_exits_1_on_a_mismatch(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`avanon access audit-consent` (issue 19): a table, JSON and CSV; exit 1 when a file's kind is not covered."""
    import csv

    run = make_run(tmp_path, ORIGINALS)
    assert main(["access", "consent", "P01", "--study", "study1", "--audio", "--video", "--derived"]) == 0
    assert main(["access", "consent", "P02", "--study", "study1", "--audio", "--public"]) == 0
    assert main(["access", "consent", "P03", "--study", "study1", "--audio", "--video"]) == 0
    mapping = tmp_path / "participants.json"
    mapping.write_text(json.dumps({"p01/session.mp4": ["P01", "P02"], "p02/talk.wav": ["P02"], "p03/unconsented.mp4": ["P03"]}))
    assert main(["access", "release-add", str(run), "--study", "study1", "--participants", str(mapping)]) == 0
    capsys.readouterr()
    json_out, csv_out = tmp_path / "audit.json", tmp_path / "audit.csv"
    assert main(["access", "audit-consent", "1", "--json", str(json_out), "--csv", str(csv_out)]) == 1
    out = capsys.readouterr().out
    assert "Consent audit of release 1" in out and "mismatch" in out and "1 mismatches" in out
    data = json.loads(json_out.read_text())
    assert data["mismatches"] == 1
    assert {f["path"]: f["status"] for f in data["files"]} == {
        "p01/session.mp4": "mismatch",
        "p01/session_pose.csv": "ok",
        "p02/talk.wav": "ok",
        "p03/unconsented.mp4": "ok",
    }
    rows = list(csv.DictReader(csv_out.open(encoding="utf-8")))
    assert [r["problems"] for r in rows if r["status"] == "mismatch"] == ["P02 did not consent to sharing video with sound"]
    assert main(["access", "audit-consent", "1", "--json", str(json_out)]) == 2  # never overwrites
    mapping.write_text(json.dumps({"p01/session.mp4": ["P01"], "p02/talk.wav": ["P02"], "p03/unconsented.mp4": ["P03"]}))
    assert main(["access", "release-add", str(run), "--study", "study1", "--participants", str(mapping)]) == 0
    capsys.readouterr()
    assert main(["access", "audit-consent", "2"]) == 0
    assert "OK: every file of release 2 matches its participants' consent." in capsys.readouterr().out
    assert main(["access", "audit-consent", "7"]) == 2
