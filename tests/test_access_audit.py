"""The audit trail: chained keyed hashes, and each kind of tampering found and named."""

from __future__ import annotations

import csv
import io
import threading

import pytest
import sqlalchemy as sa

from access_support import AUDIT_KEY, Clock, clock, engine  # noqa: F401
from avanon.access.audit import AuditTrail, read_key_file, write_key_file
from avanon.access.db import AuditEntry, AuditHead, connect
from avanon.errors import ParameterError


@pytest.fixture()
def trail(engine, clock: Clock) -> AuditTrail:  # noqa: F811
    trail = AuditTrail(connect(engine), AUDIT_KEY, clock=clock)
    for i in range(6):
        trail.record(f"user{i % 2}", "download", f"study/p{i}.mp4", ip="127.0.0.1", purpose="thesis chapter 3", detail={"i": i})
        clock.advance(seconds=1)
    return trail


def _execute(trail: AuditTrail, statement: sa.Executable) -> None:
    with trail._engine.begin() as conn:  # noqa: SLF001 - the test plays the attacker with database access
        conn.execute(statement)


def test_clean_trail_verifies_and_reads_back(trail: AuditTrail) -> None:
    assert trail.verify() == []
    entries = trail.entries()
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5, 6]
    assert entries[1].prev_hash == entries[0].hash
    assert entries[0].purpose == "thesis chapter 3" and entries[0].ip == "127.0.0.1"
    assert [e.seq for e in trail.entries(actor="user1")] == [2, 4, 6]
    assert trail.entries(newest_first=True, limit=1)[0].seq == 6


def test_edited_entry_is_named(trail: AuditTrail) -> None:
    _execute(trail, sa.update(AuditEntry).where(AuditEntry.seq == 3).values(actor="someone else"))
    findings = trail.verify()
    assert [f.seq for f in findings] == [3]
    assert "entry 3 was edited" in findings[0].problem


def test_deleted_entry_is_named(trail: AuditTrail) -> None:
    _execute(trail, sa.delete(AuditEntry).where(AuditEntry.seq == 4))
    problems = " | ".join(f.problem for f in trail.verify())
    assert "entries 4..4 are missing" in problems


def test_deleted_tail_is_named(trail: AuditTrail) -> None:
    _execute(trail, sa.delete(AuditEntry).where(AuditEntry.seq >= 5))
    findings = trail.verify()
    assert len(findings) == 1 and "entries 5..6 at the end of the trail are missing" in findings[0].problem


def test_reordered_entries_are_named(trail: AuditTrail) -> None:
    rows = {e.seq: e for e in trail.entries()}
    # Swap the contents of entries 2 and 3 while keeping their sequence numbers.
    for seq, other in ((2, 3), (3, 2)):
        src = rows[other]
        _execute(
            trail,
            sa.update(AuditEntry)
            .where(AuditEntry.seq == seq)
            .values(time=src.time, actor=src.actor, action=src.action, target=src.target, detail=src.detail, prev_hash=src.prev_hash, hash=src.hash),
        )
    seqs = {f.seq for f in trail.verify()}
    assert {2, 3} <= seqs


def test_rehashed_forgery_without_key_fails(trail: AuditTrail, engine) -> None:  # noqa: F811
    """An attacker who recomputes the chain with a guessed key still fails verification."""
    forger = AuditTrail(trail._engine, b"k" * 32)  # noqa: SLF001
    _execute(trail, sa.delete(AuditEntry))
    _execute(trail, sa.delete(AuditHead))
    forger.record("intruder", "download", "x")
    assert trail.verify() and forger.verify() == []


def test_export_csv(trail: AuditTrail) -> None:
    sink = io.StringIO()
    assert trail.export_csv(sink) == 6
    rows = list(csv.DictReader(io.StringIO(sink.getvalue())))
    assert rows[0]["action"] == "download" and rows[5]["seq"] == "6" and len(rows[0]["hash"]) == 64


