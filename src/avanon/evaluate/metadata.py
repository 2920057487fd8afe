"""Metadata residue: anything identifying left in containers, EXIF, file names or annotation text.

Each anonymized file is inspected on its own, with the study's identifiers (words from the original
file names and any names the steward lists) as extra search terms:

- container tags (format and stream level) other than the technical ones muxers write
  (``encoder``, ``major_brand``, ``handler_name`` ...), and any tag value containing an identifier;
- EXIF / XMP / PNG text in images (``GPSInfo`` is always a finding);
- the output file's relative path: identifiers, dates, e-mail addresses and phone numbers (the
  words of an original that is kept under its own path, such as a stimulus, are not searched for:
  :func:`renamed_originals`);
- annotation text (tier names, values, headers, participant attributes, media links).

Findings are plain records (file, where, what, severity); the metric is their number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from avanon.errors import AvanonError
from avanon.evaluate.base import Metric, Score, score_of
from avanon.registry import Kind, Param, register

if TYPE_CHECKING:
    from avanon.evaluate.media import StudyMedia

# Tags that muxers and encoders write themselves and that say nothing about a person.
TECHNICAL_TAGS = frozenset(
    {
        "encoder",
        "major_brand",
        "minor_version",
        "compatible_brands",
        "handler_name",
        "vendor_id",
        "language",
        "duration",
        "creation_time_removed",
        "encoded_by_avanon",
        "timecode",
        "rotate",
        "software",
    }
)
SEVERE_TAGS = (
    "gps",
    "location",
    "xyz",
    "artist",
    "author",
    "creator",
    "copyright",
    "comment",
    "title",
    "date",
    "creation_time",
    "make",
    "model",
    "serial",
    "owner",
    "camera",
    "device",
    "user",
)
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
# a phone number: an optional +country code, an optional (area code), then groups of 2-4 digits
# joined by single spaces, dots or hyphens, 9-15 digits in all (555 123 4567, +44 20 7946 0958,
# (555) 123-4567; see _phone); groups of 5 or more digits are identifiers such as LibriSpeech's
# speaker-chapter-utterance 1688-142285-0000, and 8 digits are dates
PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?)?\d{2,4}(?:[ .-]\d{2,4}){1,4}(?![\w-])")
# in running text (not in file names, where long digit runs are ids and times) also 10-13 digits in a row
PHONE_RUN = re.compile(r"(?<![\w+])\+?\d{10,13}(?!\w)")
DATE = re.compile(r"(?<!\d)(?:19|20)\d{2}[-_.]?(?:0[1-9]|1[0-2])[-_.]?(?:0[1-9]|[12]\d|3[01])(?!\d)")
BIDS_ENTITY = re.compile(r"^(sub|ses|task|acq|run|rec|echo|part|desc|mod|recording)-[A-Za-z0-9]+$")
COMMON_WORDS = frozenset(
    {
        "video",
        "audio",
        "clip",
        "recording",
        "rec",
        "session",
        "interview",
        "task",
        "test",
        "sample",
        "demo",
        "example",
        "examples",
        "data",
        "file",
        "files",
        "the",
        "and",
        "of",
        "mp4",
        "wav",
        "avi",
        "mov",
        "mkv",
        "final",
        "raw",
        "anon",
        "anonymized",
        "short",
        "long",
        "part",
        "take",
        "camera",
    }
)


@dataclass(frozen=True)
class Finding:
    """One piece of possibly identifying metadata."""

    file: str
    where: str  # "container", "stream 0", "exif", "file name", "annotation"
    what: str
    severity: str = "warning"  # "warning" or "severe"

    def to_json(self) -> dict[str, str]:
        return {"file": self.file, "where": self.where, "what": self.what, "severity": self.severity}


def identifiers_from_names(paths: Iterable[str | Path]) -> set[str]:
    """Words of the original file names that may name a person or place.

    BIDS entities (``sub-01``), numbers, extension-like and common words, and words under 3
    letters are left out.
    """
    found: set[str] = set()
    for path in paths:
        for part in Path(path).with_suffix("").parts:
            for chunk in re.split(r"[\s_./]+", part):
                if BIDS_ENTITY.match(chunk):
                    continue
                for token in chunk.split("-"):
                    if len(token) < 3 or token.isdigit() or token.lower() in COMMON_WORDS:
                        continue
                    found.add(token.lower())
    return found


def renamed_originals(originals: Iterable[str | Path], outputs: Iterable[str | Path]) -> list[str]:
    """The original paths that no output keeps (extension aside): their words are search terms.

    A file the recipe passes through under its own relative path (a stimulus photo such as
    ``stimuli/photos/street.jpg``) is not a participant's name: searching its own words in its own
    name only restates that the name was kept and flags generic words (``stimuli``, ``street``).
    Whether a kept name identifies someone is judged by the other checks: the steward's
    identifiers (roster names, participant codes), dates, e-mail addresses and phone numbers. Words
    of a renamed original stay search terms everywhere, also in the names of kept files.
    """
    kept = {Path(o).with_suffix("").as_posix() for o in outputs}
    return [str(o) for o in originals if Path(o).with_suffix("").as_posix() not in kept]


def _phone(text: str, *, in_file_name: bool) -> bool:
    """Whether ``text`` holds a phone number (:data:`PHONE`; in running text also :data:`PHONE_RUN`)."""
    if any(9 <= sum(c.isdigit() for c in m.group()) <= 15 for m in PHONE.finditer(text)):
        return True
    return not in_file_name and PHONE_RUN.search(text) is not None


def _text_findings(text: str, identifiers: set[str], *, file: str, where: str) -> Iterator[Finding]:
    lowered = text.lower()
    for word in sorted(identifiers):
        if re.search(rf"(?<![a-z0-9]){re.escape(word)}(?![a-z0-9])", lowered):
            yield Finding(file, where, f"contains the identifier {word!r}", "severe")
    phone = _phone(text, in_file_name=where == "file name")
    for label, found in (("an e-mail address", EMAIL.search(text)), ("a phone number", phone), ("a date", DATE.search(text))):
        if found:
            yield Finding(file, where, f"contains {label}", "warning" if label == "a date" else "severe")


def container_findings(path: Path, identifiers: set[str], *, name: str) -> list[Finding]:
    """Tags of the container and its streams that are not technical, or that name someone."""
    import av

    findings: list[Finding] = []
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            sources = [("container", dict(container.metadata))]
            sources += [(f"stream {s.index}", dict(s.metadata)) for s in container.streams]
    except av.error.FFmpegError as exc:
        return [Finding(name, "container", f"cannot be read to check its tags ({exc})", "severe")]
    for where, tags in sources:
        for key, value in tags.items():
            lowered = key.lower()
            if lowered not in TECHNICAL_TAGS:
                severity = "severe" if any(s in lowered for s in SEVERE_TAGS) else "warning"
                findings.append(Finding(name, where, f"tag {key!r} is present", severity))
            findings += _text_findings(str(value), identifiers, file=name, where=f"{where} tag {key!r}")
    return findings


def image_findings(path: Path, identifiers: set[str], *, name: str) -> list[Finding]:
    """EXIF, XMP and PNG text chunks left in an image."""
    from PIL import ExifTags, Image

    findings: list[Finding] = []
    with Image.open(path) as image:
        exif = image.getexif()
        for tag, value in exif.items():
            label = ExifTags.TAGS.get(tag, str(tag))
            if label == "Orientation":
                continue
            severe = ("GPSInfo", "Make", "Model", "Artist", "Copyright", "BodySerialNumber", "DateTimeOriginal", "DateTime")
            severity = "severe" if label in severe else "warning"
            findings.append(Finding(name, "exif", f"EXIF {label} is present", severity))
            findings += _text_findings(str(value), identifiers, file=name, where=f"exif {label}")
        for key, value in (image.info or {}).items():
            if key in (
                "dpi",
                "gamma",
                "transparency",
                "aspect",
                "jfif",
                "jfif_version",
                "jfif_unit",
                "jfif_density",
                "progressive",
                "progression",
                "interlace",
                "srgb",
                "icc_profile",
                "exif",
            ):
                continue
            findings.append(Finding(name, "image info", f"{key!r} is present", "severe" if key in ("xmp", "XML:com.adobe.xmp") else "warning"))
            findings += _text_findings(str(value), identifiers, file=name, where=f"image info {key!r}")
    return findings


def annotation_findings(path: Path, identifiers: set[str], *, name: str) -> list[Finding]:
    """Identifiers, e-mail addresses, phone numbers and dates in an annotation file's text."""
    from avanon.annotations.formats import read_annotations

    try:
        doc = read_annotations(path)
    except AvanonError as exc:
        return [Finding(name, "annotation", f"cannot be read to check its text ({exc})", "severe")]
    texts: list[tuple[str, str]] = [(f"header {k!r}", str(v)) for k, v in doc.header.items()]
    texts += [("media link", f"{m.path} {m.relative}") for m in doc.media]
    for tier in doc.tiers:
        texts.append((f"tier name {tier.name!r}", tier.name))
        texts += [(f"tier {tier.name!r} attribute {k!r}", str(v)) for k, v in tier.attributes.items()]
        for ann in tier.annotations:
            texts.append((f"tier {tier.name!r} annotation {ann.id or ann.onset}", ann.value))
            texts += [(f"tier {tier.name!r} field {k!r}", str(v)) for k, v in ann.fields.items()]
    findings: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    for where, text in texts:
        for f in _text_findings(text, identifiers, file=name, where="annotation " + where):
            if (f.what, where.split(" annotation ")[0]) not in seen:  # one finding per tier and kind
                seen.add((f.what, where.split(" annotation ")[0]))
                findings.append(f)
    return findings


