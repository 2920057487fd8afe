"""Carrying one annotation file into the anonymized output: the pipeline's single entry point.

:func:`carry_annotations` reads the file, pairs it with its media, checks that the anonymized media
kept the original durations, re-times the annotations if the media timing changed, anonymizes the
text, rewrites the media links to the output names (no absolute path survives), marks the redacted
segments, checks that every annotation lies within the anonymized media, and writes the result
atomically. Any problem fails this file alone, with messages naming tier, annotation and times;
nothing is copied through.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from avanon.annotations.alignment import DEFAULT_TOLERANCE, check_durations, check_structure, check_within
from avanon.annotations.formats import read_annotations, write_annotations
from avanon.annotations.model import is_absolute_link, linear_time_map, link_basename, mark_segments, relink, retime
from avanon.annotations.pairing import pair_media
from avanon.annotations.pseudonymize import Namer, TextAnonymizer, anonymize_document
from avanon.errors import AvanonError, ParameterError


@dataclass(frozen=True)
class MediaInfo:
    """What the pipeline knows about one anonymized media file.

    Attributes
    ----------
    output : str
        Output path relative to the output root (POSIX separators).
    input_duration, output_duration : float >= 0 [s]
    input_start : float [s]
        Input time that became time 0 of the output (0 when the timing is unchanged).
    scale : float > 0
        Output seconds per input second (1 when the speed is unchanged).
    redactions : tuple of (float, float, str)
        Segments redacted in it, ``(start [s], end [s], reason)`` in input time (marked in the annotations).
    """

    output: str
    input_duration: float
    output_duration: float
    input_start: float = 0.0
    scale: float = 1.0
    redactions: tuple[tuple[float, float, str], ...] = ()

    def identity_timing(self) -> bool:
        """True when output time equals input time."""
        return self.input_start == 0.0 and self.scale == 1.0


@dataclass(frozen=True)
class TextKeys:
    """How names in annotation text become keyed pseudonyms (see :class:`~avanon.annotations.pseudonymize.TextAnonymizer`).

    Attributes
    ----------
    secret : bytes
        The study secret.
    roster : sequence of str or mapping of str to str, optional
        Names to pseudonymize, optionally mapped to speaker keys.
    namer : callable, optional
        Pseudonym function; defaults to :func:`avanon.studykeys.pseudonym`.
    """

    secret: bytes
    roster: Sequence[str] | Mapping[str, str] | None = None
    namer: Namer | None = None


@dataclass
class AnnotationResult:
    """Outcome for one annotation file.

    Attributes
    ----------
    input : str
        Relative to the study root.
    output : str or None
        Relative to the output root; ``None`` when it failed.
    status : {'ok', 'failed'}
    format : str
    media : list of str
        Paired input media, relative to the study root.
    problems : list of str
        Why it failed (tier, annotation and times for misalignments).
    counts : dict of str to int
        Items pseudonymized or replaced (``names``, ``participants``, ``annotators``, ``tiers``,
        ``EMAIL``, ``PHONE``, ``DATE``, ``links``, ``redactions``).
    """

    input: str
    output: str | None = None
    status: Literal["ok", "failed"] = "failed"
    format: str = ""
    media: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def reason(self) -> str:
        """The problems as one line (empty when ok)."""
        return "; ".join(self.problems)


def carry_annotations(
    annotation_path: Path,
    *,
    study_root: Path,
    out_root: Path,
    media: Mapping[str, MediaInfo],
    keys: TextKeys,
    mapping: Mapping[str, list[str]] | None = None,
    output: str | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> AnnotationResult:
    """Anonymize one annotation file and write it under ``out_root``.

    Parameters
    ----------
    annotation_path : Path
        The annotation file (inside ``study_root``).
    study_root, out_root : Path
    media : mapping of str to MediaInfo
        Input media path relative to ``study_root`` -> what the pipeline made of it (with its redacted segments).
    keys : TextKeys
        The study secret, roster and pseudonym function for names in the text.
    mapping : mapping of str to list of str, optional
        Annotation -> media pairs from a mapping file (:func:`~avanon.annotations.pairing.load_media_map`).
    output : str, optional
        Output path relative to ``out_root``; by default the output name of the first paired media
        with the annotation's own suffix and extension.
    tolerance : float >= 0 [s]
        Slack for duration and alignment checks.

    Returns
    -------
    AnnotationResult
    """
    annotation_path = Path(annotation_path)
    try:
        rel = annotation_path.resolve().relative_to(Path(study_root).resolve()).as_posix()
    except ValueError as exc:
        raise ParameterError(f"{annotation_path}: the annotation file is not inside the study root {study_root}") from exc
    result = AnnotationResult(input=rel)
    try:
        doc = read_annotations(annotation_path)
    except AvanonError as exc:
        result.problems.append(str(exc).replace(str(annotation_path), rel))
        return result
    result.format = doc.format
    doc.source = rel

    pairing = pair_media(rel, doc, media.keys(), mapping=mapping)
    if not pairing.media:
        result.problems.append(f"{rel}: no media file of the study pairs with it (by mapping file, media link or name)")
        return result
    result.media = list(pairing.media)
    infos = [media[m] for m in pairing.media]

    problems = [str(p) for p in check_structure(doc)]
    for name, info in zip(pairing.media, infos):
        problems += [str(p) for p in check_durations(info.input_duration, info.output_duration, tolerance=tolerance, name=name)]
    if len(infos) > 1 and not all(i.identity_timing() for i in infos):
        problems.append("annotations span several media whose timing changed; they cannot be re-timed")
    if problems:
        result.problems = [f"{rel}: {p}" for p in problems]
        return result

    first = infos[0]
    if not first.identity_timing():
        retime(doc, linear_time_map(input_start=first.input_start, scale=first.scale))

    anonymizer = TextAnonymizer(keys.secret, keys.roster, namer=keys.namer)
    counts = dict(anonymize_document(doc, anonymizer))

    out_rel = output or _output_name(rel, pairing.media[0], media[pairing.media[0]].output, anonymizer)
    out_dir = posixpath.dirname(out_rel)
    link_map: dict[str, str] = {}
    for link in doc.media:
        target = pairing.links.get(link.path)
        if target is None:
            continue
        media_out = media[target].output
        new = posixpath.splitext(posixpath.basename(media_out))[0] if link.kind == "stem" else posixpath.relpath(media_out, out_dir or ".")
        link_map[link.path] = new
        if link.relative:
            link_map[link.relative] = new
    field_values = {v for _, a in doc.annotations() for f in (a.fields, a.end_fields) for k, v in f.items() if k in doc.media_fields}
    for value in field_values:  # BORIS rows name the media by file name
        match = next((t for p, t in pairing.links.items() if link_basename(p) == link_basename(value)), None)
        if match is not None and value not in link_map:
            link_map[value] = posixpath.relpath(media[match].output, out_dir or ".")

    def unknown(link: str) -> str:
        name = link_basename(link)
        stem, ext = posixpath.splitext(name)
        counts["links"] = counts.get("links", 0) + 1
        return f"unlinked-{anonymizer.namer(keys.secret, 'file', stem)}{ext}"

    relink(doc, link_map, unknown=unknown)
    counts["links"] = counts.get("links", 0) + len({k for k in link_map})

    segments: list[tuple[float, float, str]] = []
    offset = 0.0
    time_map = linear_time_map(input_start=first.input_start, scale=first.scale)
    for info in infos:
        for start, end, reason in info.redactions:
            segments.append((time_map(start) + offset, time_map(end) + offset, reason))
        offset += info.output_duration
    counts["redactions"] = mark_segments(doc, segments)

    duration = sum(i.output_duration for i in infos)
    problems = [str(p) for p in check_within(doc, duration, tolerance=tolerance)]
    if problems:
        result.problems = [f"{rel}: {p}" for p in problems]
        return result
    leftover = [m.path for m in doc.media if is_absolute_link(m.path) or is_absolute_link(m.relative)]
    if leftover:
        result.problems = [f"{rel}: absolute media paths remain after relinking: {len(leftover)}"]
        return result

    target_path = Path(out_root) / out_rel
    try:
        write_annotations(doc, target_path)
    except (AvanonError, OSError) as exc:
        result.problems = [f"{rel}: cannot write {out_rel}: {exc}"]
        return result
    result.output = out_rel
    result.status = "ok"
    result.counts = {k: v for k, v in counts.items() if v}
    return result


def _output_name(rel: str, media_rel: str, media_out: str, anonymizer: TextAnonymizer) -> str:
    """Output name: the media's output stem plus the annotation's own suffix, in the media's output folder.

    ``study/anna/anna_words.TextGrid`` paired with ``study/anna/anna.wav`` -> ``<out>/sub-01_words.TextGrid``;
    an annotation whose stem does not start with the media stem gets a keyed suffix instead, so that
    no original name reaches the output.
    """
    stem, ext = posixpath.splitext(posixpath.basename(rel))
    media_stem = posixpath.splitext(posixpath.basename(media_rel))[0]
    out_stem = posixpath.splitext(posixpath.basename(media_out))[0]
    if stem == media_stem:
        suffix = ""
    elif stem.startswith(media_stem):
        suffix = anonymizer.text(stem[len(media_stem) :])
    else:
        suffix = "_ann-" + anonymizer.namer(anonymizer.secret, "file", rel)
    return posixpath.join(posixpath.dirname(media_out), f"{out_stem}{suffix}{ext}")
