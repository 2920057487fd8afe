"""Every real annotation example reads, writes and reads back to the same tiers, times and values."""

from __future__ import annotations

from pathlib import Path

import pytest

from avanon.annotations.formats import detect_format, is_annotation, read_annotations, write_annotations

DEV = (Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dev").resolve()

FOLDERS = ("childproject_annotations", "pympi", "boris_testfiles", "praatio", "mfa_testdata", "parselmouth_examples")


def _examples() -> list[Path]:
    found = []
    for folder in FOLDERS:
        for path in sorted((DEV / folder).rglob("*")):
            if path.is_file() and detect_format(path) is not None:
                found.append(path)
    return found


EXAMPLES = _examples()


def _summary(doc) -> list[tuple]:
    return [
        (
            t.name,
            t.kind,
            [(a.onset, a.offset, a.value, a.ref, tuple(sorted((k, v) for k, v in a.fields.items() if not k.startswith("_")))) for a in t.annotations],
        )
        for t in doc.tiers
    ]


def _close(a: float | None, b: float | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and abs(a - b) < 1e-6)


def test_real_examples_cover_every_format() -> None:
    formats = {detect_format(p) for p in EXAMPLES}
    assert formats == {"elan", "textgrid", "rttm", "chat", "boris", "csv"}
    assert len(EXAMPLES) >= 60


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.relative_to(DEV).as_posix())
def test_round_trip(path: Path, tmp_path: Path) -> None:
    doc = read_annotations(path)
    assert doc.count() > 0
    out = tmp_path / path.name
    write_annotations(doc, out)
    again = read_annotations(out, format=doc.format)
    first, second = _summary(doc), _summary(again)
    assert [(n, k, len(a)) for n, k, a in first] == [(n, k, len(a)) for n, k, a in second]
    for (name, _, anns1), (_, _, anns2) in zip(first, second):
        for a, b in zip(anns1, anns2):
            assert _close(a[0], b[0]) and _close(a[1], b[1]), (name, a, b)
            assert a[2:] == b[2:], (name, a, b)
    assert [(m.path, m.relative, m.role) for m in doc.media] == [(m.path, m.relative, m.role) for m in again.media]
    assert not list(tmp_path.glob("*.part")), "temporary file left behind"


def test_is_annotation_rejects_other_tables_and_files(dev_data: Path) -> None:
    assert not is_annotation(dev_data / "boris_testfiles/tests/files/test_check_txt_file_test_csv.csv")  # sensor log
    assert not is_annotation(dev_data / "boris_testfiles/tests/files/test_check_txt_file_test_tsv.tsv")
    assert not is_annotation(dev_data / "childproject_annotations/examples/valid_raw_data/metadata/recordings.csv")
    assert not is_annotation(dev_data / "boris_testfiles/tests/files/test.boris")
    assert not is_annotation(dev_data / "praatio/tests/files/bobby.PointProcess")
    assert is_annotation(dev_data / "boris_testfiles/tests/files/test_export_events_tabular.tsv")
    assert is_annotation(dev_data / "pympi/test/sample_2.7.eaf")


def test_detect_table_with_semicolons_and_durations(tmp_path: Path) -> None:
    path = tmp_path / "codes.csv"
    path.write_text("start;duration;label\n0.5;1.25;smile\n3;0.5;look\n", encoding="utf-8")
    assert detect_format(path) == "csv"
    doc = read_annotations(path)
    assert [(a.onset, a.offset, a.value) for _, a in doc.annotations()] == [(0.5, 1.75, "smile"), (3.0, 3.5, "look")]