def _record_from_four_threads(trail: AuditTrail) -> None:
    """Ten entries from each of four threads at once."""

    def worker(n: int) -> None:
        for i in range(10):
            trail.record(f"w{n}", "read", f"f{i}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_concurrent_appends_keep_one_chain(trail: AuditTrail) -> None:
    _record_from_four_threads(trail)
    assert len(trail.entries()) == 46 and trail.verify() == []


def test_key_file_and_bad_arguments(tmp_path, engine) -> None:  # noqa: F811
    path = tmp_path / "audit.key"
    write_key_file(path)
    assert len(read_key_file(path)) == 32
    with pytest.raises(FileExistsError):
        write_key_file(path)
    with pytest.raises(ParameterError, match="at least 32"):
        AuditTrail(connect(engine), b"short")
    with pytest.raises(ParameterError, match="'outcome' parameter"):
        AuditTrail(connect(engine), AUDIT_KEY).record("a", "b", "c", outcome="maybe")


@pytest.fixture()
def signed(engine, clock: Clock, tmp_path) -> AuditTrail:  # noqa: F811
    trail = AuditTrail(connect(engine), AUDIT_KEY, clock=clock, head_file=tmp_path / "audit.head")
    for i in range(6):
        trail.record("user", "download", f"study/p{i}.mp4")
    return trail


def test_signed_head_is_kept_outside_the_database(signed: AuditTrail) -> None:
    import json
    import stat

    assert signed.verify() == []
    data = json.loads(signed.head_file.read_text())
    assert data["seq"] == 6 and data["hash"] == signed.entries()[-1].hash
    assert stat.S_IMODE(signed.head_file.stat().st_mode) == 0o600


def test_cut_tail_with_a_rewritten_head_row_is_caught(signed: AuditTrail) -> None:
    """Deleting the newest entries and setting the head row back verifies by the chain alone (issue 17)."""
    kept = signed.entries()[3]
    _execute(signed, sa.delete(AuditEntry).where(AuditEntry.seq > 4))
    _execute(signed, sa.update(AuditHead).values(seq=4, hash=kept.hash))
    unsigned = AuditTrail(signed._engine, AUDIT_KEY)  # noqa: SLF001
    assert unsigned.verify() == []  # what the attacker counted on
    problems = [f.problem for f in signed.verify()]
    assert problems == ["entries 5..6 at the end of the trail are missing (deleted); the signed head outside the database records entry 6"]


def test_every_row_deleted_is_caught(signed: AuditTrail) -> None:
    _execute(signed, sa.delete(AuditEntry))
    _execute(signed, sa.delete(AuditHead))
    assert [f.problem for f in signed.verify()] == [
        "entries 1..6 at the end of the trail are missing (deleted); the signed head outside the database records entry 6"
    ]


def test_forged_or_missing_signed_head_is_caught(signed: AuditTrail) -> None:
    import json

    data = json.loads(signed.head_file.read_text())
    signed.head_file.write_text(json.dumps({**data, "seq": 9}))
    assert "was edited: its keyed MAC does not match" in signed.verify()[0].problem
    signed.head_file.unlink()
    assert "is missing" in signed.verify()[0].problem
    signed.record("user", "login", "user")  # the next append writes it again
    assert signed.verify() == []


def test_rewritten_entry_at_the_signed_head_is_caught(signed: AuditTrail, tmp_path) -> None:
    """A whole trail rebuilt by someone holding an old copy of the database is not the signed one."""
    import shutil

    shutil.copy(signed.head_file, tmp_path / "old.head")
    signed.record("user", "download", "study/secret.mp4")
    shutil.copy(tmp_path / "old.head", tmp_path / "stale.head")
    stale = AuditTrail(signed._engine, AUDIT_KEY, head_file=tmp_path / "stale.head")  # noqa: SLF001
    assert stale.verify() == []  # an older signed head still matches the entry it names
    _execute(signed, sa.update(AuditEntry).where(AuditEntry.seq == 6).values(hash="f" * 64))
    assert any("not the one the signed head outside the database records" in f.problem for f in stale.verify())


# ---------------------------------------------------------------- signed checkpoints outside the database (issue 17)
from avanon.access.audit import write_head  # noqa: E402
from avanon.access.checkpoint import GENESIS, CheckpointLog, public_key_path, read_checkpoints, read_public_key, write_signing_key  # noqa: E402
from avanon.errors import AccessError, IntegrityError  # noqa: E402


def _checkpointed(engine: sa.Engine, tmp_path, clock: Clock) -> AuditTrail:  # noqa: F811
    key_file = tmp_path / "audit-checkpoint.key"
    if not key_file.exists():
        write_signing_key(key_file)
    log = CheckpointLog.open(tmp_path / "audit.checkpoints", key_file, every=3)
    return AuditTrail(connect(engine), AUDIT_KEY, clock=clock, head_file=tmp_path / "audit.head", checkpoints=log)


@pytest.fixture()
def checkpointed(engine, clock: Clock, tmp_path) -> AuditTrail:  # noqa: F811
    """Seven entries, a checkpoint every three (after entries 3 and 6); copies of the signed head at 0 and 4."""
    import shutil

    write_head(tmp_path / "audit.head", AUDIT_KEY, 0, GENESIS)  # as `avanon access init` leaves it
    shutil.copy(tmp_path / "audit.head", tmp_path / "head-at-0")
    trail = _checkpointed(engine, tmp_path, clock)
    for i in range(7):
        trail.record("user", "download", f"study/p{i}.mp4")
        clock.advance(seconds=1)
        if i == 3:
            shutil.copy(tmp_path / "audit.head", tmp_path / "head-at-4")
    return trail


def _head_row_to(trail: AuditTrail, seq: int) -> None:
    digest = next(e.hash for e in trail.entries() if e.seq == seq) if seq else GENESIS
    _execute(trail, sa.update(AuditHead).values(seq=seq, hash=digest))


def test_checkpoints_are_signed_appended_and_verify(checkpointed: AuditTrail, tmp_path) -> None:
    import json
    import stat

    log = checkpointed.checkpoints.path
    assert checkpointed.verify() == []
    before = log.read_bytes()
    lines = [json.loads(line) for line in before.splitlines()]
    hashes = {e.seq: e.hash for e in checkpointed.entries()}
    assert [(c["count"], c["hash"]) for c in lines] == [(3, hashes[3]), (6, hashes[6])]
    assert lines[0]["prev"] == GENESIS and lines[1]["prev"] != GENESIS
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "audit-checkpoint.key").stat().st_mode) == 0o600
    point = checkpointed.checkpoint()  # on demand
    assert (point.line, point.count, point.hash) == (3, 7, hashes[7])
    assert log.read_bytes().startswith(before)  # appended, never rewritten
    auditor_key = read_public_key(public_key_path(tmp_path / "audit-checkpoint.key"))  # the public half alone checks a copy
    checkpoints, problems = read_checkpoints(log, auditor_key)
    assert [c.count for c in checkpoints] == [3, 6, 7] and problems == []
    assert checkpointed.verify() == []


