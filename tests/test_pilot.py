"""Tests of `avanon pilot` (avanon.pilot): sampling, levels, thresholds, recommendation, report."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from avanon import recipe
from avanon.cli import main
from avanon.errors import AccessError, ParameterError
from avanon.evaluate.base import Score
from avanon.evaluate.study import StudyEvaluation
from avanon.pilot import (
    DEFAULT_LEVELS,
    LevelResult,
    check_thresholds,
    paired_annotations,
    parse_fraction,
    recommend,
    remembering,
    run_pilot,
    sample_study,
    utility_index,
)
from synth import write_video

HAMILTON = "face_recognition_examples/examples/short_hamilton_clip.mp4"
FALCON = "picovoice_falcon/resources/audio_samples/test.wav"
BOBBY = "praatio/examples/files/bobby.wav"
RTTM = "SPEAKER sub-02_task-talk 1 1.70 2.20 <NA> <NA> spk1 <NA> <NA>\nSPEAKER sub-02_task-talk 1 6.20 1.70 <NA> <NA> spk2 <NA> <NA>\n"


def cut_clip(src: Path, dst: Path, *, frames: int) -> None:
    """The first ``frames`` frames of a real video, re-encoded without sound."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        stream = inp.streams.video[0]
        enc = out.add_stream("libx264", rate=stream.average_rate)
        enc.width, enc.height, enc.pix_fmt = stream.width, stream.height, "yuv420p"
        for i, frame in enumerate(inp.decode(stream)):
            if i >= frames:
                break
            for packet in enc.encode(av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"), format="rgb24")):
                out.mux(packet)
        for packet in enc.encode():
            out.mux(packet)


def make_study(root: Path, dev_data: Path) -> Path:
    """Two participants: a real face clip and a synthetic video; a real read sentence and a 3-speaker talk with an RTTM."""
    (root / "sub-01").mkdir(parents=True)
    (root / "sub-02").mkdir(parents=True)
    cut_clip(dev_data / HAMILTON, root / "sub-01" / "sub-01_task-play.mp4", frames=20)
    write_video(root / "sub-01" / "sub-01_task-tone.mp4", frames=20)
    x, rate = sf.read(dev_data / BOBBY, dtype="float32")
    sf.write(root / "sub-02" / "sub-02_task-read.wav", x, rate)
    x, rate = sf.read(dev_data / FALCON, dtype="float32")
    sf.write(root / "sub-02" / "sub-02_task-talk.wav", x[: 8 * rate], rate)
    (root / "sub-02" / "sub-02_task-talk.rttm").write_text(RTTM, encoding="utf-8")
    (root / "participants.tsv").write_text("participant_id\tsex\nsub-01\tF\nsub-02\tM\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def piloted(tmp_path_factory: pytest.TempPathFactory, dev_data: Path) -> tuple[Path, Path, int]:
    """`avanon pilot` run once over a half sample with the two lighter levels."""
    tmp = tmp_path_factory.mktemp("pilot")
    study = make_study(tmp / "study", dev_data)
    out = tmp / "pilot"
    code = main(["pilot", str(study), "-o", str(out), "--levels", "light,medium", "--sample", "50%", "--seed", "1"])
    return study, out, code


def test_cli_pilot_runs_each_level_and_recommends(piloted: tuple[Path, Path, int]) -> None:
    study, out, code = piloted
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    # one file per participant and modality: the real clip and the talk (with its RTTM beside it)
    assert metrics["sample"] == ["sub-01/sub-01_task-play.mp4", "sub-02/sub-02_task-talk.wav"]
    assert (out / "sample" / "sub-02" / "sub-02_task-talk.rttm").is_file()
    assert not (out / "sample" / "sub-01" / "sub-01_task-tone.mp4").exists()
    levels = {level["level"]: level for level in metrics["levels"]}
    assert list(levels) == ["light", "medium"]
    for name, level in levels.items():
        manifest = json.loads((out / "runs" / name / "avanon_manifest.json").read_text(encoding="utf-8"))
        assert manifest["recipe"]["name"] == name
        assert {e["status"] for e in manifest["entries"] if e["input"] in metrics["sample"]} == {"ok"}
        summary = level["evaluation"]["summary"]
        assert summary["residual_faces"]["n"] >= 2  # faces of the real clip were checked
        assert summary["turn_boundary_shift"]["value"] < 0.1  # McAdams keeps turn timing
        assert summary["f0_correlation"]["value"] > 0.8
        assert "eer_lazy_informed" in level["not_judged"]  # one speaker in the sample: no EER
    assert levels["light"]["evaluation"]["summary"]["residual_faces"]["n"] == levels["medium"]["evaluation"]["summary"]["residual_faces"]["n"]
    passing = [lv for lv in metrics["levels"] if lv["meets"]]
    if passing:
        best = max(passing, key=lambda lv: lv["utility_index"])
        assert metrics["recommended"] == best["level"] and best["level"] in metrics["reason"]
    else:
        assert metrics["recommended"] is None and metrics["reason"].startswith("No level")


def test_pilot_report_is_self_contained(piloted: tuple[Path, Path, int]) -> None:
    _, out, _ = piloted
    html = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="recommended-level"' in html and "privacy-utility trade-off" in html
    assert html.count('class="tradeoff-plot"') >= 1 and html.count('class="level-plot"') >= 3
    assert "level light" in html and "level medium" in html
    table = html[html.index('<table id="levels">') :]
    assert "<td></td>" not in table[: table.index("</table>")]  # every level has a value for every metric shown
    assert "http://" not in html and "https://" not in html and "<script" not in html
    for sensitive in ("sub-02_task-talk.rttm", "spk1"):
        assert sensitive not in html


def test_pilot_refuses_a_used_folder_and_bad_levels(piloted: tuple[Path, Path, int], tmp_path: Path) -> None:
    study, out, _ = piloted
    with pytest.raises(AccessError, match="not empty"):
        run_pilot(study, out, levels=["light"])
    assert main(["pilot", str(study), "-o", str(out)]) == 2
    with pytest.raises(ParameterError, match="distinct names"):
        run_pilot(study, tmp_path / "a", levels=["light", "light"])
    with pytest.raises(ParameterError, match="Unknown recipe 'feather'"):
        run_pilot(study, tmp_path / "b", levels=["feather"])
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_sample_is_stratified_and_keyed(piloted: tuple[Path, Path, int]) -> None:
    study, _, _ = piloted
    half = sample_study(study, 0.5, seed=1)
    assert sample_study(study, 0.5, seed=1) == half
    groups = {(rel.split("/")[0], rel.rsplit(".", 1)[1]) for rel in half}
    assert len(half) == len(groups) == 2
    assert len(sample_study(study, 1.0)) == 4  # annotations and participants.tsv are not media
    assert {tuple(sample_study(study, 0.1, seed=s)) for s in range(8)} != {tuple(half)}  # the seed matters
    assert paired_annotations(study, ["sub-02/sub-02_task-talk.wav"]) == ["sub-02/sub-02_task-talk.rttm"]
    assert paired_annotations(study, ["sub-02/sub-02_task-read.wav"]) == []
    assert parse_fraction("10%") == pytest.approx(0.1) and parse_fraction("0.25") == 0.25
    with pytest.raises(ParameterError, match="percentage"):
        parse_fraction("ten")
    with pytest.raises(ParameterError, match="fraction in"):
        sample_study(study, 1.5)


def evaluation(**values: float) -> StudyEvaluation:
    result = StudyEvaluation("orig", "anon")
    for name, value in values.items():
        direction = "lower" if name in ("residual_faces", "metadata_residue") else "higher"
        aspect = "utility" if name in ("f0_correlation", "pose_pck") else "privacy"
        result.summary[name] = Score(name, value, direction, aspect)
    return result


def level(name: str, thresholds: dict[str, tuple[str, float]], **values: float) -> LevelResult:
    ev = evaluation(**values)
    failed, unjudged = check_thresholds(ev, thresholds)
    return LevelResult(name, ev, not failed, failed, utility_index(ev), unjudged)


def test_recommendation_is_the_least_distorting_level_that_is_safe() -> None:
    bounds = {"residual_faces": ("max", 0.0), "eer_lazy_informed": ("min", 0.3)}
    light = level("light", bounds, residual_faces=0.1, eer_lazy_informed=0.2, f0_correlation=0.95, pose_pck=0.9)
    medium = level("medium", bounds, residual_faces=0.0, eer_lazy_informed=0.35, f0_correlation=0.9, pose_pck=0.8)
    strong = level("strong", bounds, residual_faces=0.0, eer_lazy_informed=0.5, f0_correlation=0.2, pose_pck=0.8)
    assert light.failed == ["residual_faces 0.100 > 0.0", "eer_lazy_informed 0.200 < 0.3"]
    assert medium.meets and strong.meets
    chosen, reason = recommend([light, medium, strong])
    assert chosen == "medium" and "utility index 0.850" in reason and "strong 0.500" in reason
    chosen, reason = recommend([light])
    assert chosen is None and "light: residual_faces 0.100 > 0.0" in reason
    # a metric that could not be computed is not judged, and said so
    quiet = level("quiet", bounds, residual_faces=0.0, f0_correlation=0.9)
    assert quiet.meets and quiet.unjudged == ["eer_lazy_informed"]
    assert "Not judged on this sample (could not be computed): eer_lazy_informed" in recommend([quiet])[1]
    # no utility measured: the lightest (first) passing level
    a, b = level("a", bounds, residual_faces=0.0), level("b", bounds, residual_faces=0.0)
    assert np.isnan(a.utility) and recommend([a, b])[0] == "a"
    # a level whose files failed to anonymize never qualifies
    broken = LevelResult("broken", medium.evaluation, False, [], medium.utility, [], [("x.mp4", "decode error")])
    assert recommend([broken])[0] is None and "1 files failed" in recommend([broken])[1]


def test_transcripts_are_remembered() -> None:
    calls: list[int] = []

    def transcribe(samples: np.ndarray, rate: int) -> str:
        calls.append(rate)
        return f"{len(samples)} samples"

    run = remembering(transcribe)
    x = np.ones(100, np.float32)
    assert run(x, 16000) == run(x.copy(), 16000) == "100 samples"
    assert run(x, 8000) == "100 samples" and run(np.zeros(100, np.float32), 16000) == "100 samples"
    assert calls == [16000, 8000, 16000]


def test_default_levels_are_built_in_and_ordered() -> None:
    assert DEFAULT_LEVELS == ("light", "medium", "strong")
    light, medium, strong = (recipe.load(name) for name in DEFAULT_LEVELS)
    assert light.video.obfuscation.name == "pixelate" and light.audio.voice.params["alpha"] == 0.9
    assert medium.video.obfuscation.dump() == recipe.load("default").video.obfuscation.dump()
    assert medium.audio.voice.dump() == {"name": "mcadams", "alpha": 0.8}
    assert strong.video.obfuscation.name == "solid"
    assert strong.video.tracking.expand > medium.video.tracking.expand and strong.video.tracking.margin > medium.video.tracking.margin
    assert strong.audio.voice.name == "resynth"
