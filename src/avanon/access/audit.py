"""A tamper-evident, append-only audit trail in the catalogue database.

Every entry records who did what, to which target, when, from where, with what stated purpose and
with what outcome. Each entry carries ``hash = HMAC-SHA256(key, prev_hash | canonical JSON of the
entry)``, where ``prev_hash`` is its predecessor's hash, and a one-row head table holds the newest
sequence number and hash. The key lives in a file outside the database, so someone who can edit
the database cannot forge a consistent chain; :meth:`AuditTrail.verify` names every edited,
deleted, inserted or reordered entry, and a cut-off tail.

The chain alone cannot prove its own completeness: deleting the newest entries and setting the head
row back to the last one kept, or deleting every row, leaves a chain that verifies. So each append
also writes a *signed head* outside the database (``audit.head`` beside the key, mode 0600):
``{"seq": N, "hash": H, "mac": HMAC-SHA256(key, "avanon-audit-head" | N | H)}``. Whoever can
rewrite the database but not the governance home cannot move it back; :meth:`AuditTrail.verify`
reports entries missing after it, a rewritten entry at its place, and a missing or forged head.

The head is one file, replaced on every append, so an old copy put back with a database cut to
match still verifies. The trail therefore also appends signed checkpoints to a log outside the
database (:mod:`avanon.access.checkpoint`): every ``every`` entries and on demand. :meth:`verify`
checks every line's Ed25519 signature and chain, and that the database still holds each
checkpointed entry with the same hash.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError as DBIntegrityError

from avanon.access.checkpoint import Checkpoint, CheckpointLog
from avanon.access.db import AuditEntry, AuditHead, session_factory
from avanon.errors import AccessError, IntegrityError, ParameterError
from avanon.files import write_atomic

GENESIS = "0" * 64
OUTCOMES = ("ok", "refused", "failed")
FIELDS = ("seq", "time", "actor", "action", "target", "outcome", "ip", "purpose", "detail")


@dataclass(frozen=True)
class Entry:
    """One audit entry as read back."""

    seq: int
    time: str
    actor: str
    action: str
    target: str
    outcome: str
    ip: str
    purpose: str
    detail: str
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class Finding:
    """A place where the chain does not verify."""

    seq: int
    problem: str


def read_key_file(path: Path) -> bytes:
    """Read the audit key (64 hex characters) from ``path``."""
    try:
        text = Path(path).read_text(encoding="ascii").strip()
        key = bytes.fromhex(text)
    except OSError as exc:
        raise AccessError(f"Cannot read the audit key file {path}: {exc.strerror}.") from exc
    except ValueError as exc:
        raise ParameterError(f"The audit key file {path} must hold 64 hexadecimal characters.") from exc
    if len(key) < 32:
        raise ParameterError(f"The audit key in {path} is {len(key)} bytes; at least 32 are required.")
    return key


def write_key_file(path: Path) -> None:
    """Create a new random audit key file (mode 0600); refuses to overwrite one."""
    fd = os.open(Path(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_hex(32) + "\n")


def head_path(key_file: Path) -> Path:
    """Where the signed head of the trail keyed by ``key_file`` lives: ``audit.head`` beside it."""
    return Path(key_file).with_name("audit.head")


def _head_mac(key: bytes, seq: int, digest: str) -> str:
    return hmac.new(key, b"avanon-audit-head\x00" + f"{seq}|{digest}".encode("ascii"), hashlib.sha256).hexdigest()


def write_head(path: Path, key: bytes, seq: int, digest: str) -> None:
    """Write the signed head (newest sequence number and hash) atomically, readable by the owner only."""
    data = {"seq": seq, "hash": digest, "mac": _head_mac(key, seq, digest)}
    write_atomic(Path(path), (json.dumps(data, sort_keys=True) + "\n").encode("ascii"))  # mkstemp: mode 0600


def _canonical(values: dict[str, object]) -> bytes:
    return json.dumps({k: values[k] for k in FIELDS}, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class AuditTrail:
    """Append entries and verify the chain.

    Parameters
    ----------
    engine : Engine
        Catalogue database (tables created by :func:`avanon.access.db.connect`).
    key : bytes, 32 bytes or more
        HMAC key, kept outside the database.
    clock : callable, optional
        Returns the current UTC time (tests pass a fixed clock).
    head_file : Path, optional
        The signed head outside the database (see the module docstring), written on every append
        and checked by :meth:`verify`; ``None`` keeps none (the chain alone cannot show a cut tail).
    checkpoints : CheckpointLog, optional
        Signed checkpoints outside the database, appended every ``checkpoints.every`` entries and
        by :meth:`checkpoint`, checked by :meth:`verify`.
    """

    def __init__(
        self,
        engine: Engine,
        key: bytes,
        *,
        clock: Callable[[], dt.datetime] | None = None,
        head_file: Path | None = None,
        checkpoints: CheckpointLog | None = None,
    ) -> None:
        if len(key) < 32:
            raise ParameterError(f"The audit key must be at least 32 bytes. Got {len(key)} bytes.")
        self.head_file = Path(head_file) if head_file is not None else None
        self.checkpoints = checkpoints
        self._engine = engine
        self._key = key
        self._sessions = session_factory(engine)
        self._clock = clock or (lambda: dt.datetime.now(dt.timezone.utc))
        self._lock = threading.Lock()

    def _hash(self, prev_hash: str, values: dict[str, object]) -> str:
        return hmac.new(self._key, prev_hash.encode("ascii") + b"|" + _canonical(values), hashlib.sha256).hexdigest()

    def record(
        self,
        actor: str,
        action: str,
        target: str,
        *,
        outcome: str = "ok",
        ip: str | None = None,
        purpose: str | None = None,
        detail: dict[str, object] | str | None = None,
    ) -> Entry:
        """Append one entry and return it.

        Parameters
        ----------
        actor : str
            Username (or ``system``); never a participant's name.
        action : str
            What happened: ``login``, ``read``, ``download``, ``export``, ``grant``, ``refusal``, ...
        target : str
            What it happened to (file path, request id, user name).
        outcome : {'ok', 'refused', 'failed'}
            Result.
        ip : str, optional
            Client address.
        purpose : str, optional
            Stated purpose.
        detail : dict or str, optional
            Extra JSON-serialisable facts (a disposal certificate, a refusal reason).
        """
        if outcome not in OUTCOMES:
            raise ParameterError(f"The 'outcome' parameter must be one of {list(OUTCOMES)}. Got {outcome!r} instead.")
        detail_text = detail if isinstance(detail, str) else json.dumps(detail or {}, sort_keys=True, ensure_ascii=False)
        for _attempt in range(20):
            try:
                with self._lock, self._sessions.begin() as session:
                    head = session.execute(sa.select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one_or_none()
                    if head is None:
                        head = AuditHead(id=1, seq=0, hash=GENESIS)
                        session.add(head)
                    prev_hash = head.hash
                    values: dict[str, object] = {
                        "seq": head.seq + 1,
                        "time": self._now(),
                        "actor": actor,
                        "action": action,
                        "target": target,
                        "outcome": outcome,
                        "ip": ip or "",
                        "purpose": purpose or "",
                        "detail": detail_text,
                    }
                    digest = self._hash(prev_hash, values)
                    session.add(AuditEntry(prev_hash=prev_hash, hash=digest, **values))
                    head.seq, head.hash = int(values["seq"]), digest  # type: ignore[call-overload]
            except DBIntegrityError:
                continue
            seq = int(values["seq"])  # type: ignore[call-overload]
            if self.head_file is not None:
                self._advance_head(seq, digest)
            if self.checkpoints is not None and self.checkpoints.due(seq):
                self.checkpoints.append(seq, digest, self._now())
            return Entry(prev_hash=prev_hash, hash=digest, **values)  # type: ignore[arg-type]
        raise AccessError("Could not append to the audit trail: too much contention.")

    def _now(self) -> str:
        return self._clock().isoformat(timespec="microseconds")

    def checkpoint(self) -> Checkpoint:
        """Append a signed checkpoint of the newest entry now (after :meth:`verify` finds nothing wrong).

        Raises
        ------
        ParameterError
            The trail keeps no checkpoint log.
        IntegrityError
            The trail does not verify: a checkpoint would vouch for a tampered trail.
        """
        if self.checkpoints is None:
            raise ParameterError("This audit trail keeps no checkpoint log: give AuditTrail(checkpoints=...).")
        findings = self.verify()
        if findings:
            raise IntegrityError(f"The audit trail does not verify ({findings[0].problem}); no checkpoint written.")
        newest = self.entries(newest_first=True, limit=1)
        seq, digest = (newest[0].seq, newest[0].hash) if newest else (0, GENESIS)
        return self.checkpoints.append(seq, digest, self._now())

    def _advance_head(self, seq: int, digest: str) -> None:
        """Move the signed head forward (never back: another process may have written a newer one)."""
        assert self.head_file is not None
        with self._lock:
            current = self._read_head()
            if isinstance(current, tuple) and current[0] >= seq:
                return
            write_head(self.head_file, self._key, seq, digest)

    def _read_head(self) -> tuple[int, str] | str | None:
        """The signed head ``(seq, hash)``; a string saying what is wrong with it; ``None`` if there is none."""
        assert self.head_file is not None
        try:
            data = json.loads(self.head_file.read_text(encoding="ascii"))
            seq, digest, mac = int(data["seq"]), str(data["hash"]), str(data["mac"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return f"the signed head {self.head_file} cannot be read ({type(exc).__name__})"
        if not hmac.compare_digest(_head_mac(self._key, seq, digest), mac):
            return f"the signed head {self.head_file} was edited: its keyed MAC does not match"
        return seq, digest

    def entries(self, *, action: str | None = None, actor: str | None = None, limit: int | None = None, newest_first: bool = False) -> list[Entry]:
        """Read entries, optionally filtered by action and actor."""
        query = sa.select(AuditEntry)
        if action:
            query = query.where(AuditEntry.action == action)
        if actor:
            query = query.where(AuditEntry.actor == actor)
        query = query.order_by(AuditEntry.seq.desc() if newest_first else AuditEntry.seq)
        if limit:
            query = query.limit(limit)
        with self._sessions() as session:
            return [_entry(row) for row in session.execute(query).scalars()]

    def _iter_rows(self) -> Iterator[AuditEntry]:
        with self._sessions() as session:
            yield from session.execute(sa.select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=1000)).scalars()

    def verify(self) -> list[Finding]:
        """Walk the chain and return every finding (an empty list means the trail is intact)."""
        findings: list[Finding] = []
        expected_seq = 1
        prev_hash = GENESIS
        signed = self._read_head() if self.head_file is not None else None
        at_signed: str | None = None  # the chain's hash at the signed head's sequence number
        checkpoints, problems = self.checkpoints.read() if self.checkpoints is not None else ([], [])
        wanted = {c.count for c in checkpoints}
        at_checkpoints: dict[int, str] = {}  # the chain's hashes at the checkpoints' sequence numbers
        for row in self._iter_rows():
            if isinstance(signed, tuple) and row.seq == signed[0]:
                at_signed = row.hash
            if row.seq in wanted:
                at_checkpoints[row.seq] = row.hash
            values = {k: getattr(row, k) for k in FIELDS}
            if row.seq != expected_seq:
                findings.append(
                    Finding(
                        row.seq,
                        f"entries {expected_seq}..{row.seq - 1} are missing (deleted)" if row.seq > expected_seq else f"entry {row.seq} is out of order",
                    )
                )
            if row.prev_hash != prev_hash:
                findings.append(
                    Finding(row.seq, f"entry {row.seq} does not follow its predecessor (reordered, inserted, or the entry before it was deleted or edited)")
                )
            if not hmac.compare_digest(self._hash(row.prev_hash, values), row.hash):
                findings.append(Finding(row.seq, f"entry {row.seq} was edited: its keyed hash does not match its content"))
            expected_seq = row.seq + 1
            prev_hash = row.hash
        with self._sessions() as session:
            head = session.get(AuditHead, 1)
        last = expected_seq - 1
        if head is not None and (head.seq != last or head.hash != prev_hash):
            if head.seq > last:
                findings.append(Finding(last + 1, f"entries {last + 1}..{head.seq} at the end of the trail are missing (deleted)"))
            else:
                findings.append(Finding(head.seq, f"the trail head says entry {head.seq} is the newest, but it ends at {last}"))
        if self.head_file is not None:
            findings += self._check_signed(signed, last, at_signed)
        if self.checkpoints is not None:
            findings += [Finding(last, problem) for problem in problems]
            findings += self._check_checkpoints(checkpoints, last, at_checkpoints)
        return findings

    def _check_checkpoints(self, checkpoints: list[Checkpoint], last: int, hashes: dict[int, str]) -> list[Finding]:
        """Findings from comparing the database with the signed checkpoints outside it."""
        assert self.checkpoints is not None
        log = self.checkpoints.path
        findings = [
            Finding(c.count, f"entry {c.count} is not the one checkpoint line {c.line} of {log} records (the trail was rewritten)")
            for c in checkpoints
            if c.count in hashes and not hmac.compare_digest(hashes[c.count], c.hash)
        ]
        newest = max(checkpoints, key=lambda c: c.count, default=None)
        if newest is not None and newest.count > last:
            findings.append(
                Finding(
                    last + 1,
                    f"entries {last + 1}..{newest.count} at the end of the trail are missing (deleted); "
                    f"checkpoint line {newest.line} of {log} records entry {newest.count}",
                )
            )
        due = last - last % self.checkpoints.every
        if due > (newest.count if newest is not None else 0):
            findings.append(
                Finding(
                    due,
                    f"the trail holds {last} entries but no checkpoint in {log} records entry {due} or later (the checkpoint log was cut, deleted or replaced)",
                )
            )
        return findings

    def _check_signed(self, signed: tuple[int, str] | str | None, last: int, at_signed: str | None) -> list[Finding]:
        """Findings from comparing the database with the signed head outside it."""
        if signed is None:
            return [
                Finding(
                    last,
                    f"the signed head {self.head_file} outside the database is missing: the trail's "
                    "completeness cannot be shown (deleted, or a home made before signed heads)",
                )
            ]
        if isinstance(signed, str):
            return [Finding(last, signed)]
        seq, digest = signed
        if seq > last:
            return [
                Finding(
                    last + 1,
                    f"entries {last + 1}..{seq} at the end of the trail are missing (deleted); the signed head outside the database records entry {seq}",
                )
            ]
        if seq > 0 and at_signed != digest:
            return [Finding(seq, f"entry {seq} is not the one the signed head outside the database records (the trail was rewritten)")]
        return []

    def export_csv(self, sink: TextIO) -> int:
        """Write every entry (with its hashes) as CSV; returns the number of rows."""
        writer = csv.writer(sink)
        writer.writerow(list(FIELDS) + ["prev_hash", "hash"])
        count = 0
        for row in self._iter_rows():
            writer.writerow([getattr(row, k) for k in FIELDS] + [row.prev_hash, row.hash])
            count += 1
        return count


def _entry(row: AuditEntry) -> Entry:
    return Entry(**{k: getattr(row, k) for k in (*FIELDS, "prev_hash", "hash")})


def entry_dict(entry: Entry) -> dict[str, object]:
    """An entry as a plain dict (for templates and JSON)."""
    return asdict(entry)
