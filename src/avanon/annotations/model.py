"""The common in-memory model of annotation files: documents, tiers and annotations, times in seconds.

Every reader (ELAN, TextGrid, RTTM, BORIS, plain CSV) returns an :class:`AnnotationDocument` and every
writer takes one. What a format holds beyond this model (ELAN linguistic types and controlled
vocabularies, BORIS header rows, ...) travels in :attr:`AnnotationDocument.native` or in the
per-annotation ``fields`` so that read -> write -> read gives the same tiers, times and values.

The operations that anonymization needs work on the model alone and are the same for every format:
:func:`retime` (apply a time map), :func:`map_text` (rewrite every human-written string),
:func:`rename_tiers`, :func:`relink` (rewrite media links) and :func:`mark_segments` (add a tier of
redacted segments).
"""

from __future__ import annotations

import ntpath
import posixpath
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

TierKind = Literal["interval", "point", "reference", "event"]
"""``interval``: onset < offset, non-overlapping in TextGrid; ``point``: onset == offset;
``reference``: ELAN symbolic tiers whose times come from the parent; ``event``: a BORIS subject whose
annotations mix point and state events."""

REDACTED_TIER = "avanon-redacted"
"""Name of the tier that lists the segments redacted in the audio or video."""

_WINDOWS_ABS = re.compile(r"^[A-Za-z]:[\\/]")


@dataclass
class Annotation:
    """One annotation.

    Attributes
    ----------
    onset, offset : float or None [s]
        Start and end time from the start of the media; equal for a point; ``None`` where the format
        leaves the time open (ELAN unaligned time slots, symbolic subdivisions).
    value : str
        The annotation text or label.
    id : str
        Identifier inside the file (ELAN annotation id, row number); empty for new annotations.
    ref : str
        Id of the parent annotation (ELAN reference annotations); empty otherwise.
    fields : dict of str to str
        Other columns of tabular formats (RTTM fields, BORIS and CSV columns).
    end_fields : dict of str to str
        Columns of the closing row of a BORIS state event (START/STOP exports).
    """

    onset: float | None
    offset: float | None
    value: str = ""
    id: str = ""
    ref: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    end_fields: dict[str, str] = field(default_factory=dict)

    def label(self) -> str:
        """A short description for messages: the id if there is one, then the value."""
        value = self.value if len(self.value) <= 40 else self.value[:37] + "..."
        return f"{self.id} {value!r}".strip() if self.id else repr(value)


@dataclass
class Tier:
    """A named sequence of annotations of one kind.

    Attributes
    ----------
    name : str
    kind : {'interval', 'point', 'reference', 'event'}
    annotations : list of Annotation
    attributes : dict of str to str
        Format attributes (ELAN ``PARTICIPANT``, ``ANNOTATOR``, ``PARENT_REF``,
        ``LINGUISTIC_TYPE_REF``; RTTM ``type``).
    extent : tuple of float or None [s]
        ``(xmin, xmax)`` of TextGrid tiers.
    """

    name: str
    kind: TierKind = "interval"
    annotations: list[Annotation] = field(default_factory=list)
    attributes: dict[str, str] = field(default_factory=dict)
    extent: tuple[float, float] | None = None


@dataclass
class MediaLink:
    """A reference from an annotation file to a media file.

    Attributes
    ----------
    path : str
        The link as written (an absolute URL or path, a relative path, or a recording id for
        ``kind="stem"``).
    relative : str
        A second, relative form (ELAN ``RELATIVE_MEDIA_URL``); empty if the format has none.
    mime : str
    kind : {'path', 'stem'}
        ``stem`` for formats that name the recording without extension (RTTM file ids).
    role : {'media', 'linked'}
        ``linked`` for secondary files (ELAN linked file descriptors).
    """

    path: str
    relative: str = ""
    mime: str = ""
    kind: Literal["path", "stem"] = "path"
    role: Literal["media", "linked"] = "media"


@dataclass
class AnnotationDocument:
    """One annotation file in memory.

    Attributes
    ----------
    format : str
        ``elan``, ``textgrid``, ``rttm``, ``boris`` or ``csv``.
    tiers : list of Tier
    media : list of MediaLink
    extent : tuple of float or None [s]
        Document start and end (TextGrid ``xmin``/``xmax``).
    header : dict of str to str
        Human-written header values (ELAN ``AUTHOR`` and properties, BORIS metadata rows).
    media_fields : tuple of str
        Names of annotation fields that hold media links (BORIS ``Media file path``, RTTM ``file``).
    options : dict
        How the file was written (TextGrid short/long, CSV delimiter and columns, time unit).
    native : Any
        The reader's own object for what the model does not hold; writers start from it.
    source : str
        Name of the file it was read from, for messages.
    """

    format: str
    tiers: list[Tier] = field(default_factory=list)
    media: list[MediaLink] = field(default_factory=list)
    extent: tuple[float, float] | None = None
    header: dict[str, str] = field(default_factory=dict)
    media_fields: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    native: Any = None
    source: str = ""

    def tier(self, name: str) -> Tier:
        """The first tier called ``name``; raises ``KeyError`` naming the tiers there are."""
        for tier in self.tiers:
            if tier.name == name:
                return tier
        raise KeyError(f"No tier {name!r} in {self.source or 'document'}; tiers: {[t.name for t in self.tiers]}")

    def annotations(self) -> Iterator[tuple[Tier, Annotation]]:
        """Every ``(tier, annotation)`` pair in file order."""
        for tier in self.tiers:
            for annotation in tier.annotations:
                yield tier, annotation

    def count(self) -> int:
        """Number of annotations in all tiers."""
        return sum(len(t.annotations) for t in self.tiers)


