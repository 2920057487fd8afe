"""RTTM, BORIS and plain tables: parsing rules and the errors for broken rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from avanon.annotations.boris import read_boris, write_boris
from avanon.annotations.model import REDACTED_TIER, mark_segments
from avanon.annotations.rttm import read_rttm, write_rttm
from avanon.annotations.table import read_table, write_table
from avanon.errors import MediaError


def test_rttm_tiers_media_and_noscore(tmp_path: Path, dev_data: Path) -> None:
    doc = read_rttm(dev_data / "childproject_annotations/tests/data/vtc.rttm")
    assert [m.path for m in doc.media] == ["namibie_aiku_20160714_1", "namibie_aiku_20170315_2"]
    assert {m.kind for m in doc.media} == {"stem"}
    first = doc.tier("SPEECH").annotations[0]
    assert (first.onset, round(first.offset, 3)) == (1982.193, 1982.492)
    mark_segments(doc, [(1.0, 2.0, "name")])
    out = tmp_path / "out.rttm"
    write_rttm(doc, out)
    assert "NOSCORE namibie_aiku_20160714_1 1 1 1 name" in out.read_text()
    assert read_rttm(out).tier("NOSCORE:<NA>").annotations[0].value == "name"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("SPEAKER f 1 1.0 0.5 <NA> <NA>", "line 1: expected 10 space-separated RTTM fields, found 7"),
        ("SPEAKERS f 1 1.0 0.5 <NA> <NA> A <NA> <NA>", "line 1: unknown RTTM type 'SPEAKERS'"),
        ("SPEAKER f 1 -1.0 0.5 <NA> <NA> A <NA> <NA>", "line 1: onset '-1.0' must be a finite number of seconds >= 0"),
        ("SPEAKER f 1 nan 0.5 <NA> <NA> A <NA> <NA>", "line 1: onset 'nan' must be a finite"),
        ("SPEAKER f 1 1.0 abc <NA> <NA> A <NA> <NA>", "line 1: duration 'abc' is not a number"),
    ],
)
def test_rttm_errors_name_the_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "bad.rttm"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(MediaError, match=message):
        read_rttm(path)


def test_boris_events_pairs_start_stop_and_keeps_header(dev_data: Path, tmp_path: Path) -> None:
    doc = read_boris(dev_data / "boris_testfiles/tests/files/test_export_events_tabular.tsv")
    assert doc.options["layout"] == "events"
    first = doc.tier("subject1").annotations[0]
    assert (first.onset, first.offset, first.value) == (3.3, 7.75, "s")
    assert [m.path for m in doc.media] == ["video_test_25fps_360s.mp4"]
    assert "2016-11-27 01:57:26" in doc.header.values()
    mark_segments(doc, [(1.0, 2.0, "name")])
    out = tmp_path / "out.tsv"
    write_boris(doc, out)
    again = read_boris(out)
    assert [(a.onset, a.offset) for a in again.tier(REDACTED_TIER).annotations] == [(1.0, 2.0)]
    assert again.tier("subject1").annotations[0].end_fields["Status"] == "STOP"


def test_boris_aggregated_points_and_states(dev_data: Path) -> None:
    doc = read_boris(dev_data / "boris_testfiles/tests/files/test_export_aggregated_events_test_full_1.tsv")
    kinds = {(a.fields["Behavior type"], a.onset == a.offset) for _, a in doc.annotations()}
    assert kinds == {("STATE", False), ("POINT", True)}


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("1.0\tA\ts\tSTOP\n", r"row 2: subject 'A', behaviour 's' stops without a START"),
        ("1.0\tA\ts\tSTART\n", r"row 2: behaviour 's' starts at 1.0 s and never stops"),
        ("2.0\tA\ts\tSTART\n1.0\tA\ts\tSTOP\n", r"row 3: subject 'A', behaviour 's' stops at 1.0 s, before its start at 2.0 s"),
        ("x\tA\ts\tPOINT\n", r"row 2: time 'x' is not a number"),
        ("1\tA\ts\tMAYBE\n", r"row 2: Status 'MAYBE' is not one of START, STOP, POINT"),
    ],
)
def test_boris_errors_name_the_row(tmp_path: Path, rows: str, message: str) -> None:
    path = tmp_path / "events.tsv"
    path.write_text("Time\tSubject\tBehavior\tStatus\n" + rows, encoding="utf-8")
    with pytest.raises(MediaError, match=message):
        read_boris(path)


def test_table_milliseconds_and_round_trip(dev_data: Path, tmp_path: Path) -> None:
    doc = read_table(dev_data / "childproject_annotations/examples/valid_raw_data/annotations/vtc_present/converted/sound_0_4000.csv")
    first = next(a for _, a in doc.annotations())
    assert (first.onset, first.offset, first.value) == (0.0, 0.453, "FEM")
    out = tmp_path / "out.csv"
    write_table(doc, out)
    assert out.read_text().splitlines()[1] == "0,453,FEM,example.rttm"


def test_table_bad_time_names_row_and_column(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("onset,offset,label\n1,2,a\n1,inf,b\n", encoding="utf-8")
    with pytest.raises(MediaError, match=r"row 3, column 'offset': 'inf' is not finite"):
        read_table(path)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("long.csv", "onset,offset,label\n0.01,0.1," + "x" * 1_100_000 + "\n", r"line 2: broken table \(a cell longer than"),
        ("boris.tsv", "Time\tSubject\tBehavior\tStatus\n0.1\ts\t" + "b" * 1_100_000 + "\tPOINT\n", r"line 2: broken table \(a cell longer than"),
        ("cr.csv", "onset,offset,label\n0.01,0.1,hi\n0.1,0.2,\ryo\n", r"row 4: 1 cells, the header has 3"),
    ],
)
def test_broken_tables_fail_with_a_named_reason(tmp_path: Path, name: str, text: str, message: str) -> None:
    """csv module errors (a huge cell) become MediaError naming the file; a bare CR ends a row (issue 17)."""
    from avanon.annotations import read_annotations

    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    with pytest.raises(MediaError, match=f"{name}: {message}"):
        read_annotations(path, format="boris" if name.endswith("tsv") else "csv")


def test_a_bare_cr_ends_a_row_and_long_cells_are_read(tmp_path: Path) -> None:
    path = tmp_path / "old-mac.csv"
    path.write_bytes(b"onset,offset,label\r0.01,0.1,hi\r0.1,0.2," + b"y" * 200_000 + b"\r")
    doc = read_table(path)
    assert [a.value[:2] for a in doc.tiers[0].annotations] == ["hi", "yy"]


def test_fifo_annotation_is_refused_without_opening(tmp_path: Path) -> None:
    import os

    from avanon.annotations import read_annotations

    os.mkfifo(tmp_path / "pipe.eaf")
    with pytest.raises(MediaError, match=r"pipe\.eaf: not a regular file"):
        read_annotations(tmp_path / "pipe.eaf")


def test_written_tables_hold_no_formulas(tmp_path: Path) -> None:
    """Labels and fields that a spreadsheet would run get a leading quote; times stay numbers (issue 17)."""
    import csv

    src = tmp_path / "a.csv"
    src.write_text("onset,offset,label,note\n-1.5,0.5,=cmd|' /C calc'!A0,+1\n1,2,@SUM(1),-x\n", encoding="utf-8")
    write_table(read_table(src), tmp_path / "out.csv")
    rows = list(csv.reader((tmp_path / "out.csv").open(encoding="utf-8")))
    assert rows[1] == ["-1.5", "0.5", "'=cmd|' /C calc'!A0", "+1"]
    assert rows[2] == ["1", "2", "'@SUM(1)", "'-x"]
    boris = tmp_path / "b.tsv"
    boris.write_text("Time\tSubject\tBehavior\tStatus\tComment\n0.1\t=s\tb\tPOINT\t@evil\n", encoding="utf-8")
    write_boris(read_boris(boris), tmp_path / "b-out.tsv")
    out = (tmp_path / "b-out.tsv").read_text(encoding="utf-8")
    assert "'=s" in out and "'@evil" in out and "\t=s" not in out