def test_cut_tail_with_the_signed_head_put_back_is_caught(checkpointed: AuditTrail, tmp_path) -> None:
    """Delete the newest rows, rewrite the head row and put back an old copy of the signed head."""
    import shutil

    _execute(checkpointed, sa.delete(AuditEntry).where(AuditEntry.seq > 4))
    _head_row_to(checkpointed, 4)
    shutil.copy(tmp_path / "head-at-4", tmp_path / "audit.head")
    head_only = AuditTrail(checkpointed._engine, AUDIT_KEY, head_file=tmp_path / "audit.head")  # noqa: SLF001
    assert head_only.verify() == []  # what the attacker counted on
    assert [f.problem for f in checkpointed.verify()] == [
        f"entries 5..6 at the end of the trail are missing (deleted); checkpoint line 2 of {checkpointed.checkpoints.path} records entry 6"
    ]


def test_every_row_deleted_and_the_head_reset_is_caught(checkpointed: AuditTrail, tmp_path) -> None:
    import shutil

    _execute(checkpointed, sa.delete(AuditEntry))
    _execute(checkpointed, sa.delete(AuditHead))
    shutil.copy(tmp_path / "head-at-0", tmp_path / "audit.head")
    head_only = AuditTrail(checkpointed._engine, AUDIT_KEY, head_file=tmp_path / "audit.head")  # noqa: SLF001
    assert head_only.verify() == []
    assert [f.problem for f in checkpointed.verify()] == [
        f"entries 1..6 at the end of the trail are missing (deleted); checkpoint line 2 of {checkpointed.checkpoints.path} records entry 6"
    ]


def test_trail_rebuilt_with_the_key_is_caught_at_each_checkpoint(checkpointed: AuditTrail, tmp_path, clock: Clock) -> None:  # noqa: F811
    """Someone holding the HMAC key rewrites history from entry 2 on: the chain verifies, the checkpoints do not."""
    import shutil

    _execute(checkpointed, sa.delete(AuditEntry).where(AuditEntry.seq > 1))
    _head_row_to(checkpointed, 1)
    shutil.copy(tmp_path / "head-at-0", tmp_path / "audit.head")
    forger = AuditTrail(checkpointed._engine, AUDIT_KEY, clock=clock, head_file=tmp_path / "audit.head")  # noqa: SLF001
    for i in range(6):
        forger.record("user", "download", f"study/other{i}.mp4")
    assert forger.verify() == []
    log = checkpointed.checkpoints.path
    assert [f.problem for f in checkpointed.verify()] == [
        f"entry 3 is not the one checkpoint line 1 of {log} records (the trail was rewritten)",
        f"entry 6 is not the one checkpoint line 2 of {log} records (the trail was rewritten)",
    ]


