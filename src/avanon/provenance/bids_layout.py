"""Optional BIDS-style output layout for a whole study (recipe ``naming.bids``).

Each media file goes to ``sub-<label>/[ses-<label>/]beh/sub-<label>[_ses-<label>][_task-<label>][_run-NN]_<suffix><ext>``:

- the subject label comes from a ``sub-XX`` entity in the input path, else it is a keyed pseudonym of
  the top folder (or of the file name for files at the study root): lab folder names such as
  ``Jane_Doe_2024`` never reach the output;
- ``ses-`` and ``task-`` entities are kept when the input path has them;
- the suffix says what the file is (``video``, ``audio``, ``photo``);
- files that would land on the same name get ``run-01``, ``run-02``... in input order.

The layout is a pure function of the input paths and the study secret, so a resumed run computes the
same names. Each media output also gets a JSON sidecar (frame rate, duration, sample rate, codecs and
the anonymization applied) from :func:`avanon.provenance.naming.media_sidecar`.
"""

from __future__ import annotations

import posixpath
import re
from collections import defaultdict
from typing import Iterable

from avanon.media.probe import media_kind
from avanon.provenance.naming import bids_path
from avanon.studykeys import pseudonym

SUFFIX = {"video": "video", "audio": "audio", "image": "photo"}
_ENTITY = {key: re.compile(rf"(?:^|[/_]){key}-([A-Za-z0-9]+)") for key in ("sub", "ses", "task")}


def _entity(rel: str, key: str) -> str | None:
    match = _ENTITY[key].search(rel)
    return match.group(1) if match else None


def _subject(rel: str, secret: bytes) -> str:
    label = _entity(rel, "sub")
    if label:
        return label
    parts = rel.split("/")
    key = parts[0] if len(parts) > 1 else posixpath.splitext(parts[0])[0]
    return pseudonym(secret, "sub", key.casefold())


def bids_layout(rels: Iterable[str], secret: bytes) -> dict[str, str]:
    """Output paths for the media files among ``rels`` (other files are not included)."""
    wanted: dict[str, tuple[str, str | None, str | None, str, str]] = {}
    for rel in sorted(rels):
        kind = media_kind(rel)
        if kind is None:
            continue
        ext = posixpath.splitext(rel)[1].lower()
        wanted[rel] = (_subject(rel, secret), _entity(rel, "ses"), _entity(rel, "task"), SUFFIX[kind], ext)
    groups: dict[tuple, list[str]] = defaultdict(list)
    for rel, key in wanted.items():
        groups[key].append(rel)
    layout: dict[str, str] = {}
    for (subject, session, task, suffix, ext), members in groups.items():
        for number, rel in enumerate(members, start=1):
            run = number if len(members) > 1 else None
            layout[rel] = bids_path(subject=subject, session=session, task=task, run=run, datatype="beh", suffix=suffix, extension=ext)
    return layout
