"""Anonymizing annotation text: roster names become keyed pseudonyms, other personal data placeholders.

Pseudonyms come from :func:`avanon.studykeys.pseudonym` (HMAC-SHA256 of the study secret), kind
``"speaker"``, so that a participant gets the same pseudonym in every annotation file, in tier names,
in ELAN ``PARTICIPANT`` attributes, and wherever the voice pipeline names that speaker: the key of a
roster entry is its speaker key (``sub-01`` when the roster maps names to speaker keys, else the
case-folded name). Annotators (ELAN ``ANNOTATOR``, document ``AUTHOR``) get pseudonyms of kind
``"annotator"``. E-mail addresses, phone numbers and calendar dates found in text become
``[EMAIL]``, ``[PHONE]`` and ``[DATE]``; street addresses, places and ID numbers, found by the
transcript recognizers of :mod:`avanon.pii.recognizers` (:func:`~avanon.pii.recognizers.find_pii_text`: regex
recognizers, spaCy's entities and Microsoft Presidio's analyzer, all offline), become ``[ADDRESS]``,
``[PLACE]`` and ``[ID_NUMBER]`` (Presidio's checksum-validated numbers, such as IBANs and card
numbers, are taken as they are).

Behavioural codes must survive: a value that is one token (``CHI``, ``vocalization``, ``0``,
``a4390``) is a code, and only roster names, roster places, e-mail addresses, phone numbers and dates
are replaced in it. Addresses, spaCy places and ID numbers are looked for in values of two or more
words only, spaCy entities only where they hold a word that starts with a capital followed by a
small letter, and an ID
number needs five or more digits in one token (so counts, times and ``a4390``-style ids stay).
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
    (
        "DATE",
        re.compile(
            r"(?<!\d)(?:\d{4}-\d{2}-\d{2}|\d{1,2}[./]\d{1,2}[./](?:\d{4}|\d{2})"
            r"|\d{1,2}-(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)-\d{4})(?!\d)"
        ),
    ),
    ("PHONE", re.compile(r"(?<![\w.])\+?\(?\d[\d ()/-]{5,}\d(?!\w|\.\d)")),
)
TEXT_PII = ("ADDRESS", "PLACE", "ID_NUMBER")
"""Categories of :func:`avanon.pii.recognizers.find_pii_text` replaced in annotation text."""
_ID_MIN_DIGITS = 5
_TITLE_WORD = re.compile(r"\b[A-Z][a-z]")
PERSON_ATTRIBUTES = ("PARTICIPANT",)
ANNOTATOR_ATTRIBUTES = ("ANNOTATOR",)


def _default_namer() -> Namer:
    from avanon.studykeys import pseudonym

    return pseudonym


def load_roster(path: Path) -> dict[str, str]:
    """Read a roster: a CSV/TSV with a ``name`` column and optionally a ``speaker`` column.

    A name without a speaker key is its own key (case-folded). Also accepted: a plain text file with
    one name per line (lines starting with ``#`` are comments). ``avanon run --roster`` reads it.

    Raises
    ------
    ParameterError
        A table without a ``name`` column.
    """
    text = read_text(Path(path))
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
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
        The study secret (see :func:`avanon.studykeys.study_secret`).
    roster : sequence of str or mapping of str to str, optional
        Names to replace; a mapping gives each name its speaker key (``{"Anna Smith": "sub-01"}``).
    detect_pii : bool
        Also replace e-mail addresses, phone numbers, dates, addresses, places and ID numbers.
    places : sequence of str, optional
        Place names of the study (home towns, schools, clinics) replaced by ``[PLACE]`` wherever
        they occur, one-token values included.
    use_spacy : bool
        Also use spaCy's place and facility entities when the pinned English model is installed.
    namer : callable, optional
        ``namer(secret, kind, key) -> str``; defaults to :func:`avanon.studykeys.pseudonym`.

    Attributes
    ----------
    counts : Counter
        ``names``, ``EMAIL``, ``PHONE``, ``DATE``, ``ADDRESS``, ``PLACE``, ``ID_NUMBER``, ``participants``, ``annotators``, ``tiers``: how many
        items were replaced.
    """

    def __init__(
        self,
        secret: bytes,
        roster: Sequence[str] | Mapping[str, str] | None = None,
        *,
        detect_pii: bool = True,
        places: Sequence[str] = (),
        use_spacy: bool = True,
        namer: Namer | None = None,
    ) -> None:
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
        self._pattern = re.compile("(?<!\\w)(" + "|".join(re.escape(n) for n in names) + ")(?!\\w)", re.IGNORECASE) if names else None
        self.counts: Counter[str] = Counter()
        self.places = [p.strip() for p in places if p.strip()]
        self.use_spacy = use_spacy
        self._found: dict[str, list[tuple[int, int, str]]] = {}

    def add_names(self, names: Mapping[str, str]) -> None:
        """Also replace ``names`` (name -> speaker key) from now on; names already known keep their key."""
        for name, key in names.items():
            name = name.strip()
            if name and name.casefold() not in self._lookup:
                self.roster[name] = key
                self._lookup[name.casefold()] = key
        ordered = sorted(self.roster, key=len, reverse=True)
        if ordered:
            self._pattern = re.compile("(?<!\\w)(" + "|".join(re.escape(n) for n in ordered) + ")(?!\\w)", re.IGNORECASE)
        self._found.clear()

    def speaker(self, key: str) -> str:
        """The pseudonym of a speaker key (what the voice pipeline uses for the same speaker)."""
        return self.namer(self.secret, "speaker", key)

    def text(self, value: str) -> str:
        """``value`` with roster names replaced by speaker pseudonyms and personal data by placeholders."""
        if not value:
            return value
        if self.detect_pii:
            value = self._text_pii(value)
        if self._pattern is not None:
            value, n = self._pattern.subn(lambda m: self.speaker(self._lookup[m.group(1).casefold()]), value)
            self.counts["names"] += n
        if self.detect_pii:
            for label, pattern in PII_PATTERNS:
                value, n = pattern.subn(lambda m, label=label: self._pii(label, m.group(0)), value)
                self.counts[label] += n
        return value

    def _text_pii(self, value: str) -> str:
        """Replace addresses, places and ID numbers (see the module docstring for what is looked at)."""
        spans = self._found.get(value)
        if spans is None:
            spans = self._find_text_pii(value)
            if len(self._found) < 100_000:
                self._found[value] = spans
        for start, end, label in reversed(spans):
            value = value[:start] + f"[{label}]" + value[end:]
            self.counts[label] += 1
        return value

    def _find_text_pii(self, value: str) -> list[tuple[int, int, str]]:
        from avanon.pii.recognizers import Roster
        from avanon.pii.text import find_pii_text

        words = len(value.split())
        if words < 2 and not self.places:
            return []
        categories = TEXT_PII if words >= 2 else ("PLACE",)
        spacy = self.use_spacy and words >= 2 and _TITLE_WORD.search(value) is not None
        findings = find_pii_text(value, Roster(places=self.places), use_spacy=spacy, categories=categories)
        protected = [m.span() for m in self._pattern.finditer(value)] if self._pattern is not None else []
        protected += [m.span() for _, pattern in PII_PATTERNS for m in pattern.finditer(value)]
        kept: list[tuple[int, int, str]] = []
        for f in findings:
            if (
                f.category == "ID_NUMBER"
                and f.recognizer != "presidio"
                and (  # Presidio's IDs are checksum-validated
                    any(c.isspace() for c in value[f.start : f.end]) or sum(c.isdigit() for c in value[f.start : f.end]) < _ID_MIN_DIGITS
                )
            ):
                continue
            if words < 2 and f.recognizer != "roster":
                continue
            if f.recognizer == "spacy" and _TITLE_WORD.search(value[f.start : f.end]) is None:
                continue  # the small model tags lower-case phrases ("fox 288") as facilities
            if any(f.start < e and s < f.end for s, e in protected):
                continue
            if kept and f.start < kept[-1][1]:  # overlapping findings merge; the first category wins
                kept[-1] = (kept[-1][0], max(kept[-1][1], f.end), kept[-1][2])
            else:
                kept.append((f.start, f.end, f.category))
        return kept

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
    :meth:`~TextAnonymizer.person`; ``ANNOTATOR`` attributes, the ELAN ``AUTHOR`` and the header
    values named in ``doc.options["annotator_header_keys"]`` (ELAN properties such as ``author``)
    through :meth:`~TextAnonymizer.annotator`. Format readers may also list header keys in
    ``doc.options``: ``private_header_keys`` are removed (CHAT ``@Birth``, ``@Date``),
    ``person_header_keys`` name participants (CHAT ``@Participants`` names: pseudonymized, and
    replaced wherever they occur in the text of this document even when not on the roster) and
    ``age_header_keys`` hold ``years;months.days`` ages (kept to the month, :func:`month_age`).

    Returns
    -------
    Counter
        What was replaced in this document (see :attr:`TextAnonymizer.counts`).
    """
    before = Counter(anonymizer.counts)
    options = doc.options
    for key in options.get("private_header_keys", ()):
        if doc.header.pop(key, None) is not None:
            anonymizer.counts["removed"] += 1
    people = {key: doc.header.pop(key) for key in ("AUTHOR", *options.get("annotator_header_keys", ())) if key in doc.header}
    persons = {key: doc.header.pop(key) for key in options.get("person_header_keys", ()) if key in doc.header}
    ages = {key: doc.header.pop(key) for key in options.get("age_header_keys", ()) if key in doc.header}
    anonymizer.add_names({v.strip(): anonymizer._lookup.get(v.strip().casefold(), v.strip().casefold()) for v in persons.values() if v.strip()})
    map_text(doc, anonymizer.text)
    for key, value in people.items():
        doc.header[key] = anonymizer.annotator(value)
    for key, value in persons.items():
        doc.header[key] = anonymizer.person(value)
    for key, value in ages.items():
        doc.header[key] = month_age(value)
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


_AGE = re.compile(r"^\s*(\d+);(\d{1,2})?(?:\.(\d{1,2})?)?\s*$")


def month_age(value: str) -> str:
    """A CHAT age ``years;months.days`` kept to the month (``2;06.15`` -> ``2;06.``).

    Days add nothing to developmental analyses but, with a recording date, pin the birth date. A
    value that is not a CHAT age is replaced by ``[AGE]``; an empty value stays empty.
    """
    if not value.strip():
        return value
    match = _AGE.match(value)
    if match is None:
        return "[AGE]"
    years, months = match.group(1), match.group(2)
    return f"{years};{int(months):02d}." if months else f"{years};"
