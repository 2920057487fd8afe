"""ELAN: every tier type, reference checks, and writing that keeps what the model does not hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from avanon.annotations.elan import read_elan, write_elan
from avanon.annotations.model import linear_time_map, mark_segments, retime
from avanon.errors import MediaError

SMALL = """<?xml version="1.0" encoding="UTF-8"?>
<ANNOTATION_DOCUMENT AUTHOR="Jane Coder" DATE="2020-01-01T00:00:00+01:00" FORMAT="3.0" VERSION="3.0">
  <HEADER MEDIA_FILE="" TIME_UNITS="milliseconds">
    <MEDIA_DESCRIPTOR MEDIA_URL="file:///home/jane/anna.wav" MIME_TYPE="audio/x-wav" RELATIVE_MEDIA_URL="./anna.wav"/>
  </HEADER>
  <TIME_ORDER>
    <TIME_SLOT TIME_SLOT_ID="ts1" TIME_VALUE="1000"/>
    <TIME_SLOT TIME_SLOT_ID="ts2" TIME_VALUE="2500"/>
    <TIME_SLOT TIME_SLOT_ID="ts3" TIME_VALUE="4000"/>
  </TIME_ORDER>
  <TIER LINGUISTIC_TYPE_REF="utt" PARTICIPANT="Anna" TIER_ID="Anna">
    <ANNOTATION><ALIGNABLE_ANNOTATION ANNOTATION_ID="a1" TIME_SLOT_REF1="ts1" TIME_SLOT_REF2="ts2"><ANNOTATION_VALUE>hi</ANNOTATION_VALUE></ALIGNABLE_ANNOTATION></ANNOTATION>
    <ANNOTATION><ALIGNABLE_ANNOTATION ANNOTATION_ID="a2" TIME_SLOT_REF1="ts2" TIME_SLOT_REF2="ts3"><ANNOTATION_VALUE>there</ANNOTATION_VALUE></ALIGNABLE_ANNOTATION></ANNOTATION>
  </TIER>
  <TIER LINGUISTIC_TYPE_REF="code" PARENT_REF="PARENT" TIER_ID="code@Anna">
    <ANNOTATION><REF_ANNOTATION ANNOTATION_ID="a3" ANNOTATION_REF="a1"><ANNOTATION_VALUE>C</ANNOTATION_VALUE></REF_ANNOTATION></ANNOTATION>
  </TIER>
  <LINGUISTIC_TYPE GRAPHIC_REFERENCES="false" LINGUISTIC_TYPE_ID="utt" TIME_ALIGNABLE="true"/>
  <LINGUISTIC_TYPE CONSTRAINTS="Symbolic_Association" CONTROLLED_VOCABULARY_REF="codes" LINGUISTIC_TYPE_ID="code" TIME_ALIGNABLE="false"/>
  <CONSTRAINT DESCRIPTION="1-1 association with a parent annotation" STEREOTYPE="Symbolic_Association"/>
  <CONTROLLED_VOCABULARY CV_ID="codes"><CV_ENTRY_ML CVE_ID="c1"><CVE_VALUE LANG_REF="und">C</CVE_VALUE></CV_ENTRY_ML></CONTROLLED_VOCABULARY>
</ANNOTATION_DOCUMENT>
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "small.eaf"
    path.write_text(text, encoding="utf-8")
    return path


def test_unknown_parent_tier_is_named(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="tier 'code@Anna' refers to unknown parent tier 'PARENT'"):
        read_elan(_write(tmp_path, SMALL))


def test_unknown_time_slot_and_annotation_are_named(tmp_path: Path) -> None:
    text = SMALL.replace('PARENT_REF="PARENT"', 'PARENT_REF="Anna"')
    with pytest.raises(MediaError, match="tier 'Anna', annotation a2: unknown time slot 'ts9'"):
        read_elan(_write(tmp_path, text.replace('TIME_SLOT_REF2="ts3"', 'TIME_SLOT_REF2="ts9"')))
    with pytest.raises(MediaError, match="annotation a3: refers to unknown annotation 'a7'"):
        read_elan(_write(tmp_path, text.replace('ANNOTATION_REF="a1"', 'ANNOTATION_REF="a7"')))