@dataclass
class MetadataReport:
    """Every finding over a set of anonymized files."""

    files: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def severe(self) -> int:
        return sum(1 for f in self.findings if f.severity == "severe")

    def to_json(self) -> dict[str, Any]:
        return {"files": self.files, "findings": len(self.findings), "severe": self.severe, "items": [f.to_json() for f in self.findings]}


def metadata_residue(root: Path, files: Iterable[str], *, originals: Iterable[str] = (), identifiers: Iterable[str] = ()) -> MetadataReport:
    """Check anonymized ``files`` (paths relative to ``root``) for identifying metadata.

    Parameters
    ----------
    root : Path
        The anonymized output folder.
    files : iterable of str
        Relative paths of the anonymized files (media and annotations).
    originals : iterable of str
        Relative paths of the original files; the words of those renamed by the anonymization
        become identifiers to search for (:func:`renamed_originals`).
    identifiers : iterable of str
        More names or codes to search for (case-insensitive).
    """
    from avanon.annotations.formats import is_annotation
    from avanon.media.probe import media_kind

    files = list(files)
    terms = identifiers_from_names(renamed_originals(originals, files)) | {str(i).lower() for i in identifiers if str(i).strip()}
    report = MetadataReport()
    for rel in files:
        path = Path(root) / rel
        report.files += 1
        report.findings += _text_findings(rel, terms, file=rel, where="file name")
        kind = media_kind(path)
        if kind in ("video", "audio"):
            report.findings += container_findings(path, terms, name=rel)
        elif kind == "image":
            report.findings += image_findings(path, terms, name=rel)
        elif is_annotation(path):
            report.findings += annotation_findings(path, terms, name=rel)
    return report


