"""Pairing annotation files with the media files they describe.

In order of precedence: a mapping file written by the researcher; the links inside the annotation
file (ELAN media descriptors, BORIS media columns, RTTM recording ids), resolved as relative paths
first and by file name second; and last the file names themselves (``bobby_words.TextGrid`` belongs
to ``bobby.wav`` in the same folder: the longest media stem that starts the annotation stem).
All paths are POSIX paths relative to the study root.
"""

from __future__ import annotations

import csv
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from avanon.annotations.model import AnnotationDocument, is_absolute_link, link_basename
from avanon.annotations.safety import read_text
from avanon.errors import ParameterError


@dataclass
class Pairing:
    """The media an annotation file belongs to.

    Attributes
    ----------
    media : list of str
        Paired media, relative to the study root, in the order the file names them.
    links : dict of str to str
        Link as written in the file -> paired media.
    how : str
        ``mapping``, ``link`` or ``name``.
    """

    media: list[str] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)
    how: str = ""


def load_media_map(path: Path) -> dict[str, list[str]]:
    """Read a mapping file: CSV/TSV with columns ``annotation`` and ``media`` (paths relative to the study).

    An annotation may appear on several rows (a BORIS observation over several videos).

    Raises
    ------
    ParameterError
        Missing columns, or absolute paths.
    """
    text = read_text(Path(path))
    lines = [line for line in text.splitlines() if line.strip()]
    delimiter = "\t" if lines and "\t" in lines[0] else ","
    reader = csv.DictReader(lines, delimiter=delimiter)
    if reader.fieldnames is None or not {"annotation", "media"} <= {f.strip() for f in reader.fieldnames}:
        raise ParameterError(f"{path}: a media mapping needs the columns 'annotation' and 'media'; found {reader.fieldnames}")
    result: dict[str, list[str]] = {}
    for number, row in enumerate(reader, start=2):
        row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
        for key in ("annotation", "media"):
            if is_absolute_link(row[key]) or ".." in Path(row[key]).parts:
                raise ParameterError(f"{path}: row {number}: {key} {row[key]!r} must be a path relative to the study root")
        result.setdefault(_norm(row["annotation"]), []).append(_norm(row["media"]))
    return result


def _norm(path: str) -> str:
    return posixpath.normpath(path.replace("\\", "/")) if path else path


def pair_media(annotation: str, doc: AnnotationDocument | None, media: Iterable[str], *, mapping: Mapping[str, list[str]] | None = None) -> Pairing:
    """Find the media that ``annotation`` (a path relative to the study root) belongs to.

    Parameters
    ----------
    annotation : str
    doc : AnnotationDocument or None
        The file read, for its links; ``None`` pairs by name only.
    media : iterable of str
        Media files of the study, relative to the study root.
    mapping : mapping, optional
        From :func:`load_media_map`; wins over everything else.
    """
    annotation = _norm(annotation)
    known = [_norm(m) for m in media]
    known_set = set(known)
    folder = posixpath.dirname(annotation)
    links = [link for link in (doc.media if doc is not None else []) if link.role == "media"]

    if mapping and annotation in mapping:
        chosen = [m for m in mapping[annotation] if m in known_set]
        pairing = Pairing(media=chosen, how="mapping")
        for link in links:
            match = _by_name(link.path, link.kind, chosen, folder) or (chosen[0] if len(chosen) == 1 else None)
            if match:
                pairing.links[link.path] = match
        return pairing

    pairing = Pairing(how="link")
    for link in links:
        match = None
        for candidate in (link.relative, link.path):
            if candidate and not is_absolute_link(candidate) and link.kind == "path":
                resolved = _norm(posixpath.join(folder, candidate.replace("\\", "/")))
                if resolved in known_set:
                    match = resolved
                    break
        match = match or _by_name(link.path, link.kind, known, folder)
        if match:
            pairing.links[link.path] = match
            if match not in pairing.media:
                pairing.media.append(match)
    if pairing.media:
        return pairing

    stem = posixpath.splitext(posixpath.basename(annotation))[0]
    same_folder = [m for m in known if posixpath.dirname(m) == folder]
    best = None
    for candidate in same_folder:
        media_stem = posixpath.splitext(posixpath.basename(candidate))[0]
        if stem == media_stem or (stem.startswith(media_stem) and stem[len(media_stem) :][:1] in ("_", "-", ".", " ")):
            if best is None or len(media_stem) > len(posixpath.splitext(posixpath.basename(best))[0]):
                best = candidate
    if best is None:
        exact = [m for m in known if posixpath.splitext(posixpath.basename(m))[0] == stem]
        best = exact[0] if len(exact) == 1 else None
    if best is not None:
        return Pairing(media=[best], links={link.path: best for link in links}, how="name")
    return Pairing()


def _by_name(link: str, kind: str, candidates: list[str], folder: str) -> str | None:
    """The candidate whose file name (or stem, for ``kind="stem"``) matches the link; same folder first."""
    name = link_basename(link)
    if kind == "stem":
        hits = [m for m in candidates if posixpath.splitext(posixpath.basename(m))[0] == name]
    else:
        hits = [m for m in candidates if posixpath.basename(m) == name]
    if not hits:
        return None
    local = [m for m in hits if posixpath.dirname(m) == folder]
    if len(local) == 1:
        return local[0]
    return hits[0] if len(hits) == 1 else None
