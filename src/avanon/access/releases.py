"""Released files: what kind each is, how it is shown, and how a run's cleared outputs become catalogue rows.

A released file is ``video``, ``audio`` or ``derived`` for consent (:func:`kind_of`): the run's
manifest says so when it gives a ``kind``; otherwise the extension decides. A photo is a ``video``
file (a picture of a person needs image consent, never only audio consent). Derived files (feature
tables, annotations) are linked to the media file made from the same input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

import sqlalchemy as sa

from avanon.access.db import Participant, Release, ReleasedFile
from avanon.access.guard import Cleared
from avanon.errors import ParameterError
from avanon.files import AUDIO_SUFFIXES, IMAGE_SUFFIXES, VIDEO_SUFFIXES

# The one extension table (avanon.files), widened by media suffixes avanon does not anonymize but a
# release may carry (copied through): for consent they are recordings, never derived features.
VIDEO_EXT = VIDEO_SUFFIXES | {".mpg", ".mpeg"}
AUDIO_EXT = AUDIO_SUFFIXES | {".aac"}
IMAGE_EXT = IMAGE_SUFFIXES
DEFAULT_TIERS = {"video": "authorized", "audio": "authorized", "derived": "authorized"}


@dataclass(frozen=True)
class FileView:
    """A released file as shown to a user."""

    id: int
    release_id: int
    release: str
    study: str
    path: str
    kind: str
    tier: str
    requested_tier: str
    approved: bool
    excluded: bool
    excluded_reason: str | None
    size: int
    derived_from: int | None
    participants: tuple[str, ...]


def kind_of(path: str, entry: dict[str, object]) -> str:
    """``video``, ``audio`` or ``derived``: the manifest's ``kind`` when given, else the extension.

    A photo (manifest kind ``image``) is a picture of a person, masked or not: it is a ``video``
    file for consent, so it needs video (image) consent, never only audio consent.
    """
    declared = entry.get("kind")
    if declared in ("video", "audio", "derived"):
        return str(declared)
    if declared == "image":
        return "video"
    suffix = PurePosixPath(path).suffix.lower()
    return "video" if suffix in VIDEO_EXT | IMAGE_EXT else "audio" if suffix in AUDIO_EXT else "derived"


def has_audio_of(path: str, entry: dict[str, object]) -> bool:
    """Whether a file carries sound: never a photo; a video unless its manifest entry says it has no audio track."""
    if entry.get("kind") == "image" or PurePosixPath(path).suffix.lower() in IMAGE_EXT:
        return False
    if "has_audio" in entry:
        return bool(entry["has_audio"])
    media = entry.get("media")
    source = media.get("input") if isinstance(media, dict) else None
    if isinstance(source, dict) and "audio" in source:
        return source["audio"] is not None
    return True


def file_view(row: ReleasedFile) -> FileView:
    """A catalogue row as shown to a user (release and participants loaded)."""
    return FileView(
        row.id,
        row.release_id,
        row.release.name,
        row.release.study,
        row.path,
        row.kind,
        row.tier,
        row.requested_tier,
        row.release.approved_at is not None,
        row.excluded,
        row.excluded_reason,
        row.size,
        row.derived_from,
        tuple(sorted(p.code for p in row.participants)),
    )


def participant_of(session: sa.orm.Session, code: str, study: str) -> Participant:
    """The consent record of participant ``code`` of ``study``; refused when there is none or it belongs elsewhere."""
    person = session.get(Participant, code)
    if person is None:
        raise ParameterError(f"Participant {code!r} has no consent record; record it first (avanon access consent).")
    if person.study != study:
        raise ParameterError(f"Participant {code!r} belongs to study {person.study!r}, not {study!r}.")
    return person


def catalogue_files(
    session: sa.orm.Session, release: Release, cleared: Sequence[Cleared], *, requested: Mapping[str, str], participants: Mapping[str, list[str]]
) -> list[ReleasedFile]:
    """Add one private catalogue row per cleared file of ``release`` (flushed, derived files linked to their media).

    Parameters
    ----------
    session : Session
        Open write session; ``release`` already has its id.
    cleared : sequence of Cleared
        The files the export guard cleared.
    requested : mapping
        Requested tier per kind (``video``, ``audio``, ``derived``).
    participants : mapping
        Input path (as in the manifest) -> participant codes appearing in it.

    Returns
    -------
    list of ReleasedFile
        The new rows, at tier ``private`` until the caller applies consent.
    """
    media_by_input: dict[str, ReleasedFile] = {}
    rows = []
    for item in cleared:
        kind = kind_of(item.path, item.entry)
        row = ReleasedFile(
            release_id=release.id,
            path=item.path,
            original=item.input,
            kind=kind,
            requested_tier=requested[kind],
            tier="private",
            has_audio=has_audio_of(item.path, item.entry),
            size=item.size,
            input_sha256=item.input_sha256,
            output_sha256=item.output_sha256,
            participants=[participant_of(session, code, release.study) for code in participants.get(item.input, [])],
        )
        session.add(row)
        rows.append(row)
        if kind != "derived":
            media_by_input.setdefault(item.input, row)
    session.flush()
    for row in rows:
        if row.kind == "derived" and row.original in media_by_input:
            row.derived_from = media_by_input[row.original].id
    return rows
