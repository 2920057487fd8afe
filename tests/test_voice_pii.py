"""Tests of the personal-information recognizers (avanon.audio.pii)."""

from __future__ import annotations

from pathlib import Path

from avanon.audio.pii import Roster, find_pii, normalise, unlocated_names
from avanon.audio.transcribe import Segment, Transcript, Word


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


def found(text: str, roster: Roster | None = None) -> dict[str, list[str]]:
    tr = make_transcript(text)
    words = tr.words
    out: dict[str, list[str]] = {}
    for f in find_pii(tr, roster, use_spacy=False):
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
    hits = found("call 555 867 5309 or five five five one two three four and mail jo@uni.edu "
                 "or jo at uni dot edu my code is ab12cd and pin 4821 I moved on March 3rd 2019 "
                 "to 12 Baker Street on Monday born 12/05/1990")
    assert hits["PHONE"] == ["555 867 5309", "five five five one two three four"]
    assert hits["EMAIL"] == ["jo@uni.edu", "jo at uni dot edu"]
    assert "ab12cd" in hits["ID_NUMBER"] and "4821" in hits["ID_NUMBER"]
    assert "March 3rd 2019" in hits["DATE"] and "Monday" in hits["DATE"] and "12/05/1990" in hits["DATE"]
    assert hits["ADDRESS"] == ["12 Baker Street"]


def test_plain_speech_has_no_findings() -> None:
    assert found("we may go to the park and read two books with one friend") == {}


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
