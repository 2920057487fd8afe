"""Roster names, participant attributes and personal data in annotation text become pseudonyms."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from avanon.annotations.elan import read_elan
from avanon.annotations.pseudonymize import TextAnonymizer, anonymize_document, load_roster
from avanon.errors import ParameterError

SECRET = b"s" * 32


def namer(secret: bytes, kind: str, key: str) -> str:
    """Stand-in for avanon.studykeys.pseudonym: deterministic, keyed, kind-separated."""
    return f"{kind[:3]}{hashlib.sha256(secret + kind.encode() + b'|' + key.encode()).hexdigest()[:6]}"


def test_roster_names_replaced_consistently_and_case_insensitively() -> None:
    anon = TextAnonymizer(SECRET, ["Anna", "Anna Smith", "Bo"], namer=namer)
    text = anon.text("anna Smith said hi to Anna and Bob; bo laughed")
    assert text == f"{namer(SECRET, 'speaker', 'anna smith')} said hi to {namer(SECRET, 'speaker', 'anna')} and Bob; {namer(SECRET, 'speaker', 'bo')} laughed"
    assert anon.counts["names"] == 3


def test_roster_mapping_uses_speaker_keys() -> None:
    anon = TextAnonymizer(SECRET, {"Anna": "sub-01"}, namer=namer)
    assert anon.text("Anna") == anon.speaker("sub-01") == namer(SECRET, "speaker", "sub-01")
    assert anon.person("anna") == anon.speaker("sub-01")


@pytest.mark.parametrize(
    ("text", "expected", "label"),
    [
        ("mail anna@example.org now", "mail [EMAIL] now", "EMAIL"),
        ("call +49 30 1234567", "call [PHONE]", "PHONE"),
        ("call 555-867-5309.", "call [PHONE].", "PHONE"),
        ("v 1234567.5", "v 1234567.5", None),
        ("born 2019-03-01", "born [DATE]", "DATE"),
        ("born 1.3.2019.", "born [DATE].", "DATE"),
        ("pitch 120 at 1985.4920000000002", "pitch 120 at 1985.4920000000002", None),
        ("score 12 34", "score 12 34", None),
    ],
)
def test_pii_placeholders(text: str, expected: str, label: str | None) -> None:
    anon = TextAnonymizer(SECRET, namer=namer)
    assert anon.text(text) == expected
    if label:
        assert anon.counts[label] == 1
    else:
        assert sum(anon.counts.values()) == 0


def test_secret_is_required() -> None:
    with pytest.raises(ParameterError, match="'secret' parameter of TextAnonymizer must be bytes"):
        TextAnonymizer(b"short", namer=namer)


def test_elan_document_tiers_participants_and_author(dev_data: Path) -> None:
    doc = read_elan(dev_data / "childproject_annotations/examples/valid_raw_data/annotations/eaf_basic/raw/example.eaf")
    participants = {t.attributes.get("PARTICIPANT") for t in doc.tiers} - {None, ""}
    anon = TextAnonymizer(SECRET, ["FA1"], namer=namer)
    counts = anonymize_document(doc, anon)
    assert "FA1" not in [t.name for t in doc.tiers]
    assert namer(SECRET, "speaker", "fa1") in [t.name for t in doc.tiers]
    # child tiers follow their renamed parent
    parents = {t.attributes.get("PARENT_REF") for t in doc.tiers}
    assert "FA1" not in parents
    assert not participants & {t.attributes.get("PARTICIPANT") for t in doc.tiers}
    assert counts["participants"] == len([t for t in doc.tiers if t.attributes.get("PARTICIPANT")])


def test_load_roster_table_and_plain_list(tmp_path: Path) -> None:
    table = tmp_path / "roster.csv"
    table.write_text("name,speaker\nAnna Smith,sub-01\nBo,\n", encoding="utf-8")
    assert load_roster(table) == {"Anna Smith": "sub-01", "Bo": "bo"}
    plain = tmp_path / "names.txt"
    plain.write_text("Anna\nBo\n", encoding="utf-8")
    assert load_roster(plain) == {"Anna": "anna", "Bo": "bo"}


def test_default_pseudonyms_match_the_study_secret_module() -> None:
    from avanon.studykeys import pseudonym

    anon = TextAnonymizer(SECRET, {"Anna": "sub-01"})
    assert anon.text("Anna waves") == f"{pseudonym(SECRET, 'speaker', 'sub-01')} waves"
    assert anon.annotator("Jane") == pseudonym(SECRET, "annotator", "jane")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("we went to 12 Baker Street, then home", "we went to [ADDRESS], then home"),
        ("lives in Leeds.", "lives in [PLACE]."),
        ("NHS id AB123456C", "NHS id [ID_NUMBER]"),
        ("recorded 12-SEP-2016", "recorded [DATE]"),
        ("score 12 34 at a4390", "score 12 34 at a4390"),
        ("the quick brown fox 288", "the quick brown fox 288"),
    ],
)
def test_places_addresses_and_ids_in_annotation_text(text: str, expected: str) -> None:
    assert TextAnonymizer(SECRET, namer=namer).text(text) == expected


@pytest.mark.parametrize("code", ["CHI", "MOT", "vocalization", "0", "C", "N", "smile", "Leeds", "12345", "a4390"])
def test_one_token_codes_stay(code: str) -> None:
    anon = TextAnonymizer(SECRET, namer=namer)
    assert anon.text(code) == code and sum(anon.counts.values()) == 0


def test_roster_places_and_names_win_over_detectors() -> None:
    anon = TextAnonymizer(SECRET, {"Paris Hilton": "sub-01"}, places=["Little Snoring"], namer=namer)
    assert anon.text("Paris Hilton went to Little Snoring") == f"{namer(SECRET, 'speaker', 'sub-01')} went to [PLACE]"
    assert anon.text("Little Snoring") == "[PLACE]"


def test_find_pii_text_spans() -> None:
    from avanon.pii.recognizers import Roster
    from avanon.pii.text import find_pii_text

    text = "Anna (anna@example.org) lives at 12 Baker Street, call 0161 496 0000."
    found = {(text[f.start : f.end], f.category) for f in find_pii_text(text, Roster(names=["Anna"]), use_spacy=False)}
    assert found == {("Anna", "PERSON"), ("anna@example.org", "EMAIL"), ("12 Baker Street", "ADDRESS"), ("0161 496 0000", "PHONE")}
    with pytest.raises(ParameterError, match="'categories' parameter of find_pii_text"):
        find_pii_text(text, categories=["NAME"])


def _changed_labels(dev_data: Path, *, use_spacy: bool) -> list[tuple[str, str]]:
    from avanon.annotations.formats import detect_format, read_annotations

    changed = []
    for path in sorted(dev_data.rglob("*")):
        if not path.is_file() or detect_format(path) is None:
            continue
        doc = read_annotations(path)
        anon = TextAnonymizer(SECRET, use_spacy=use_spacy, namer=namer)
        for _, ann in doc.annotations():
            values = [ann.value] + [v for k, v in ann.fields.items() if k not in doc.media_fields and not k.startswith("_")]
            changed += [(v, anon.text(v)) for v in values if anon.text(v) != v]
    return changed


def _only_real_dates(changed: list[tuple[str, str]]) -> None:
    # the only personal data in the real labels: BORIS observation dates (2016-12-01 23:01:31)
    assert changed and all(old.startswith("2016-12-01") and new.startswith("[DATE]") for old, new in changed), changed[:5]


def test_real_annotation_labels_are_not_mangled(dev_data: Path) -> None:
    _only_real_dates(_changed_labels(dev_data, use_spacy=False))


@pytest.mark.slow
def test_real_annotation_labels_are_not_mangled_with_spacy(dev_data: Path) -> None:
    _only_real_dates(_changed_labels(dev_data, use_spacy=True))