@register
class MetadataResidue(Metric):
    """Number of identifying metadata findings in the anonymized files (lower is better)."""

    name = "metadata_residue"
    direction = "lower"
    aspect = "privacy"
    params = {"identifiers": Param((), Kind((tuple,)), "extra names or codes to search for")}

    def measure(self, root: Path, files: Iterable[str], *, originals: Iterable[str] = ()) -> Score:
        report = metadata_residue(root, files, originals=originals, identifiers=self.identifiers)
        return score_of(self, len(report.findings), n=report.files, severe=report.severe, items=[f.to_json() for f in report.findings[:200]])

    def measure_study(self, study: StudyMedia) -> list[Score]:
        """Findings in every media output and annotation file of the release (the study's identifiers added)."""
        context = study.context
        outputs = [p.output for p in study.pairs] + annotation_outputs(context.anonymized_dir)
        identifiers = tuple(self.identifiers) + tuple(context.identifiers)
        report = metadata_residue(context.anonymized_dir, outputs, originals=[p.input for p in study.pairs], identifiers=identifiers)
        study.evaluation.metadata = report.to_json()
        return [score_of(self, float(len(report.findings)), n=report.files, severe=report.severe)]


def annotation_outputs(anonymized_dir: Path) -> list[str]:
    """Annotation files in the anonymized folder (relative paths; the run manifest left out)."""
    from avanon.annotations.formats import is_annotation

    found = []
    for path in sorted(Path(anonymized_dir).rglob("*")):
        if path.is_file() and path.name != "avanon_manifest.json" and is_annotation(path):
            found.append(path.relative_to(anonymized_dir).as_posix())
    return found
