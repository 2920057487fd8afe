"""Hostile and malformed annotation files fail with the file and the place named."""

from __future__ import annotations

from pathlib import Path

import pytest

from avanon.annotations.formats import read_annotations
from avanon.annotations.safety import check_xml, decode_text, read_bytes
from avanon.errors import MediaError
from avanon.files import write_atomic

BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<ANNOTATION_DOCUMENT VERSION="3.0">&lol2;</ANNOTATION_DOCUMENT>
"""
EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<ANNOTATION_DOCUMENT VERSION="3.0">&xxe;</ANNOTATION_DOCUMENT>
"""


def test_entity_expansion_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.eaf"
    path.write_text(BOMB, encoding="utf-8")
    with pytest.raises(MediaError, match="bomb.eaf: refused unsafe XML"):
        read_annotations(path)


def test_external_entity_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "xxe.eaf"
    path.write_text(EXTERNAL, encoding="utf-8")
    with pytest.raises(MediaError, match="xxe.eaf: refused unsafe XML"):
        check_xml(path)


def test_broken_xml_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.eaf"
    path.write_text('<?xml version="1.0"?>\n<ANNOTATION_DOCUMENT>\n  <HEADER>\n</ANNOTATION_DOCUMENT>\n', encoding="utf-8")
    with pytest.raises(MediaError, match=r"broken.eaf: line 4, column \d+: broken XML"):
        read_annotations(path)


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "deep.eaf"
    path.write_text("<a>" * 50 + "</a>" * 50, encoding="utf-8")
    with pytest.raises(MediaError, match="nesting deeper than 32"):
        check_xml(path)


def test_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.rttm"
    path.write_bytes(b"x" * 1000)
    with pytest.raises(MediaError, match="1000 bytes, larger than the limit of 100 bytes"):
        read_bytes(path, max_bytes=100)


def test_non_utf8_text_names_line_and_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.TextGrid"
    path.write_bytes('File type = "ooTextFile"\nObject class = "TextGrid"\n\nname = "Zo\u00eb"\n'.encode("latin-1"))
    with pytest.raises(MediaError, match=r"latin1.TextGrid: line 4, byte 62: text is not valid UTF-8 \(byte 0xeb\)"):
        read_annotations(path)


def test_utf16_with_and_without_bom() -> None:
    text = 'File type = "ooTextFile"'
    assert decode_text(text.encode("utf-16"), "x") == text
    assert decode_text(text.encode("utf-16-be"), "x") == text
    assert decode_text(text.encode("utf-16-le"), "x") == text


def test_write_atomic_replaces_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "a.txt"
    write_atomic(path, b"one")
    write_atomic(path, b"two")
    assert path.read_bytes() == b"two"
    assert [p.name for p in path.parent.iterdir()] == ["a.txt"]
