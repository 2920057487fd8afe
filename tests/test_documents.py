"""Other study files: participants tables, notes, JSON, YAML and spreadsheets anonymized; binaries refused."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import zipfile
from pathlib import Path

import pytest

from avanon.annotations.documents import anonymize_other
from avanon.errors import MediaError

SECRET = b"d" * 32
ROSTER = {"Anna Smith": "sub-01"}


def namer(secret: bytes, kind: str, key: str) -> str:
    return f"{kind[:3]}{hashlib.sha256(secret + kind.encode() + b'|' + key.encode()).hexdigest()[:6]}"


def person(key: str) -> str:
    return namer(SECRET, "speaker", key)


def test_participants_tsv_columns_replaced_whole_and_names_everywhere(tmp_path: Path) -> None:
    src = tmp_path / "participants.tsv"
    src.write_text(
        "participant_id\tname\tdob\temail\tphone\taddress\tnotes\n"
        "sub-01\tAnna Smith\t2019-03-01\tanna@example.org\t+44 161 496 0000\t12 Baker Street\tAnna Smith cried\n"
        "sub-02\tBen Jones\t01/02/2018\t\t\tFlat 3\tBen Jones moved to 4 Elm Road\n",
        encoding="utf-8",
    )
    counts = anonymize_other(src, tmp_path / "out.tsv", secret=SECRET, roster=ROSTER, namer=namer)
    rows = [line.split("\t") for line in (tmp_path / "out.tsv").read_text(encoding="utf-8").splitlines()]
    assert rows[0] == ["participant_id", "name", "dob", "email", "phone", "address", "notes"]
    assert rows[1] == ["sub-01", person("sub-01"), "[DATE]", "[EMAIL]", "[PHONE]", "[ADDRESS]", f"{person('sub-01')} cried"]
    # Ben Jones is not on the roster, but the name column makes him a participant, in his notes too
    assert rows[2] == ["sub-02", person("ben jones"), "[DATE]", "", "", "[ADDRESS]", f"{person('ben jones')} moved to [ADDRESS]"]
    assert counts["participants"] == 2 and counts["names"] == 2 and counts["ADDRESS"] == 3
    assert src.read_text(encoding="utf-8").count("Anna Smith") == 2  # input untouched


def test_json_keys_kept_values_anonymized(tmp_path: Path) -> None:
    src = tmp_path / "participants.json"
    src.write_text(
        json.dumps(
            {
                "study": "play",
                "participants": [
                    {
                        "id": "sub-01",
                        "first_name": "Anna",
                        "birthdate": "2019-03-01",
                        "age_months": 30,
                        "note": "mother: anna.smith@example.org, call 0161 496 0000",
                    }
                ],
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    anonymize_other(src, tmp_path / "out.json", secret=SECRET, roster=ROSTER, namer=namer)
    data = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    entry = data["participants"][0]
    assert list(entry) == ["id", "first_name", "birthdate", "age_months", "note"]
    assert entry == {"id": "sub-01", "first_name": person("anna"), "birthdate": "[DATE]", "age_months": 30, "note": "mother: [EMAIL], call [PHONE]"}
    assert data["study"] == "play"


def test_notes_yaml_and_latin1_text(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("Session with Anna Smith on 2021-05-12.\nShe lives in Oxford; CHI MOT codes.\n", encoding="utf-8")
    counts = anonymize_other(notes, tmp_path / "notes_out.txt", secret=SECRET, roster=ROSTER, namer=namer)
    assert (tmp_path / "notes_out.txt").read_text(encoding="utf-8") == f"Session with {person('sub-01')} on [DATE].\nShe lives in [PLACE]; CHI MOT codes.\n"
    assert counts == {"names": 1, "DATE": 1, "PLACE": 1}

    meta = tmp_path / "meta.yml"
    meta.write_text("# sessions\nname: 'Zoe Brown'  \nemail: zoe@example.org\ntask: play with Zoe Brown\n", encoding="utf-8")
    anonymize_other(meta, tmp_path / "meta_out.yml", secret=SECRET, namer=namer)
    assert (tmp_path / "meta_out.yml").read_text(
        encoding="utf-8"
    ) == f"# sessions\nname: '{person('zoe brown')}'  \nemail: [EMAIL]\ntask: play with {person('zoe brown')}\n"

    legacy = tmp_path / "consent"  # no suffix: sniffed as Latin-1 text
    legacy.write_bytes("Zustimmung: Anna Smith, Köln\n".encode("latin-1"))
    anonymize_other(legacy, tmp_path / "consent_out", secret=SECRET, roster=ROSTER, namer=namer)
    assert (tmp_path / "consent_out").read_bytes() == f"Zustimmung: {person('sub-01')}, Köln\n".encode("latin-1")


def test_xlsx_cells_and_properties(tmp_path: Path) -> None:
    import openpyxl  # pinned in requirements/main.txt
    from openpyxl.comments import Comment

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["ID", "Name", "Phone", "Notes", "Score"])
    sheet.append(["sub-01", "Anna Smith", 1614960000, "Anna Smith lives at 12 Baker Street", 3])
    sheet.append(["sub-02", "Ben Jones", None, "=1+2", 4])
    sheet["D2"].comment = Comment("checked by Jane Coder", "Jane Coder")
    book.properties.creator = "Jane Coder"
    book.properties.lastModifiedBy = "Jane Coder"
    book.properties.title = "Participants of Anna Smith's group"
    src = tmp_path / "participants.xlsx"
    book.save(src)

    anonymize_other(src, tmp_path / "out.xlsx", secret=SECRET, roster=ROSTER, namer=namer)
    out = openpyxl.load_workbook(tmp_path / "out.xlsx")
    rows = [[c.value for c in row] for row in out.active.iter_rows()]
    assert rows[0] == ["ID", "Name", "Phone", "Notes", "Score"]
    assert rows[1] == ["sub-01", person("sub-01"), "[PHONE]", f"{person('sub-01')} lives at [ADDRESS]", 3]
    assert rows[2] == ["sub-02", person("ben jones"), None, "'=1+2", 4]  # a formula is kept as inert text
    assert out.active["D3"].data_type == "s"
    assert out.active["D2"].comment is None
    assert not out.properties.creator and not out.properties.lastModifiedBy and not out.properties.title
    with zipfile.ZipFile(tmp_path / "out.xlsx") as archive:
        everything = b"".join(archive.read(name) for name in archive.namelist())
    assert b"Jane" not in everything and b"Anna" not in everything and b"Smith" not in everything
    anonymize_other(src, tmp_path / "again.xlsx", secret=SECRET, roster=ROSTER, namer=namer)
    assert (tmp_path / "again.xlsx").read_bytes() == (tmp_path / "out.xlsx").read_bytes()  # no save-time stamps


@pytest.mark.parametrize(
    ("name", "data", "what"),
    [
        ("consent.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "a PDF document"),
        ("consent.docx", b"PK\x03\x04" + bytes(40), "a ZIP container"),
        ("blob.bin", bytes(range(256)) * 4, "binary data"),
    ],
)
def test_binary_formats_refused_naming_the_file(tmp_path: Path, name: str, data: bytes, what: str) -> None:
    src = tmp_path / name
    src.write_bytes(data)
    with pytest.raises(MediaError, match=rf"{name}: {what}"):
        anonymize_other(src, tmp_path / "out", secret=SECRET, namer=namer)
    assert not (tmp_path / "out").exists()


def test_broken_json_names_the_place(tmp_path: Path) -> None:
    src = tmp_path / "bad.json"
    src.write_text('{"name": "Anna",\n "x": }', encoding="utf-8")
    with pytest.raises(MediaError, match=r"bad.json: line 2, column 7: broken JSON"):
        anonymize_other(src, tmp_path / "out.json", secret=SECRET, namer=namer)


def test_real_childproject_metadata_tables(dev_data: Path, tmp_path: Path) -> None:
    folder = dev_data / "childproject_annotations/examples/valid_raw_data/metadata"
    for src in sorted(folder.rglob("*.csv")):
        out = tmp_path / src.name
        anonymize_other(src, out, secret=SECRET, namer=namer)
        before = src.read_text(encoding="utf-8").splitlines()
        after = out.read_text(encoding="utf-8").splitlines()
        assert len(before) == len(after) and before[0] == after[0]
        for old, new in zip(before, after):  # the only personal data in these tables are ISO dates (birth, recording, import)
            assert new == re.sub(r"\d{4}-\d{2}-\d{2}", "[DATE]", old), (src.name, old, new)


def test_formulas_are_neutralized_in_tables(tmp_path: Path) -> None:
    """Cells a spreadsheet would run (=, +, -, @, tab, CR) get a leading quote; numbers stay numbers (issue 17)."""
    src = tmp_path / "participants.csv"
    src.write_text(
        "ID,Score,Notes\nsub-01,-1.5,=cmd|' /C calc'!A0\nsub-02,+3,@SUM(A1:A2)\nsub-03,1e-3,-2+3\nsub-04,7,\"\tx\"\n=HYPERLINK(1),2,ok\n", encoding="utf-8"
    )
    anonymize_other(src, tmp_path / "out.csv", secret=SECRET, roster=ROSTER, namer=namer)
    rows = list(csv.reader(io.StringIO((tmp_path / "out.csv").read_text(encoding="utf-8"))))
    assert rows[1] == ["sub-01", "-1.5", "'=cmd|' /C calc'!A0"]
    assert rows[2] == ["sub-02", "+3", "'@SUM(A1:A2)"]
    assert rows[3] == ["sub-03", "1e-3", "'-2+3"]
    assert rows[4] == ["sub-04", "7", "'\tx"]
    assert rows[5][0] == "'=HYPERLINK(1)"
