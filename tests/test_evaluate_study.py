"""End-to-end tests of `avanon evaluate` (avanon.evaluate.study, avanon.report, avanon.cli.evaluate)."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from avanon import registry
from avanon.cli import main
from avanon.errors import IntegrityError
from avanon.evaluate.study import evaluate_study, read_pairs

HAMILTON = "face_recognition_examples/examples/short_hamilton_clip.mp4"
SPEECH = "praatio/examples/files"


def cut_video(src: Path, dst: Path, *, frames: int, black: bool) -> None:
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        stream = inp.streams.video[0]
        enc = out.add_stream("libx264", rate=stream.average_rate)
        enc.width, enc.height, enc.pix_fmt = stream.width, stream.height, "yuv420p"
        for i, frame in enumerate(inp.decode(stream)):
            if i >= frames:
                break
            rgb = frame.to_ndarray(format="rgb24")
            if black:
                rgb = np.zeros_like(rgb)
            for packet in enc.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in enc.encode():
            out.mux(packet)


@pytest.fixture()
def study(tmp_path: Path, dev_data: Path) -> tuple[Path, Path]:
    original, anonymized = tmp_path / "study", tmp_path / "out"
    (original / "sub-01").mkdir(parents=True)
    (original / "sub-02").mkdir(parents=True)
    (anonymized / "sub-01").mkdir(parents=True)
    (anonymized / "sub-02").mkdir(parents=True)
    voice = registry.create("voice", "mcadams", alpha=0.8)
    entries = []
    for sub, name in (("sub-01", "bobby.wav"), ("sub-02", "mary.wav")):
        x, sr = sf.read(dev_data / SPEECH / name, dtype="float32")
        sf.write(original / sub / f"{sub}_task-read.wav", x, sr)
        sf.write(anonymized / sub / f"{sub}_task-read.wav", voice.apply(x, sr, seed=1, speaker=sub), sr)
        entries.append({"input": f"{sub}/{sub}_task-read.wav", "output": f"{sub}/{sub}_task-read.wav", "status": "ok"})
    cut_video(dev_data / HAMILTON, original / "sub-01" / "sub-01_task-play.mp4", frames=20, black=False)
    cut_video(dev_data / HAMILTON, anonymized / "sub-01" / "sub-01_task-play.mp4", frames=20, black=True)
    entries.append({"input": "sub-01/sub-01_task-play.mp4", "output": "sub-01/sub-01_task-play.mp4", "status": "ok"})
    entries.append({"input": "sub-02/broken.mp4", "output": None, "status": "failed", "reason": "test"})
    header = {"recipe": {"name": "default", "audio": {"voice": {"name": "mcadams", "alpha": 0.8}}}, "seed": 1}
    (anonymized / "avanon_manifest.json").write_text(json.dumps({**header, "entries": entries}), encoding="utf-8")
    return original, anonymized


def test_pairs_come_from_the_manifest(study: tuple[Path, Path], tmp_path: Path) -> None:
    pairs, header = read_pairs(*study)
    assert [(p.input, p.kind) for p in pairs] == [  # the manifest's order; the failed entry is left out
        ("sub-01/sub-01_task-read.wav", "audio"),
        ("sub-02/sub-02_task-read.wav", "audio"),
        ("sub-01/sub-01_task-play.mp4", "video"),
    ]
    assert {p.speaker for p in pairs} == {"sub-01", "sub-02"}
    assert header["seed"] == 1
    with pytest.raises(IntegrityError, match="no run manifest"):
        read_pairs(study[0], tmp_path)


def test_evaluate_study_measures_privacy_and_utility(study: tuple[Path, Path]) -> None:
    evaluation = evaluate_study(*study, every=10, voice_attacks=False)
    assert evaluation.value("residual_faces") == 0.0  # the video was blacked out
    assert evaluation.summary["residual_faces"].n >= 1
    bobby = next(f for f in evaluation.files if f["input"] == "sub-01/sub-01_task-read.wav")
    assert bobby["scores"]["f0_correlation"]["value"] > 0.9  # McAdams keeps the excitation
    assert evaluation.summary["f0_correlation"].detail["files"] == 2
    assert evaluation.value("metadata_residue") == 0
    assert evaluation.value("pose_pck") == 0.0  # poses found in the original, none in the blacked-out video
    assert evaluation.summary["pose_pck"].n == 1
    assert evaluation.errors == []  # the pinned offline recognizer is installed: the WER is computed
    assert evaluation.summary["wer"].n == 2 and evaluation.value("wer") < 0.2  # McAdams keeps the words


def test_cli_writes_metrics_and_a_self_contained_report(study: tuple[Path, Path], tmp_path: Path) -> None:
    report_dir = tmp_path / "report"
    code = main(["evaluate", str(study[0]), str(study[1]), "-o", str(report_dir), "--every", "10", "--no-voice-attacks"])
    assert code == 0
    metrics = json.loads((report_dir / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["summary"]["residual_faces"]["value"] == 0.0
    assert len(metrics["files"]) == 3
    html = (report_dir / "report.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in html  # pitch overlays embedded
    assert "http://" not in html and "https://" not in html and "<script" not in html


def test_commands_have_help() -> None:
    assert main(["evaluate", "--help"]) == 0
    assert main(["pilot", "--help"]) == 0