TimeMap = Callable[[float], float]


def linear_time_map(*, input_start: float = 0.0, scale: float = 1.0) -> TimeMap:
    """A time map ``t -> (t - input_start) * scale``.

    Parameters
    ----------
    input_start : float >= 0 [s]
        Input time that becomes time 0 of the output (a leading stretch the output dropped).
    scale : float > 0
        Output seconds per input second (1 when the speed is unchanged).
    """
    if scale <= 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    return lambda t: (t - input_start) * scale


def retime(doc: AnnotationDocument, time_map: TimeMap) -> None:
    """Apply ``time_map`` to every time of ``doc`` in place (annotations, tier and document extents).

    Writers of formats with shared time slots (ELAN) carry the new times back into their slots, so a
    time map must be a function of the time alone.
    """
    for tier in doc.tiers:
        for ann in tier.annotations:
            if ann.onset is not None:
                ann.onset = time_map(ann.onset)
            if ann.offset is not None:
                ann.offset = time_map(ann.offset)
        if tier.extent is not None:
            tier.extent = (time_map(tier.extent[0]), time_map(tier.extent[1]))
    if doc.extent is not None:
        doc.extent = (time_map(doc.extent[0]), time_map(doc.extent[1]))


def map_text(doc: AnnotationDocument, text: Callable[[str], str], *, skip_fields: tuple[str, ...] = ()) -> None:
    """Rewrite every annotation value, every text field and every header value with ``text``.

    Media-link fields (``doc.media_fields``) and the fields named in ``skip_fields`` are left alone;
    tier names and attributes are handled by :func:`rename_tiers` and the caller.
    """
    skipped = set(doc.media_fields) | set(skip_fields)
    for _, ann in doc.annotations():
        ann.value = text(ann.value)
        for fields in (ann.fields, ann.end_fields):
            for key, value in fields.items():
                if key not in skipped and not key.startswith("_"):
                    fields[key] = text(value)
    for key, value in doc.header.items():
        doc.header[key] = text(value)


def rename_tiers(doc: AnnotationDocument, rename: Callable[[str], str]) -> dict[str, str]:
    """Rename tiers with ``rename`` and update ELAN ``PARENT_REF`` attributes to match.

    Returns
    -------
    dict of str to str
        Old name -> new name for the tiers whose name changed.
    """
    changed: dict[str, str] = {}
    for tier in doc.tiers:
        new = rename(tier.name)
        if new != tier.name:
            changed[tier.name] = new
            tier.name = new
    for tier in doc.tiers:
        parent = tier.attributes.get("PARENT_REF")
        if parent in changed:
            tier.attributes["PARENT_REF"] = changed[parent]
    return changed


def is_absolute_link(link: str) -> bool:
    """True for ``file:`` URLs, POSIX absolute paths, Windows drive and UNC paths."""
    return link.startswith(("file:", "/", "\\\\")) or bool(_WINDOWS_ABS.match(link))


def link_basename(link: str) -> str:
    """The last path component of a link written with either separator, URL prefix removed."""
    if link.startswith("file:"):
        link = link[5:]
    return ntpath.basename(posixpath.basename(link)) if "\\" in link else posixpath.basename(link)


def relink(doc: AnnotationDocument, mapping: Mapping[str, str], *, unknown: Callable[[str], str]) -> None:
    """Rewrite media links in place.

    Parameters
    ----------
    mapping : mapping of str to str
        Link as written in the file (either form of a :class:`MediaLink`, or a value of a media
        field) -> new link.
    unknown : callable
        Called for each non-empty link not in ``mapping``; returns what to write instead (for example
        a pseudonymous base name), so that no absolute path or identifying name survives.
    """

    def new(link: str) -> str:
        if not link:
            return link
        return mapping[link] if link in mapping else unknown(link)

    for link in doc.media:
        target = mapping.get(link.path) or mapping.get(link.relative)
        if target is not None:
            link.path = target
            link.relative = target if link.relative else ""
        else:
            link.path = new(link.path)
            link.relative = new(link.relative)
    fields = set(doc.media_fields)
    for _, ann in doc.annotations():
        for store in (ann.fields, ann.end_fields):
            for key in fields & store.keys():
                store[key] = new(store[key])
    for key in doc.options.get("header_media_keys", ()):
        if key in doc.header:
            doc.header[key] = new(doc.header[key])


def mark_segments(doc: AnnotationDocument, segments: list[tuple[float, float, str]], *, name: str = REDACTED_TIER) -> int:
    """Add (or extend) a tier ``name`` with one interval per redacted segment.

    Parameters
    ----------
    segments : list of (float, float, str)
        ``(start [s], end [s], reason)`` in the document's (output) time.

    Returns
    -------
    int
        Number of intervals added.
    """
    if not segments:
        return 0
    try:
        tier = doc.tier(name)
    except KeyError:
        extent = doc.extent
        tier = Tier(name=name, kind="interval", extent=extent)
        doc.tiers.append(tier)
    for start, end, reason in sorted(segments):
        tier.annotations.append(Annotation(onset=float(start), offset=float(end), value=reason or "redacted"))
    tier.annotations.sort(key=lambda a: (a.onset or 0.0, a.offset or 0.0))
    return len(segments)