def test_reference_tier_times_and_rewrite_keeps_vocabulary(tmp_path: Path) -> None:
    path = _write(tmp_path, SMALL.replace('PARENT_REF="PARENT"', 'PARENT_REF="Anna"'))
    doc = read_elan(path)
    assert [(t.name, t.kind) for t in doc.tiers] == [("Anna", "interval"), ("code@Anna", "reference")]
    code = doc.tier("code@Anna").annotations[0]
    assert (code.onset, code.offset, code.ref) == (1.0, 2.5, "a1")
    assert doc.header["AUTHOR"] == "Jane Coder"
    assert doc.media[0].path == "file:///home/jane/anna.wav"

    retime(doc, linear_time_map(input_start=0.5))
    mark_segments(doc, [(0.2, 0.4, "name")])
    out = tmp_path / "out.eaf"
    write_elan(doc, out)
    again = read_elan(out)
    anna = again.tier("Anna").annotations
    assert [(a.onset, a.offset) for a in anna] == [(0.5, 2.0), (2.0, 3.5)]
    native = again.native
    # shared time slot stays shared
    assert native.tiers["Anna"][0]["a1"][1] == native.tiers["Anna"][0]["a2"][0]
    assert "codes" in native.controlled_vocabularies
    assert native.linguistic_types["code"]["CONSTRAINTS"] == "Symbolic_Association"
    assert [(a.onset, a.offset, a.value) for a in again.tier("avanon-redacted").annotations] == [(0.2, 0.4, "name")]
    assert "EAFv3.0.xsd" in out.read_text(encoding="utf-8")


def test_every_tier_type_of_pympi_sample(dev_data: Path) -> None:
    doc = read_elan(dev_data / "pympi/test/sample_3.0.eaf")
    constraints = {doc.native.linguistic_types[t.attributes["LINGUISTIC_TYPE_REF"]].get("CONSTRAINTS") for t in doc.tiers}
    assert {"Time_Subdivision", "Symbolic_Subdivision", "Symbolic_Association", "Included_In", None} <= constraints
    assert doc.count() == 8778
    assert {t.kind for t in doc.tiers} == {"interval", "reference"}


CV_DOC = """<?xml version="1.0" encoding="UTF-8"?>
<ANNOTATION_DOCUMENT AUTHOR="Jane Coder" DATE="2020-01-01T00:00:00+01:00" FORMAT="3.0" VERSION="3.0">
  <HEADER MEDIA_FILE="" TIME_UNITS="milliseconds">
    <MEDIA_DESCRIPTOR MEDIA_URL="file:///home/jane/anna.wav" MIME_TYPE="audio/x-wav"/>
    <PROPERTY NAME="URN">urn:nl-mpi-tools-elan-eaf:1234</PROPERTY>
    <PROPERTY NAME="lastUsedAnnotationId">3</PROPERTY>
    <PROPERTY NAME="transcriber">Jane Coder</PROPERTY>
    <PROPERTY NAME="sourceFolder">/home/jane/anna_smith/</PROPERTY>
  </HEADER>
  <TIME_ORDER>
    <TIME_SLOT TIME_SLOT_ID="ts1" TIME_VALUE="1000"/>
    <TIME_SLOT TIME_SLOT_ID="ts2" TIME_VALUE="2500"/>
  </TIME_ORDER>
  <TIER LINGUISTIC_TYPE_REF="addressee" TIER_ID="addressee">
    <ANNOTATION><ALIGNABLE_ANNOTATION ANNOTATION_ID="a1" CVE_REF="cve-anna" TIME_SLOT_REF1="ts1" TIME_SLOT_REF2="ts2"><ANNOTATION_VALUE>Anna Smith</ANNOTATION_VALUE></ALIGNABLE_ANNOTATION></ANNOTATION>
  </TIER>
  <LINGUISTIC_TYPE CONTROLLED_VOCABULARY_REF="people of Anna Smith" GRAPHIC_REFERENCES="false" LINGUISTIC_TYPE_ID="addressee" TIME_ALIGNABLE="true"/>
  <LANGUAGE LANG_DEF="http://cdb.iso.org/lg/CDB-00130975-001" LANG_ID="und" LANG_LABEL="undetermined (und)"/>
  <CONTROLLED_VOCABULARY CV_ID="people of Anna Smith" EXT_REF="er1">
    <DESCRIPTION LANG_REF="und">who speaks to Anna Smith</DESCRIPTION>
    <CV_ENTRY_ML CVE_ID="cve-anna"><CVE_VALUE DESCRIPTION="the child, Anna Smith, lives in Leeds" LANG_REF="und">Anna Smith</CVE_VALUE></CV_ENTRY_ML>
    <CV_ENTRY_ML CVE_ID="cve-mot"><CVE_VALUE DESCRIPTION="mother" LANG_REF="und">MOT</CVE_VALUE></CV_ENTRY_ML>
  </CONTROLLED_VOCABULARY>
  <EXTERNAL_REF EXT_REF_ID="er1" TYPE="ecv" VALUE="file:/Users/jane/vocabularies.ecv"/>
  <EXTERNAL_REF EXT_REF_ID="er2" TYPE="iso12620" VALUE="http://www.isocat.org/datcat/DC-1333"/>
</ANNOTATION_DOCUMENT>
"""


