"""Participants' consent in the catalogue: recorded, applied to released files, reported, and audited.

:func:`record_consent` stores what a participant agreed to (a :class:`~avanon.access.policy.Consent`)
and re-applies it to every released file they appear in; :func:`consent_rows` is the per-participant
report for ethics boards; :func:`audit_release` is the per-file consent audit of one release
(``avanon access audit-consent``): every file, its kind as the run's manifest gives it, its
participants and what each agreed to, the tier the catalogue releases it at and the widest tier
their consent allows now. A file is a *mismatch* when

* a participant's consent does not cover its kind (a video of someone who agreed to audio only),
  or no participant's consent is on record;
* it is released wider than the consent allows now (consent narrowed, ended or withdrawn without
  the catalogue following);
* the catalogue's kind or audio track disagrees with the manifest, or the manifest no longer lists it.

Excluded files are listed as ``excluded``: nobody can read them.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import TextIO

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from avanon.access.db import Participant, Release, ReleasedFile, file_participants
from avanon.access.policy import Consent, consent_cap, narrower, tier_rank
from avanon.access.releases import has_audio_of, kind_of
from avanon.errors import ParameterError

STATUSES = ("ok", "excluded", "mismatch")


def consent_of(person: Participant) -> Consent:
    """The consent a catalogue participant row records."""
    return Consent(person.audio, person.video, person.excerpts, person.derived, person.public, person.until, person.withdrawn_at is not None)


def files_of(session: sa.orm.Session, code: str) -> list[ReleasedFile]:
    """Every released file participant ``code`` appears in (with participants and release loaded)."""
    ids = sa.select(file_participants.c.file_id).where(file_participants.c.participant == code)
    return list(
        session.execute(
            sa.select(ReleasedFile).where(ReleasedFile.id.in_(ids)).options(selectinload(ReleasedFile.participants), selectinload(ReleasedFile.release))
        ).scalars()
    )


def apply_consent(row: ReleasedFile, *, today: dt.date) -> None:
    """Cap a released file's tier by its participants' consent; exclude it when consent was withdrawn or ended."""
    cap, reason = consent_cap(row.kind, [consent_of(p) for p in row.participants], has_audio=row.has_audio, today=today)
    if cap is None:
        row.excluded, row.excluded_reason, row.tier = True, reason, "private"
    else:
        row.tier = narrower(row.requested_tier, cap)


def record_consent(session: sa.orm.Session, code: str, study: str, consent: Consent, *, now: dt.datetime) -> None:
    """Record (or replace) what participant ``code`` of ``study`` agreed to, and re-apply it to their released files.

    Raises
    ------
    ParameterError
        ``consent.withdrawn`` is set (use withdrawal), the code belongs to another study, or the
        participant withdrew before.
    """
    if consent.withdrawn:
        raise ParameterError(f"Consent for {code!r} says withdrawn: record a withdrawal instead (avanon access withdraw).")
    person = session.get(Participant, code)
    if person is None:
        person = Participant(code=code, study=study, recorded=now)
        session.add(person)
    elif person.study != study:
        raise ParameterError(f"Participant {code!r} belongs to study {person.study!r}, not {study!r}.")
    if person.withdrawn_at is not None:
        raise ParameterError(f"Participant {code!r} withdrew consent on {person.withdrawn_at.date()}; record a new participant code.")
    person.audio, person.video, person.excerpts, person.derived, person.public, person.until = (
        consent.audio,
        consent.video,
        consent.excerpts,
        consent.derived,
        consent.public,
        consent.until,
    )
    person.recorded = now
    session.flush()
    for row in files_of(session, code):
        apply_consent(row, today=now.date())


def consent_detail(study: str, consent: Consent) -> dict[str, object]:
    """What the audit trail records for a consent: the study and each agreement."""
    return {
        "study": study,
        "audio": consent.audio,
        "video": consent.video,
        "excerpts": consent.excerpts,
        "derived": consent.derived,
        "public": consent.public,
        "until": consent.until.isoformat() if consent.until else None,
    }


def consent_rows(session: sa.orm.Session, study: str) -> list[dict[str, object]]:
    """One row per participant of ``study``: consent, validity and released files by tier (for ethics boards)."""
    people = session.execute(sa.select(Participant).where(Participant.study == study).order_by(Participant.code)).scalars().all()
    rows = []
    for p in people:
        files = files_of(session, p.code)
        tiers: dict[str, int] = {}
        for f in files:
            key = "excluded" if f.excluded else f.tier
            tiers[key] = tiers.get(key, 0) + 1
        rows.append(
            {
                "participant": p.code,
                "audio": p.audio,
                "video": p.video,
                "excerpts": p.excerpts,
                "derived": p.derived,
                "public": p.public,
                "until": p.until.isoformat() if p.until else "",
                "withdrawn": p.withdrawn_at.date().isoformat() if p.withdrawn_at else "",
                "files": len(files),
                **{f"files_{k}": v for k, v in sorted(tiers.items())},
            }
        )
    return rows


def write_csv(rows: list[dict[str, object]], sink: TextIO) -> int:
    """Write report rows (e.g. :func:`consent_rows`) as CSV; returns the row count."""
    fields: list[str] = []
    for row in rows:
        fields.extend(k for k in row if k not in fields)
    writer = csv.DictWriter(sink, fieldnames=fields, restval="0" if fields else "")
    writer.writeheader()
    writer.writerows(rows)
    return len(rows)


# ---------------------------------------------------------------------------- the consent audit of a release
@dataclass(frozen=True)
class FileConsent:
    """One released file against its participants' consent.

    Attributes
    ----------
    file : int
        Catalogue file id.
    path : str
        Path in the release (relative to the run's output root).
    kind : {'video', 'audio', 'derived'}
        What the file is, from the run's manifest (the catalogue's record when the manifest lacks it).
    tier : str
        The tier the catalogue releases it at; ``excluded`` when excluded.
    allowed : str
        The widest tier its participants' consent allows today; ``excluded`` when withdrawn or ended.
    participants : str
        Each participant with the tier their own consent allows for this file, e.g.
        ``P01 authorized; P02 not covered``.
    status : {'ok', 'excluded', 'mismatch'}
        The verdict.
    problems : tuple of str
        Why a file is a mismatch (empty otherwise).
    """

    file: int
    path: str
    kind: str
    tier: str
    allowed: str
    participants: str
    status: str
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConsentAudit:
    """The consent audit of one release (see the module docstring)."""

    release: int
    name: str
    study: str
    date: str
    files: list[FileConsent]
    problems: list[str] = field(default_factory=list)  # about the release as a whole (its manifest)

    @property
    def mismatches(self) -> int:
        """Files (and release-wide problems) that do not match the consent on record."""
        return sum(f.status == "mismatch" for f in self.files) + len(self.problems)

    def rows(self) -> list[dict[str, object]]:
        """One flat dict per file (for CSV)."""
        return [{**asdict(f), "problems": "; ".join(f.problems)} for f in self.files]

    def as_dict(self) -> dict[str, object]:
        """The whole audit as JSON-ready data."""
        return {
            "release": self.release,
            "name": self.name,
            "study": self.study,
            "date": self.date,
            "mismatches": self.mismatches,
            "problems": list(self.problems),
            "files": [{**asdict(f), "problems": list(f.problems)} for f in self.files],
        }


def _participant_tiers(kind: str, people: list[Participant], *, has_audio: bool, today: dt.date) -> tuple[list[str], list[str], list[str]]:
    """Per participant, the tier their own consent allows; who is not covered; whose consent lapsed (withdrawn or ended)."""
    labels, uncovered, lapsed = [], [], []
    what = "derived features" if kind == "derived" else f"{kind} with sound" if kind == "video" and has_audio else kind
    for person in sorted(people, key=lambda p: p.code):
        own, _reason = consent_cap(kind, [consent_of(person)], has_audio=has_audio, today=today)
        if own is None and person.withdrawn_at is not None:
            labels.append(f"{person.code} withdrawn")
            lapsed.append(f"{person.code} withdrew consent on {person.withdrawn_at.date().isoformat()}")
        elif own is None:
            labels.append(f"{person.code} ended")
            lapsed.append(f"{person.code}'s consent ended on {person.until.isoformat() if person.until else '?'}")
        elif own == "private":
            labels.append(f"{person.code} not covered")
            uncovered.append(f"{person.code} did not consent to sharing {what}")
        else:
            labels.append(f"{person.code} {own}")
    return labels, uncovered, lapsed


def audit_file(row: ReleasedFile, entry: dict[str, object] | None, *, manifest_read: bool, today: dt.date) -> FileConsent:
    """Check one released file against the manifest entry it came from and its participants' consent.

    Parameters
    ----------
    row : ReleasedFile
        The catalogue record, with participants loaded.
    entry : dict or None
        Its entry in the run's manifest; None when the manifest does not list it.
    manifest_read : bool
        Whether the manifest could be read at all (when not, the catalogue's facts are used as they are).
    today : datetime.date
        Consent that ended before today no longer holds.
    """
    problems: list[str] = []
    kind, has_audio = row.kind, row.has_audio
    if entry is not None:
        kind, has_audio = kind_of(row.path, entry), has_audio_of(row.path, entry)
        if kind != row.kind:
            problems.append(f"the catalogue releases it as {row.kind}, but the manifest makes it {kind}")
        if has_audio != row.has_audio:
            problems.append(
                f"the catalogue says it has {'an' if row.has_audio else 'no'} audio track, the manifest says it has {'one' if has_audio else 'none'}"
            )
    elif manifest_read:
        problems.append("the run's manifest no longer lists it")
    labels, uncovered, lapsed = _participant_tiers(kind, list(row.participants), has_audio=has_audio, today=today)
    cap, reason = consent_cap(kind, [consent_of(p) for p in row.participants], has_audio=has_audio, today=today)
    if not row.participants:
        problems.append("no participant's consent is on record for it")
    problems += uncovered
    if cap is None and not row.excluded:
        problems += [f"{gap}, but the file is still released at {row.tier}" for gap in lapsed]
    elif cap is not None and not row.excluded and tier_rank(row.tier) > tier_rank(cap):
        problems.append(f"it is released at {row.tier}, wider than the {cap} its participants' consent allows ({reason})")
    status = "excluded" if row.excluded else "mismatch" if problems else "ok"
    return FileConsent(
        row.id,
        row.path,
        kind,
        "excluded" if row.excluded else row.tier,
        cap or "excluded",
        "; ".join(labels) or "none on record",
        status,
        tuple(problems) if status == "mismatch" else (),
    )


def audit_release(release: Release, entries: list[dict[str, object]] | None, *, manifest_sha256: str | None, today: dt.date) -> ConsentAudit:
    """The consent audit of one release.

    Parameters
    ----------
    release : Release
        The catalogue record, with files and their participants loaded.
    entries : list of dict or None
        The run's manifest entries now; None when the manifest cannot be read.
    manifest_sha256 : str or None
        The manifest's SHA-256 now (compared with the one recorded when the release was registered).
    today : datetime.date
        Consent that ended before today no longer holds.
    """
    problems = []
    if entries is None:
        problems.append(f"the run's manifest under {release.root} cannot be read: kinds are taken from the catalogue")
    elif manifest_sha256 != release.manifest_sha256:
        problems.append("the run's manifest changed since the release was registered")
    by_output = {str(e.get("output", "")): e for e in entries or []}
    files = [audit_file(row, by_output.get(row.path), manifest_read=entries is not None, today=today) for row in sorted(release.files, key=lambda r: r.path)]
    return ConsentAudit(release.id, release.name, release.study, today.isoformat(), files, problems)
