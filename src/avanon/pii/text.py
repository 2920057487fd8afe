"""Personal information in plain text (an annotation label, a note), as character spans.

The recognizers of :mod:`avanon.pii.recognizers` run over the text's whitespace-separated tokens;
spaCy's and Presidio's findings keep their own character offsets.
"""

from __future__ import annotations

import re
from typing import Sequence

from avanon.errors import ParameterError
from avanon.pii.recognizers import CATEGORIES, Roster, TextFinding, _Scanner, _spacy, presidio_text_findings
from avanon.pii.transcript import Word

_TOKEN = re.compile(r"\S+")
_STRIP_LEFT = " \t\"'“”‘’,;:!?()[]{}"
_SPACY_TEXT_MAP = {"GPE": "PLACE", "LOC": "PLACE", "FAC": "ADDRESS", "PERSON": "PERSON", "DATE": "DATE"}


def _token_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the whitespace-separated tokens, without the punctuation :func:`normalise` drops."""
    spans = []
    for match in _TOKEN.finditer(text):
        start, end = match.start(), match.end()
        while start < end and text[start] in _STRIP_LEFT:
            start += 1
        while end > start and (text[end - 1] in _STRIP_LEFT or text[end - 1] == "."):
            end -= 1
        spans.append((start, end) if start < end else (match.start(), match.end()))
    return spans


def find_pii_text(
    text: str, roster: Roster | None = None, *, use_spacy: bool = True, use_presidio: bool = True, categories: Sequence[str] = CATEGORIES
) -> list[TextFinding]:
    """Personal information in a plain text (an annotation label, a note), as character spans.

    The same recognizers as :func:`find_pii` run over the whitespace-separated tokens of ``text``;
    a finding covers its tokens without surrounding punctuation. spaCy entities (GPE and LOC as
    ``PLACE``, FAC as ``ADDRESS``, PERSON, DATE) keep spaCy's own character offsets.

    Parameters
    ----------
    text : str
    roster : Roster, optional
        Study names and places.
    use_spacy : bool
        Also use spaCy's entities when the pinned English model is installed.
    use_presidio : bool
        Also use Presidio's recognizers (:func:`presidio_text_findings`) when installed.
    categories : sequence of str
        Categories to report, a subset of :data:`CATEGORIES`.

    Returns
    -------
    list of TextFinding
        Sorted by position; findings may overlap (callers merge them).
    """
    unknown = set(categories) - set(CATEGORIES)
    if unknown:
        raise ParameterError(f"The 'categories' parameter of find_pii_text must be a subset of {CATEGORIES}. Got {sorted(unknown)} instead.")
    spans = _token_spans(text)
    if not spans:
        return []
    words = [Word(0.0, 0.0, text[s:e]) for s, e in spans]
    scanner = _Scanner(words, roster or Roster())
    for step in (scanner.names, scanner.places, scanner.emails, scanner.numbers, scanner.dates, scanner.addresses):
        step()
    found = {TextFinding(spans[f.first][0], spans[f.last][1], f.category, f.recognizer) for f in scanner.found}
    if use_spacy and (nlp := _spacy()) is not None:
        for ent in nlp(text).ents:
            category = _SPACY_TEXT_MAP.get(ent.label_)
            if category is not None:
                found.add(TextFinding(ent.start_char, ent.end_char, category, "spacy"))
    if use_presidio:
        found.update(presidio_text_findings(text, with_spacy=use_spacy))
    wanted = set(categories)
    return sorted((f for f in found if f.category in wanted), key=lambda f: (f.start, f.end, f.category))
