"""Alignment checks: do the annotations still fit the anonymized media?

Three checks, each returning :class:`Problem` records rather than raising, so that a caller can list
everything wrong with a file at once:

* :func:`check_structure`: times that are negative, an offset before its onset, and overlapping
  intervals inside a TextGrid interval tier (which Praat cannot represent);
* :func:`check_within`: every annotation (and the TextGrid extent) lies within the media duration;
* :func:`check_durations`: the output media lasts as long as the input (within a tolerance).
"""

from __future__ import annotations

from dataclasses import dataclass

from avanon.annotations.model import AnnotationDocument

DEFAULT_TOLERANCE = 0.05
"""Allowed slack [s]: about one video frame at 20 fps, more than ELAN's 1 ms and BORIS's 1 ms steps."""


@dataclass(frozen=True)
class Problem:
    """One misalignment or structural problem, phrased for a person.

    Attributes
    ----------
    tier : str
        Tier name; empty for document-level problems.
    annotation : str
        The annotation's id and value (see :meth:`Annotation.label`), empty for tier/document problems.
    onset, offset : float or None [s]
    message : str
    """

    tier: str
    annotation: str
    onset: float | None
    offset: float | None
    message: str

    def __str__(self) -> str:
        where = []
        if self.tier or self.annotation:
            where.append(f"tier {self.tier!r}")
        if self.annotation:
            where.append(f"annotation {self.annotation}")
        if self.onset is not None or self.offset is not None:
            where.append(f"{_t(self.onset)}-{_t(self.offset)} s")
        return (", ".join(where) + ": " if where else "") + self.message


def _t(value: float | None) -> str:
    return "?" if value is None else f"{value:.3f}"


def check_structure(doc: AnnotationDocument) -> list[Problem]:
    """Negative times, offsets before onsets, and overlaps inside TextGrid interval tiers."""
    problems: list[Problem] = []
    for tier in doc.tiers:
        for ann in tier.annotations:
            if (ann.onset is not None and ann.onset < 0) or (ann.offset is not None and ann.offset < 0):
                problems.append(Problem(tier.name, ann.label(), ann.onset, ann.offset, "negative time"))
            if ann.onset is not None and ann.offset is not None and ann.offset < ann.onset:
                problems.append(Problem(tier.name, ann.label(), ann.onset, ann.offset, "ends before it starts"))
        if doc.format == "textgrid" and tier.kind == "interval":
            timed = sorted((a for a in tier.annotations if a.onset is not None and a.offset is not None), key=lambda a: (a.onset, a.offset))
            for previous, current in zip(timed, timed[1:]):
                if current.onset < previous.offset - 1e-9:  # type: ignore[operator]
                    problems.append(
                        Problem(
                            tier.name,
                            current.label(),
                            current.onset,
                            current.offset,
                            f"overlaps {previous.label()} ({_t(previous.onset)}-{_t(previous.offset)} s)",
                        )
                    )
    return problems


def check_within(doc: AnnotationDocument, duration: float, *, tolerance: float = DEFAULT_TOLERANCE) -> list[Problem]:
    """Annotations (and the TextGrid extent) that end after ``duration`` [s] or start before 0.

    Parameters
    ----------
    duration : float >= 0 [s]
        Duration of the (anonymized) media the annotations belong to.
    tolerance : float >= 0 [s]
    """
    problems: list[Problem] = []
    limit = duration + tolerance
    for tier in doc.tiers:
        for ann in tier.annotations:
            times = [t for t in (ann.onset, ann.offset) if t is not None]
            if times and max(times) > limit:
                problems.append(Problem(tier.name, ann.label(), ann.onset, ann.offset, f"ends after the media, which lasts {duration:.3f} s"))
            if ann.onset is not None and ann.onset < -tolerance:
                problems.append(Problem(tier.name, ann.label(), ann.onset, ann.offset, "starts before the media"))
    if doc.extent is not None and doc.extent[1] > limit:
        problems.append(
            Problem("", "", doc.extent[0], doc.extent[1], f"document extent ends at {doc.extent[1]:.3f} s, after the media, which lasts {duration:.3f} s")
        )
    return problems


def check_durations(input_duration: float, output_duration: float, *, tolerance: float = DEFAULT_TOLERANCE, name: str = "media") -> list[Problem]:
    """A problem if the anonymized media does not last as long as the original.

    Parameters
    ----------
    input_duration, output_duration : float >= 0 [s]
    tolerance : float >= 0 [s]
    """
    if abs(input_duration - output_duration) <= tolerance:
        return []
    return [
        Problem(
            "",
            "",
            None,
            None,
            f"{name} lasts {output_duration:.3f} s after anonymization but {input_duration:.3f} s "
            f"before (difference {output_duration - input_duration:+.3f} s, tolerance {tolerance} s)",
        )
    ]