def _entry_values(eaf: object, cv: str) -> dict[str, list[str]]:
    return {cve: [v for v, _, _ in values] for cve, (values, _) in eaf.controlled_vocabularies[cv][1].items()}  # type: ignore[attr-defined]


def test_controlled_vocabulary_entries_follow_the_annotation_pseudonyms(tmp_path: Path) -> None:
    from avanon.annotations.model import relink
    from avanon.annotations.pseudonymize import TextAnonymizer, anonymize_document

    doc = read_elan(_write(tmp_path, CV_DOC))
    anon = TextAnonymizer(b"s" * 32, {"Anna Smith": "sub-01"}, namer=lambda s, kind, key: f"{kind}-{key}")
    anonymize_document(doc, anon)
    relink(doc, {}, unknown=lambda link: "unlinked" + Path(link).suffix)
    out = tmp_path / "out.eaf"
    write_elan(doc, out)
    text = out.read_text(encoding="utf-8")
    assert "Anna" not in text and "Smith" not in text and "Leeds" not in text and "/Users/jane" not in text
    assert "/home/jane" not in text

    again = read_elan(out)
    eaf = again.native
    cv = eaf.linguistic_types["addressee"]["CONTROLLED_VOCABULARY_REF"]
    assert cv == "people of speaker-sub-01"
    assert _entry_values(eaf, cv) == {"cve-anna": ["speaker-sub-01"], "cve-mot": ["MOT"]}
    assert eaf.controlled_vocabularies[cv][0] == [("und", "who speaks to speaker-sub-01")]
    assert eaf.controlled_vocabularies[cv][1]["cve-anna"][0][0][2] == "the child, speaker-sub-01, lives in [PLACE]"
    # the annotation keeps its link to the (renamed) entry, and its value still equals the entry
    assert again.options["annotation_attributes"] == {"a1": {"CVE_REF": "cve-anna"}}
    assert again.tier("addressee").annotations[0].value == "speaker-sub-01"
    properties = dict(eaf.properties)
    assert properties["transcriber"] == "annotator-jane coder"
    assert properties["sourceFolder"] == "unlinked"
    assert properties["URN"] == "urn:nl-mpi-tools-elan-eaf:1234" and properties["lastUsedAnnotationId"] == "3"
    assert eaf.external_refs == {"er1": ("ecv", "unlinked.ecv"), "er2": ("iso12620", "http://www.isocat.org/datcat/DC-1333")}


@pytest.mark.parametrize("name", ["sample_2.8.eaf"])
def test_cve_refs_of_real_file_survive_renaming(dev_data: Path, tmp_path: Path, name: str) -> None:
    from avanon.annotations.pseudonymize import TextAnonymizer, anonymize_document

    source = dev_data / "pympi/test" / name
    original = source.read_text(encoding="utf-8").count("CVE_REF=")
    doc = read_elan(source)
    anonymize_document(doc, TextAnonymizer(b"s" * 32, ["hold"], namer=lambda s, kind, key: f"{kind}-{key}"))
    out = tmp_path / name
    write_elan(doc, out)
    assert out.read_text(encoding="utf-8").count("CVE_REF=") == original == 1200
    again = read_elan(out)
    entries = _entry_values(again.native, "Gesture")
    assert entries["cveid1"] == ["speaker-hold", "houd"]  # multilingual entry: the English value renamed
    checked = 0
    for tier in again.tiers:
        cv = again.native.linguistic_types[tier.attributes["LINGUISTIC_TYPE_REF"]].get("CONTROLLED_VOCABULARY_REF")
        for ann in tier.annotations:
            ref = again.options["annotation_attributes"].get(ann.id, {}).get("CVE_REF")
            if ref:
                assert ann.value in _entry_values(again.native, cv)[ref]
                checked += 1
    assert checked == 1200


def test_old_format_vocabularies_stay_cv_entry(dev_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "old.eaf"
    write_elan(read_elan(dev_data / "pympi/test/sample_2.7.eaf"), out)
    text = out.read_text(encoding="utf-8")
    assert text.count("<CV_ENTRY ") == 7 and "CV_ENTRY_ML" not in text and "<LANGUAGE" not in text
    assert '<CV_ENTRY DESCRIPTION="adjective" EXT_REF="er3">adj</CV_ENTRY>' in text
    assert _entry_values(read_elan(out).native, "POS") == {"cveid0": ["v"], "cveid1": ["n"], "cveid2": ["adj"]}
