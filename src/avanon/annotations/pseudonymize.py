"""Anonymizing annotation text: roster names become keyed pseudonyms, other personal data placeholders.

Pseudonyms come from :func:`avanon.secrets.pseudonym` (HMAC-SHA256 of the study secret), kind
``"speaker"``, so that a participant gets the same pseudonym in every annotation file, in tier names,
in ELAN ``PARTICIPANT`` attributes, and wherever the voice pipeline names that speaker: the key of a
roster entry is its speaker key (``sub-01`` when the roster maps names to speaker keys, else the
case-folded name). Annotators (ELAN ``ANNOTATOR``, document ``AUTHOR``) get pseudonyms of kind
``"annotator"``. E-mail addresses, phone numbers and calendar dates found in text become
``[EMAIL]``, ``[PHONE]`` and ``[DATE]``.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from avanon.annotations.model import AnnotationDocument, map_text, rename_tiers
from avanon.annotations.safety import read_text
from avanon.errors import ParameterError

Namer = Callable[[bytes, str, str], str]

PII_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("EMAIL", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
    ("DATE", re.compile(r"(?<!\d)(?:\d{4}-\d{2}-\d{2}|\d{1,2}[./]\d{1,2}[./](?:\d{4}|\d{2}))(?!\d)")),
    ("PHONE", re.compile(r"(?<![\w.])\+?\(?\d[\d ()/-]{5,}\d(?![\w.])")),
)
PERSON_ATTRIBUTES = ("PARTICIPANT",)
ANNOTATOR_ATTRIBUTES = ("ANNOTATOR",)


def _default_namer() -> Namer:
    from avanon.secrets import pseudonym

    return pseudonym


def load_roster(path: Path) -> dict[str, str]:
    """Read a roster: a CSV/TSV with a ``name`` column and optionally a ``speaker`` column.

    A name without a speaker key is its own key (case-folded). Also accepted: a plain text file with
    one name per line.

    Raises
    ------
    ParameterError
        A table without a ``name`` column.
    """
    text = read_text(Path(path))
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return {}
    delimiter = "\t" if "\t" in lines[0] else ","
    header = [c.strip().lower() for c in next(csv.reader([lines[0]], delimiter=delimiter))]
    if len(header) == 1 and header[0] != "name":
        return {line.strip(): line.strip().casefold() for line in lines}
    if "name" not in header:
        raise ParameterError(f"{path}: roster needs a 'name' column (and optionally 'speaker'); found {header}")
    roster: dict[str, str] = {}
    for row in csv.DictReader(lines, fieldnames=header, delimiter=delimiter):
        if row is None or row.get("name") in (None, "name"):
            continue
        name = row["name"].strip()
        if name:
            roster[name] = (row.get("speaker") or "").strip() or name.casefold()
    return roster


class TextAnonymizer:
    """Replace roster names and personal data in annotation text.

    Parameters
    ----------
    secret : bytes
        The study secret (see :func:`avanon.secrets.study_secret`).
    roster : sequence of str or mapping of str to str, optional
        Names to replace; a mapping gives each name its speaker key (``{"Anna Smith": "sub-01"}``).
    detect_pii : bool
        Also replace e-mail addresses, phone numbers and dates.
    namer : callable, optional
        ``namer(secret, kind, key) -> str``; defaults to :func:`avanon.secrets.pseudonym`.

    Attributes
    ----------
    counts : Counter
        ``names``, ``EMAIL``, ``PHONE``, ``DATE``, ``participants``, ``annotators``, ``tiers``: how many
        items were replaced.
    """

    def __init__(self, secret: bytes, roster: Sequence[str] | Mapping[str, str] | None = None, *,
                 detect_pii: bool = True, namer: Namer | None = None) -> None:
        if not isinstance(secret, bytes) or len(secret) < 16:
            raise ParameterError("The 'secret' parameter of TextAnonymizer must be bytes of length >= 16.")
        self.secret = secret
        self.namer = namer or _default_namer()
        self.detect_pii = detect_pii
        if roster is None:
            entries: dict[str, str] = {}
        elif isinstance(roster, Mapping):
            entries = {str(k).strip(): str(v).strip() or str(k).strip().casefold() for k, v in roster.items()}
        else:
            entries = {str(name).strip(): str(name).strip().casefold() for name in roster}
        self.roster = {name: key for name, key in entries.items() if name}
        self._lookup = {name.casefold(): key for name, key in self.roster.items()}
        names = sorted(self.roster, key=len, reverse=True)
        self._pattern = (re.compile("(?<!\\w)(" + "|".join(re.escape(n) for n in names) + ")(?!\\w)", re.IGNORECASE)
                         if names else None)
        self.counts: Counter[str] = Counter()

    def speaker(self, key: str) -> str:
        """The pseudonym of a speaker key (what the voice pipeline uses for the same speaker)."""
        return self.namer(self.secret, "speaker", key)

    def text(self, value: str) -> str:
        """``value`` with roster names replaced by speaker pseudonyms and personal data by placeholders."""
        if not value:
            return value
        if self._pattern is not None:
            value, n = self._pattern.subn(lambda m: self.speaker(self._lookup[m.group(1).casefold()]), value)
            self.counts["names"] += n
        if self.detect_pii:
            for label, pattern in PII_PATTERNS:
                value, n = pattern.subn(lambda m: self._pii(label, m.group(0)), value)
                self.counts[label] += n
        return value

    def _pii(self, label: str, found: str) -> str:
        if label == "PHONE" and sum(c.isdigit() for c in found) < 7:
            self.counts[label] -= 1
            return found
        return f"[{label}]"

    def person(self, value: str) -> str:
        """A whole value naming a participant: roster pseudonym, else a pseudonym of the value itself."""
        if not value.strip():
            return value
        self.counts["participants"] += 1
        key = self._lookup.get(value.strip().casefold(), value.strip().casefold())
        return self.speaker(key)

    def annotator(self, value: str) -> str:
        """A whole value naming an annotator or author."""
        if not value.strip():
            return value
        self.counts["annotators"] += 1
        return self.namer(self.secret, "annotator", value.strip().casefold())


def anonymize_document(doc: AnnotationDocument, anonymizer: TextAnonymizer) -> Counter[str]:
    """Anonymize all human-written text of ``doc`` in place.

    Annotation values, text fields and header values go through :meth:`TextAnonymizer.text`; tier
    names too (and ELAN parent references follow); ``PARTICIPANT`` attributes through
    :meth:`~TextAnonymizer.person`; ``ANNOTATOR`` attributes and the ELAN ``AUTHOR`` through
    :meth:`~TextAnonymizer.annotator`.

    Returns
    -------
    Counter
        What was replaced in this document (see :attr:`TextAnonymizer.counts`).
    """
    before = Counter(anonymizer.counts)
    author = doc.header.pop("AUTHOR", None)
    map_text(doc, anonymizer.text)
    if author is not None:
        doc.header["AUTHOR"] = anonymizer.annotator(author)
    renamed = rename_tiers(doc, anonymizer.text)
    anonymizer.counts["tiers"] += len(renamed)
    for tier in doc.tiers:
        for key in PERSON_ATTRIBUTES:
            if tier.attributes.get(key):
                tier.attributes[key] = anonymizer.person(tier.attributes[key])
        for key in ANNOTATOR_ATTRIBUTES:
            if tier.attributes.get(key):
                tier.attributes[key] = anonymizer.annotator(tier.attributes[key])
    return Counter({k: v - before.get(k, 0) for k, v in anonymizer.counts.items() if v - before.get(k, 0)})
