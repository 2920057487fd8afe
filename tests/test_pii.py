"""Tests of the personal-information recognizers (avanon.pii)."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from avanon.pii import recognizers as pii
from avanon.pii.recognizers import Roster, find_pii, normalise, presidio_text_findings, unlocated_names
from avanon.pii.text import find_pii_text
from avanon.pii.transcript import Segment, Transcript, Word


def make_transcript(*texts: str, step: float = 0.4) -> Transcript:
    segments, t = [], 0.0
    for text in texts:
        words = []
        start = t
        for w in text.split():
            words.append(Word(t, t + 0.3, w))
            t += step
        segments.append(Segment(start, t, text, tuple(words)))
        t += 0.5
    return Transcript(tuple(segments), t)


def found(text: str, roster: Roster | None = None, *, use_presidio: bool = False) -> dict[str, list[str]]:
    """The regex (and roster) recognizers' findings by category; Presidio's only when asked."""
    tr = make_transcript(text)
    words = tr.words
    out: dict[str, list[str]] = {}
    for f in find_pii(tr, roster, use_spacy=False, use_presidio=use_presidio):
        out.setdefault(f.category, []).append(" ".join(w.text for w in words[f.first : f.last + 1]))
    return out


def test_roster_names_with_misspelling_and_possessive(tmp_path: Path) -> None:
    path = tmp_path / "roster.txt"
    path.write_text("# study roster\nJonathan Miller\nAnna\nplace: Little Rock\n", encoding="utf-8")
    roster = Roster.read(path)
    assert roster.names == ["Jonathan Miller", "Anna"] and roster.places == ["Little Rock"]
    hits = found("so Jonathon told anna's mother about Miller in Little Rock yesterday", roster)
    assert hits["PERSON"] == ["Jonathon", "anna's", "Miller"]
    assert hits["PLACE"] == ["Little Rock"]


def test_numbers_emails_dates_addresses() -> None:
    hits = found(
        "call 555 867 5309 or five five five one two three four and mail jo@uni.edu "
        "or jo at uni dot edu my code is ab12cd and pin 4821 I moved on March 3rd 2019 "
        "to 12 Baker Street on Monday born 12/05/1990"
    )
    assert hits["PHONE"] == ["555 867 5309", "five five five one two three four"]
    assert hits["EMAIL"] == ["jo@uni.edu", "jo at uni dot edu"]
    assert "ab12cd" in hits["ID_NUMBER"] and "4821" in hits["ID_NUMBER"]
    assert "March 3rd 2019" in hits["DATE"] and "Monday" in hits["DATE"] and "12/05/1990" in hits["DATE"]
    assert hits["ADDRESS"] == ["12 Baker Street"]


def test_plain_speech_has_no_findings() -> None:
    assert found("we may go to the park and read two books with one friend") == {}
    assert found("we may go to the park and read two books with one friend", use_presidio=True) == {}


def test_unlocated_name_fails_closed() -> None:
    roster = Roster(names=["Anna"])
    tr = make_transcript("hello Anna how are you", "nothing here")
    assert unlocated_names(tr, roster) == []
    seg = tr.segments[0]
    broken = Segment(seg.start, seg.end, seg.text, tuple(Word(w.start, w.start, w.text) for w in seg.words))
    tr2 = Transcript((broken, tr.segments[1]), tr.duration)
    assert [u.segment for u in unlocated_names(tr2, roster)] == [0]
    missing = Segment(seg.start, seg.end, seg.text, ())
    assert [u.segment for u in unlocated_names(Transcript((missing,), tr.duration), roster)] == [0]


def test_normalise() -> None:
    assert normalise('"Anna,"') == "anna"
    assert normalise("jo@uni.edu.") == "jo@uni.edu"


# A small labelled set: (sentence, [(span, category), ...]). The spans are what must be found.
LABELLED = [
    ("Anna Smith lives in Boston with her brother", [("Anna Smith", "PERSON"), ("Boston", "PLACE")]),
    ("we drove to Chicago to see Michael Jordan", [("Chicago", "PLACE"), ("Michael Jordan", "PERSON")]),
    ("call me at (212) 555-0188 tonight", [("(212) 555-0188", "PHONE")]),
    ("my mobile is +44 20 7946 0958", [("+44 20 7946 0958", "PHONE")]),
    ("write to jo.smith@uni.edu please", [("jo.smith@uni.edu", "EMAIL")]),
    ("she was born on 12 March 2019", [("12 March 2019", "DATE")]),
    ("the visit was on 2021-05-12", [("2021-05-12", "DATE")]),
    ("my social security number is 536-22-8145", [("536-22-8145", "ID_NUMBER")]),
    ("pay into GB82 WEST 1234 5698 7654 32 today", [("GB82 WEST 1234 5698 7654 32", "ID_NUMBER")]),
    ("the card 4111-1111-1111-1111 was declined", [("4111-1111-1111-1111", "ID_NUMBER")]),
    ("the camera streams from 192.168.1.20", [("192.168.1.20", "ID_NUMBER")]),
    ("her NHS number is 943 476 5919", [("943 476 5919", "ID_NUMBER")]),
]
NO_PII = [
    "the child points at the toy and laughs",
    "we may go to the park and read two books with one friend",
    "mother looks away for three seconds",
    "CHI vocalization canonical babble",
    "onset 359.960 offset 361.200",
    "fox 288 turn taking",
]


def recall(*, use_spacy: bool, use_presidio: bool) -> float:
    """Share of labelled spans overlapped by a finding of the right category."""
    hit = total = 0
    for text, gold in LABELLED:
        findings = find_pii_text(text, use_spacy=use_spacy, use_presidio=use_presidio)
        for span, category in gold:
            start = text.index(span)
            end = start + len(span)
            total += 1
            hit += any(f.category == category and f.start < end and start < f.end for f in findings)
    return hit / total


def test_presidio_adds_recall_without_false_positives() -> None:
    assert pii.presidio_available(), "presidio-analyzer is pinned (requirements/nodeps.txt): `make install` installs it"
    regex, with_presidio = recall(use_spacy=False, use_presidio=False), recall(use_spacy=False, use_presidio=True)
    assert with_presidio >= regex + 0.2, (regex, with_presidio)
    assert [t for t in NO_PII if presidio_text_findings(t, with_spacy=False)] == []


def test_presidio_entities_map_to_categories() -> None:
    text = (
        "SSN 536-22-8145, IBAN GB82 WEST 1234 5698 7654 32, card 4111 1111 1111 1111, host 192.168.1.20, phone (212) 555-0188, mail jo@uni.edu, on 12/05/2021"
    )
    got = {(text[f.start : f.end], f.category) for f in presidio_text_findings(text, with_spacy=False)}
    assert {
        ("536-22-8145", "ID_NUMBER"),
        ("GB82 WEST 1234 5698 7654 32", "ID_NUMBER"),
        ("4111 1111 1111 1111", "ID_NUMBER"),
        ("192.168.1.20", "ID_NUMBER"),
        ("(212) 555-0188", "PHONE"),
        ("jo@uni.edu", "EMAIL"),
        ("12/05/2021", "DATE"),
    } <= got
    assert all(f.recognizer == "presidio" for f in presidio_text_findings(text, with_spacy=False))


def test_presidio_findings_become_word_ranges() -> None:
    tr = make_transcript("the camera at 192.168.1.20 and", "card 4111 1111 1111 1111 expired")
    words = tr.words
    got = {(" ".join(w.text for w in words[f.first : f.last + 1]), f.category) for f in find_pii(tr, use_spacy=False) if f.recognizer == "presidio"}
    assert ("192.168.1.20", "ID_NUMBER") in got and ("4111 1111 1111 1111", "ID_NUMBER") in got
    assert not any(f.recognizer == "presidio" for f in find_pii(tr, use_spacy=False, use_presidio=False))


def test_only_calendar_dates_from_presidio_and_spacy() -> None:
    assert pii._is_calendar_date("12 March 2019") and pii._is_calendar_date("2021-05-12T10:00Z")
    assert pii._is_calendar_date("May 5th") and pii._is_calendar_date("12-MAR-2020")
    assert not pii._is_calendar_date("yesterday") and not pii._is_calendar_date("two weeks ago")
    assert not pii._is_calendar_date("10 am") and not pii._is_calendar_date("March")


def test_presidio_runs_offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert pii.presidio_available(), "presidio-analyzer is pinned (requirements/nodeps.txt): `make install` installs it"

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network blocked by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setenv("HOME", str(tmp_path))  # no public-suffix list cached from an earlier run
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("TLDEXTRACT_CACHE", str(tmp_path))
    import spacy.cli

    monkeypatch.setattr(spacy.cli, "download", refuse)
    pii._presidio.cache_clear()
    try:
        for with_spacy in (False, True):
            found = presidio_text_findings("write to anna@example.co.uk or call (212) 555-0188", with_spacy=with_spacy)
            assert [f.category for f in found] == ["EMAIL", "PHONE"]
    finally:
        pii._presidio.cache_clear()  # the engines built here hold the patched environment
    assert list(tmp_path.iterdir()) == []


def test_pipeline_works_without_presidio(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "presidio_analyzer", None)  # import fails as if not installed
    pii._presidio.cache_clear()
    try:
        assert not pii.presidio_available()
        assert presidio_text_findings("call (212) 555-0188") == []
        hits = found("call 555 867 5309 or mail jo@uni.edu", use_presidio=True)
        assert hits == {"PHONE": ["555 867 5309"], "EMAIL": ["jo@uni.edu"]}
    finally:
        pii._presidio.cache_clear()


def test_presidio_spacy_entities_keep_the_spacy_recognizer() -> None:
    assert pii.spacy_available(), "the pinned spaCy model (requirements) must be installed"
    found_ = presidio_text_findings("Anna Smith moved to Paris yesterday", with_spacy=True)
    assert {("Anna Smith", "PERSON", "spacy"), ("Paris", "PLACE", "spacy")} <= {
        ("Anna Smith moved to Paris yesterday"[f.start : f.end], f.category, f.recognizer) for f in found_
    }
    assert not any(f.category == "DATE" for f in found_)  # "yesterday" is not a calendar date
    assert recall(use_spacy=True, use_presidio=True) >= recall(use_spacy=True, use_presidio=False)


def test_presidio_adds_nothing_to_real_annotation_labels(dev_data: Path) -> None:
    from avanon.annotations.formats import detect_format, read_annotations

    values: set[str] = set()
    for path in sorted(dev_data.rglob("*")):
        if path.is_file() and detect_format(path) is not None:
            doc = read_annotations(path)
            for _, ann in doc.annotations():
                values.add(ann.value)
                values.update(v for k, v in ann.fields.items() if k not in doc.media_fields and not k.startswith("_"))
    assert len(values) > 1000
    hits = {v[f.start : f.end] for v in values for f in presidio_text_findings(v, with_spacy=False)}
    assert hits == {"2016-12-01"}  # the BORIS observation dates, the only personal data in these labels


def test_recognizers_used_names_what_runs_here(monkeypatch: pytest.MonkeyPatch) -> None:
    assert pii.recognizers_used() == ["roster", "regex", "spacy", "presidio"]
    assert pii.recognizers_used(use_spacy=False, use_presidio=False) == ["roster", "regex"]
    monkeypatch.setitem(sys.modules, "presidio_analyzer", None)  # as if not installed
    pii._presidio.cache_clear()
    try:
        assert pii.recognizers_used() == ["roster", "regex", "spacy"]
    finally:
        pii._presidio.cache_clear()
