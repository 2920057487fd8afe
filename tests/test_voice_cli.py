"""Tests of the voice commands (avanon.cli.voice)."""

from __future__ import annotations

import json
from pathlib import Path

import soundfile as sf

from avanon.cli import main


def test_commands_have_help(capsys) -> None:  # type: ignore[no-untyped-def]
    for command in ("transcribe", "redact-speech"):
        assert main([command, "--help"]) == 0
        out = capsys.readouterr().out
        assert "Usage" in out and len(out) > 200


def test_redact_speech_with_roster_and_spans(dev_data: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    src = dev_data / "sprocket_vcc2016/example/data/wav/SF1/100008.wav"
    roster = tmp_path / "roster.txt"
    roster.write_text("Detail\n", encoding="utf-8")
    spans = tmp_path / "pii.tsv"
    spans.write_text("# start\tend\tcategory\n5.0\t5.5\tPII\n", encoding="utf-8")
    out = tmp_path / "out.wav"
    assert main(["redact-speech", str(src), "-o", str(out), "--roster", str(roster), "--spans", str(spans), "--mode", "noise"]) == 0
    assert "PERSON x1" in capsys.readouterr().err
    assert sf.info(out).frames == sf.info(src).frames
    data = json.loads((tmp_path / "out.transcript.json").read_text())
    assert {r["category"] for r in data["redactions"]} == {"PERSON", "PII"}
    bad = tmp_path / "bad.tsv"
    bad.write_text("1\t2\n", encoding="utf-8")
    assert main(["redact-speech", str(src), "-o", str(tmp_path / "o2.wav"), "--spans", str(bad)]) == 2
    assert "expected start_s, end_s, category" in capsys.readouterr().err
