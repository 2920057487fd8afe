"""Praat TextGrid files (interval and point tiers, short and long text formats) through praatio.

Files are decoded here (UTF-8 or UTF-16, with or without byte-order mark; anything else fails with the
line and byte), parsed by praatio's text parser with empty intervals kept, and written back in the
format they came in, UTF-8, with every interval as it was (no blanks filled, none dropped).
"""

from __future__ import annotations

import math
from pathlib import Path

from praatio.utilities import textgrid_io
from praatio.utilities.constants import INTERVAL_TIER, POINT_TIER, Interval, Point

from avanon.annotations.model import Annotation, AnnotationDocument, Tier
from avanon.annotations.safety import read_text
from avanon.errors import MediaError, ParameterError
from avanon.files import write_atomic

FORMATS = ("long_textgrid", "short_textgrid")


def read_textgrid(path: Path) -> AnnotationDocument:
    """Read a TextGrid file.

    Raises
    ------
    MediaError
        Undecodable text, a file praatio cannot parse, or non-numeric or non-finite times (named by
        tier and entry).
    """
    path = Path(path)
    text = read_text(path)
    if "TextGrid" not in text[:400]:
        raise MediaError(f"{path}: not a Praat TextGrid (no 'Object class = \"TextGrid\"' header)")
    try:
        parsed = textgrid_io.parseTextgridStr(text, includeEmptyIntervals=True)
    except Exception as exc:  # praatio raises IndexError/ValueError/AttributeError on broken files
        raise MediaError(f"{path}: cannot parse TextGrid ({type(exc).__name__}: {exc})") from exc
    fmt = "short_textgrid" if "ooTextFile short" in text[:200] or "item [" not in text else "long_textgrid"
    doc = AnnotationDocument(format="textgrid", source=str(path), options={"textgrid_format": fmt})
    doc.extent = (_number(parsed["xmin"], path, "xmin"), _number(parsed["xmax"], path, "xmax"))
    for index, raw in enumerate(parsed["tiers"], start=1):
        name = raw["name"]
        place = f"tier {index} ({name!r})"
        if raw["class"] == INTERVAL_TIER:
            kind = "interval"
            anns = [
                Annotation(onset=_number(e.start, path, f"{place}, interval {i}"), offset=_number(e.end, path, f"{place}, interval {i}"), value=e.label)
                for i, e in enumerate(raw["entries"], start=1)
            ]
        elif raw["class"] == POINT_TIER:
            kind = "point"
            anns = []
            for i, e in enumerate(raw["entries"], start=1):
                time = _number(e.time, path, f"{place}, point {i}")
                anns.append(Annotation(onset=time, offset=time, value=e.label))
        else:
            raise MediaError(f"{path}: {place} has unknown class {raw['class']!r}; allowed: IntervalTier, TextTier")
        extent = (_number(raw["xmin"], path, place), _number(raw["xmax"], path, place))
        doc.tiers.append(Tier(name=name, kind=kind, annotations=anns, extent=extent))
    return doc


def _number(value: object, path: Path, place: str) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise MediaError(f"{path}: {place}: time {value!r} is not a number") from exc
    if not math.isfinite(number):
        raise MediaError(f"{path}: {place}: time {value!r} is not finite")
    return 0.0 if number == 0 else number  # Praat writes -0


def write_textgrid(doc: AnnotationDocument, path: Path) -> None:
    """Write ``doc`` as a TextGrid (atomically), in its original short or long format.

    Tiers of kind ``interval`` and ``event`` become interval tiers, ``point`` tiers point tiers.
    Points and intervals without times cannot be written and raise :class:`ParameterError`.
    """
    fmt = doc.options.get("textgrid_format", "long_textgrid")
    if fmt not in FORMATS:
        raise ParameterError(f"The 'textgrid_format' option must be one of {FORMATS}. Got {fmt!r} instead.")
    times = [t for _, a in doc.annotations() for t in (a.onset, a.offset) if t is not None]
    xmin, xmax = doc.extent if doc.extent is not None else (min(times, default=0.0), max(times, default=0.0))
    tiers = []
    for tier in doc.tiers:
        tmin, tmax = tier.extent if tier.extent is not None else (xmin, xmax)
        entries: list[Interval | Point] = []
        for ann in tier.annotations:
            if ann.onset is None or ann.offset is None:
                raise ParameterError(f"{doc.source}: tier {tier.name!r}: annotation {ann.label()} has no time")
            if tier.kind == "point":
                entries.append(Point(ann.onset, ann.value))
            else:
                entries.append(Interval(ann.onset, ann.offset, ann.value))
        tiers.append({"class": POINT_TIER if tier.kind == "point" else INTERVAL_TIER, "name": tier.name, "xmin": tmin, "xmax": tmax, "entries": entries})
    data = {"xmin": xmin, "xmax": xmax, "tiers": tiers}
    text = textgrid_io.getTextgridAsStr(data, fmt, includeBlankSpaces=False, minimumIntervalLength=None)
    write_atomic(Path(path), text.encode("utf-8"))
