"""End-to-end tests of `avanon evaluate` (avanon.evaluate.study, avanon.report, avanon.cli.evaluate)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from avanon import registry
from avanon.cli import main
from avanon.errors import IntegrityError
from avanon.evaluate import faces, frames, sessions, speech
from avanon.evaluate import video as video_metrics
from avanon.evaluate.base import Metric, score_of
from avanon.evaluate.study import evaluate_study, read_pairs
from synth import write_video, write_wav

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
    ((name, rows),) = evaluation.collateral  # the worst frames of the painted video, as overlays for the report
    assert name == "sub-01_task-play.mp4" and 1 <= len(rows) <= 2 and rows[0].shape[1] == 480


def test_cli_writes_metrics_and_a_self_contained_report(study: tuple[Path, Path], tmp_path: Path) -> None:
    report_dir = tmp_path / "report"
    code = main(["evaluate", str(study[0]), str(study[1]), "-o", str(report_dir), "--every", "10", "--no-voice-attacks"])
    assert code == 0
    metrics = json.loads((report_dir / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["summary"]["residual_faces"]["value"] == 0.0
    assert len(metrics["files"]) == 3
    html = (report_dir / "report.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in html  # pitch overlays embedded
    assert 'alt="collateral overlay"' in html  # the blacked-out video's worst frames
    assert "http://" not in html and "https://" not in html and "<script" not in html


def test_commands_have_help() -> None:
    assert main(["evaluate", "--help"]) == 0
    assert main(["pilot", "--help"]) == 0


# ---------------------------------------------------------------------------------------------
# One path through the registry; each video pair decoded once, each sound read once
# ---------------------------------------------------------------------------------------------


@pytest.fixture()
def small_study(tmp_path: Path) -> tuple[Path, Path]:
    """Synthetic videos with sound of two participants and a voice-like recording, 'anonymized' as copies of themselves."""
    original, anonymized = tmp_path / "orig", tmp_path / "anon"
    for rel in ("sub-01/clip.mp4", "sub-01/again.mp4", "sub-02/clip.mp4"):
        write_video(original / rel, frames=20, size=(160, 120), audio_rate=16000)
    write_wav(original / "sub-02" / "voice.wav", seconds=1.0)
    entries = []
    for rel in ("sub-01/clip.mp4", "sub-01/again.mp4", "sub-02/clip.mp4", "sub-02/voice.wav"):
        (anonymized / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(original / rel, anonymized / rel)
        entries.append({"input": rel, "output": rel, "status": "ok"})
    (anonymized / "avanon_manifest.json").write_text(json.dumps({"recipe": {"name": "test"}, "seed": 0, "entries": entries}), encoding="utf-8")
    return original, anonymized


class ThrowawayLoudness(Metric):
    """RMS of the anonymized sound over the original's (a metric known only to this test)."""

    name = "throwaway_loudness"
    kinds = ("audio", "video")
    studies: list[int] = []

    def measure_pair(self, media):  # type: ignore[no-untyped-def]
        audio = media.audio
        if audio is None:
            return []
        ratio = float(np.sqrt(np.mean(audio.anonymized**2)) / np.sqrt(np.mean(audio.original**2)))
        return [score_of(self, ratio, n=len(audio.original))]

    def measure_study(self, study):  # type: ignore[no-untyped-def]
        type(self).studies.append(len(study.pairs))
        return []


def test_a_registered_metric_runs_in_the_study_evaluation(small_study: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry._REGISTRY["metric"], ThrowawayLoudness.name, ThrowawayLoudness)  # removed again after the test
    ThrowawayLoudness.studies = []
    evaluation = evaluate_study(*small_study, every=10, voice_attacks=False, transcriber=lambda samples, rate: "one two three")
    by_file = {f["input"]: f["scores"] for f in evaluation.files}
    assert by_file["sub-01/clip.mp4"]["throwaway_loudness"]["value"] == pytest.approx(1.0, abs=1e-6)  # the same sound
    assert by_file["sub-02/voice.wav"]["throwaway_loudness"]["value"] == pytest.approx(1.0, abs=1e-6)
    assert evaluation.summary["throwaway_loudness"].detail["files"] == 4
    assert ThrowawayLoudness.studies == [4]  # the study-level call ran once
    assert {"residual_faces", "pose_pck", "motion_correlation", "timing_offset", "f0_correlation", "metadata_residue"} <= set(evaluation.summary)
    assert evaluation.errors == []