def test_tampered_checkpoint_lines_are_caught(checkpointed: AuditTrail, tmp_path) -> None:
    import json

    log = checkpointed.checkpoints.path
    lines = log.read_text().splitlines()
    first = json.loads(lines[0])
    log.write_text("\n".join([json.dumps({**first, "count": 2}), lines[1]]) + "\n")
    assert [f.problem for f in checkpointed.verify()] == [
        f"checkpoint line 1 of {log} was edited: its signature does not verify",
        f"checkpoint line 2 of {log} does not follow the line before it (a line was removed, inserted or reordered)",  # it chains to the bytes
    ]
    log.write_text(lines[1] + "\n")  # the first line removed
    assert [f.problem for f in checkpointed.verify()] == [
        f"checkpoint line 1 of {log} does not follow the line before it (a line was removed, inserted or reordered)"
    ]
    other = tmp_path / "other.key"
    write_signing_key(other)
    CheckpointLog.open(tmp_path / "forged", other).append(6, first["hash"], first["time"])
    log.write_text("\n".join([lines[0], (tmp_path / "forged").read_text().strip()]) + "\n")  # a line signed with another key
    assert [f.problem for f in checkpointed.verify()] == [
        f"checkpoint line 2 of {log} was edited: its signature does not verify",
        f"the trail holds 7 entries but no checkpoint in {log} records entry 6 or later (the checkpoint log was cut, deleted or replaced)",
    ]


def test_deleted_checkpoint_log_is_caught(checkpointed: AuditTrail) -> None:
    checkpointed.checkpoints.path.unlink()
    assert [f.problem for f in checkpointed.verify()] == [
        f"the trail holds 7 entries but no checkpoint in {checkpointed.checkpoints.path} records entry 6 or later "
        "(the checkpoint log was cut, deleted or replaced)"
    ]


def test_on_demand_checkpoint_refuses_a_trail_that_does_not_verify(checkpointed: AuditTrail) -> None:
    before = checkpointed.checkpoints.path.read_bytes()
    _execute(checkpointed, sa.update(AuditEntry).where(AuditEntry.seq == 2).values(target="elsewhere"))
    with pytest.raises(IntegrityError, match="entry 2 was edited; no checkpoint written|entry 2 was edited"):
        checkpointed.checkpoint()
    assert checkpointed.checkpoints.path.read_bytes() == before
    with pytest.raises(ParameterError, match="keeps no checkpoint log"):
        AuditTrail(checkpointed._engine, AUDIT_KEY).checkpoint()  # noqa: SLF001


def test_checkpoint_log_arguments(tmp_path) -> None:
    key_file = tmp_path / "k"
    write_signing_key(key_file)
    with pytest.raises(FileExistsError):
        write_signing_key(key_file)
    log = CheckpointLog.open(tmp_path / "log", key_file)
    with pytest.raises(ParameterError, match="'every' parameter must be an int in the range"):
        CheckpointLog(tmp_path / "log", public_key=log.public_key, every=0)
    other = tmp_path / "other"
    write_signing_key(other)
    with pytest.raises(ParameterError, match="does not match the public key"):
        CheckpointLog(
            tmp_path / "log", public_key=read_public_key(public_key_path(other)), signing_key=CheckpointLog.open(tmp_path / "l", key_file)._signing_key
        )  # noqa: SLF001
    with pytest.raises(AccessError, match="can be checked but not written"):
        CheckpointLog(tmp_path / "log", public_key=log.public_key).append(1, GENESIS, "t")
    (tmp_path / "bad").write_text("xyz\n")
    with pytest.raises(ParameterError, match="64 hexadecimal"):
        read_public_key(tmp_path / "bad")


def test_concurrent_appends_keep_one_checkpoint_chain(checkpointed: AuditTrail) -> None:
    _record_from_four_threads(checkpointed)
    checkpoints, problems = checkpointed.checkpoints.read()
    assert problems == [] and sorted(c.count for c in checkpoints) == list(range(3, 48, 3))
    assert checkpointed.verify() == []