def test_the_registry_is_left_as_it_was() -> None:
    assert ThrowawayLoudness.name not in registry.names("metric")


def test_each_video_pair_is_decoded_once_and_each_sound_read_once(small_study: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    decoded: dict[str, int] = {}
    read: dict[str, int] = {}
    decode, read_mono = frames.video_frames, speech.read_mono

    def count(calls: dict[str, int], path: Path) -> None:
        rel = Path(path).relative_to(small_study[0].parent).as_posix()
        calls[rel] = calls.get(rel, 0) + 1

    def counting_decode(path):  # type: ignore[no-untyped-def]
        count(decoded, path)
        return decode(path)

    def counting_read(path):  # type: ignore[no-untyped-def]
        count(read, path)
        return read_mono(path)

    decoders = ((frames, "video_frames"), (faces, "_video_frames"), (video_metrics, "video_frames"), (sessions, "video_frames"))
    for module, name in decoders:  # every way to the decoder
        monkeypatch.setattr(module, name, counting_decode)
    monkeypatch.setattr(speech, "read_mono", counting_read)
    evaluation = evaluate_study(*small_study, every=10, voice_attacks=True, transcriber=lambda samples, rate: "one two three")
    videos = ("sub-01/clip.mp4", "sub-01/again.mp4", "sub-02/clip.mp4")
    assert decoded == {f"{side}/{rel}": 1 for side in ("orig", "anon") for rel in videos}
    assert read == {f"{side}/{rel}": 1 for side in ("orig", "anon") for rel in (*videos, "sub-02/voice.wav")}
    # the attacks that read sound and faces of every file ran on what the one pass measured
    assert {"linkage_voice_same_secret", "linkage_external_voice", "linkage_external_face"} <= set(evaluation.summary)
    assert evaluation.voice["chunks"] == 0  # speaker verification ran (no speech chunk of 2 s in these files)
    clip = next(f for f in evaluation.files if f["input"] == "sub-01/clip.mp4")["scores"]
    assert clip["motion_correlation"]["value"] == pytest.approx(1.0)  # every frame of both files seen in the one pass
    assert clip["motion_correlation"]["detail"]["frames_original"] == 20
    assert clip["pose_pck"]["detail"]["frames_sampled"] == 2 and clip["frame_painted"]["value"] == 0.0  # frames 0 and 10


def test_a_pair_that_cannot_be_decoded_is_reported_once_and_its_frame_metrics_left_out(tmp_path: Path) -> None:
    original, anonymized = tmp_path / "orig", tmp_path / "anon"
    write_video(original / "sub-01" / "clip.mp4", frames=10, audio_rate=None)
    (anonymized / "sub-01").mkdir(parents=True)
    (anonymized / "sub-01" / "clip.mp4").write_bytes(b"not a video")
    entries = [{"input": "sub-01/clip.mp4", "output": "sub-01/clip.mp4", "status": "ok"}]
    (anonymized / "avanon_manifest.json").write_text(json.dumps({"entries": entries}), encoding="utf-8")
    evaluation = evaluate_study(original, anonymized, every=5, voice_attacks=False)
    decoding = [e for e in evaluation.errors if e["metric"] == "*"]
    assert len(decoding) == 1 and decoding[0]["file"] == "sub-01/clip.mp4" and "cannot open the video" in decoding[0]["error"]
    assert not {"pose_pck", "motion_correlation", "frame_painted"} & set(evaluation.files[0]["scores"])  # nothing from a half-fed analysis
    assert np.isnan(evaluation.value("residual_faces")) and evaluation.summary["residual_faces"].n == 0  # no face was checked: not 0 leaks
