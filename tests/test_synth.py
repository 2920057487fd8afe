"""Synthetic features: formats kept, statistics within tolerance, privacy at chance, and checks that fail."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from avanon.errors import ParameterError
from avanon.files import sha256_file
from avanon.synth import tables, validate
from avanon.synth.motion import MotionSynthesizer, split_blocks
from avanon.synth.pipeline import REPORT_JSON, REPORT_MD, SynthOptions, session_rng, synthesize_features
from avanon.synth.turns import TurnSynthesizer, runs, segments_of

JOINTS = ("nose", "left_shoulder", "right_shoulder", "left_wrist", "right_wrist", "left_hip", "right_hip")
SCALARS = validate.SCALAR_CHANNELS
FRAMES, RATE = 5000, 10.0  # 500 s per session: ~1000 two-second blocks of person-time, so the attack's accuracy is within +-0.03 of its mean


def _latent(rng: np.random.Generator, frames: int, drive: np.ndarray | None = None) -> np.ndarray:
    """Three smooth AR(1) processes (time constant 20 frames); the second person follows the first 5 frames later."""
    z = np.zeros((frames, 3))
    for t in range(1, frames):
        z[t] = 0.95 * z[t - 1] + 0.3 * rng.standard_normal(3)
        if drive is not None and t >= 5:
            z[t] += 0.25 * drive[t - 5]
    return z / z.std(axis=0)


def motion_table(path: Path, *, frames: int = FRAMES, seed: int = 0, persons: int = 2, rate: float = RATE) -> Path:
    """A feature table as `avanon features` writes it (a subset of its columns): two coupled persons, one leaving the view."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    cols = list(SCALARS) + [f"body_{j}_{a}" for j in JOINTS for a in ("x", "y", "visibility")]
    rows: dict[str, list[float]] = {"frame": [], "time": [], "person": []}
    values, lead = [], None
    for p in range(persons):
        z = _latent(rng, frames, drive=lead)
        lead = z
        x = z @ rng.normal(0, 1, (3, len(cols))) * 10 + rng.normal(0, 1, (frames, len(cols))) + rng.normal(100, 30, len(cols))
        x[:, cols.index("motion_energy")] = np.exp(0.5 * z[:, 0]) * 5  # skewed and positive
        for c, name in enumerate(cols):
            if name.endswith("_visibility"):
                x[:, c] = 1 / (1 + np.exp(-(z[:, 1] + 2)))  # in [0, 1]
        seen = np.ones(frames, bool)
        if p == 1:
            seen[200:230] = False
        for f in np.flatnonzero(seen):
            rows["frame"].append(f)
            rows["time"].append(f / rate)
            rows["person"].append(p)
            values.append(x[f])
    block = np.array(values, np.float32)
    data = {k: np.array(v) for k, v in rows.items()} | {c: block[:, i] for i, c in enumerate(cols)}
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(data), path)
    return path


def rttm(path: Path, *, seed: int = 0, seconds: float = 180.0) -> Path:
    """Two speakers taking turns (log-normal turns, gaps and some overlaps)."""
    rng = np.random.default_rng(seed)
    t, lines, who = 0.5, [], 0
    while t < seconds:
        d = float(rng.lognormal(0.5, 0.6))
        lines.append(f"SPEAKER rec{seed} 1 {t:.3f} {d:.3f} <NA> <NA> {'AB'[who]} <NA> <NA>")
        t += d + float(rng.normal(0.2, 0.4))
        who = 1 - who if rng.random() < 0.8 else who
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def features(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("features")
    for s in range(2):
        motion_table(root / f"sub-0{s + 1}" / "motion" / f"sub-0{s + 1}_task-play_tracksys-avanon_features.parquet", seed=s)
        rttm(root / f"sub-0{s + 1}" / "audio" / f"sub-0{s + 1}_task-play.rttm", seed=s)
    return root


@pytest.fixture(scope="module")
def synthesized(features: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("synth") / "out"
    return out, synthesize_features(features, out, options=SynthOptions(seed=0))


def _real_and_splits(features: Path, seed: int = 0) -> tuple[list[tables.MotionSession], list[tuple[np.ndarray, np.ndarray]]]:
    sessions, splits = [], []
    for path in tables.find_tables(features)[0]:
        session = tables.read_motion(path, root=features)
        sessions.append(session)
        splits.append(split_blocks(session.times, block=2.0, holdout=0.5, rng=session_rng(seed, session.rel)))
    return sessions, splits


def _by_name(checks: list[validate.Check]) -> dict[str, validate.Check]:
    return {c.name: c for c in checks}


def test_synthetic_tables_pass_every_check_and_membership_inference_is_at_chance(synthesized: tuple[Path, object]) -> None:
    out, report = synthesized
    checks = _by_name(report.checks)  # type: ignore[attr-defined]
    assert set(checks) == {
        "distribution",
        "autocorrelation",
        "correlation",
        "synchrony",
        "dcr_ratio",
        "membership_inference",
        "turn_rate",
        "turn_duration",
        "overlap_share",
        "silence_share",
    }
    failed = {name: (c.value, c.tolerance) for name, c in checks.items() if c.passed is not True}
    assert not failed
    mia = checks["membership_inference"]
    assert abs(mia.value - 0.5) <= 0.05 and mia.detail["trials"] >= 900  # blocks
    assert report.status == "passed"  # type: ignore[attr-defined]
    data = json.loads((out / REPORT_JSON).read_text(encoding="utf-8"))
    assert data["status"] == "passed" and data["provenance"]["seed"] == 0
    assert set(data["provenance"]["inputs"]) == {
        "sub-01/motion/sub-01_task-play_tracksys-avanon_features.parquet",
        "sub-01/audio/sub-01_task-play.rttm",
        "sub-02/motion/sub-02_task-play_tracksys-avanon_features.parquet",
        "sub-02/audio/sub-02_task-play.rttm",
    }
    assert "scikit-learn" in data["provenance"]["software"]
    markdown = (out / REPORT_MD).read_text(encoding="utf-8")
    assert f"{mia.value:.3f}" in markdown and "membership_inference" in markdown


def test_synthetic_tables_keep_the_formats_and_copy_no_frame(features: Path, synthesized: tuple[Path, object]) -> None:
    out, _ = synthesized
    rel = "sub-01/motion/sub-01_task-play_tracksys-avanon"
    for suffix in ("_features.parquet", "_motion.tsv", "_channels.tsv", "_motion.json"):
        assert (out / f"{rel}{suffix}").is_file()
    assert (out / "sub-01/audio/sub-01_task-play.rttm").is_file()
    real = tables.read_motion(features / f"{rel}_features.parquet", root=features)
    synth = tables.read_motion(out / f"{rel}_features.parquet", root=out)
    assert synth.columns == real.columns and synth.persons == real.persons and synth.values.shape == real.values.shape
    np.testing.assert_allclose(synth.times, real.times)
    j = real.columns.index("body_nose_visibility")
    seen = np.isfinite(synth.values[0, :, j])
    assert seen.mean() > 0.9 and np.nanmin(synth.values[:, :, j]) >= 0 and np.nanmax(synth.values[:, :, j]) <= 1
    assert np.nanmin(synth.values[:, :, real.columns.index("motion_energy")]) > 0
    rows_real = {tuple(np.round(r, 3)) for r in real.values[0][np.isfinite(real.values[0]).all(axis=1)]}
    rows_synth = [tuple(np.round(r, 3)) for r in synth.values[0][np.isfinite(synth.values[0]).all(axis=1)]]
    assert not any(r in rows_real for r in rows_synth)
    meta = json.loads((out / f"{rel}_motion.json").read_text(encoding="utf-8"))
    assert meta["Synthetic"] is True and meta["GeneratedBy"]["Seed"] == 0
    tsv = (out / f"{rel}_motion.tsv").read_text(encoding="utf-8").splitlines()
    assert len(tsv) == FRAMES and len(tsv[0].split("\t")) == 1 + 2 * len(real.columns)
    turns = tables.read_turns(out / "sub-01/audio/sub-01_task-play.rttm", root=out)
    assert turns.speakers == ["A", "B"] and turns.file_id == "rec0"


def test_frame_shuffling_fails_the_autocorrelation_check(features: Path) -> None:
    real, splits = _real_and_splits(features)
    rng = np.random.default_rng(0)
    shuffled = [tables.MotionSession(s.rel, s.times, s.persons, s.columns, s.values[:, rng.permutation(len(s.times))]) for s in real]
    checks = _by_name(validate.validate_motion(real, shuffled, splits, tolerances=validate.Tolerances(), window=1.0, seed=0))
    assert checks["distribution"].passed is True  # the same values...
    assert checks["autocorrelation"].passed is False  # ...in an order that has lost the movement
    assert checks["autocorrelation"].value > 0.3
    assert checks["synchrony"].passed is False


def test_copying_the_training_frames_fails_the_privacy_checks(features: Path) -> None:
    real, splits = _real_and_splits(features)
    copied = []
    for s, (members, _) in zip(real, splits):
        values = s.values.copy()
        values[:, ~members] = np.nan  # a "synthesiser" that hands back what it was trained on
        copied.append(tables.MotionSession(s.rel, s.times, s.persons, s.columns, values))
    checks = _by_name(validate.validate_motion(real, copied, splits, tolerances=validate.Tolerances(), window=1.0, seed=0))
    assert checks["membership_inference"].passed is False and checks["membership_inference"].value > 0.9
    assert checks["dcr_ratio"].passed is False and checks["dcr_ratio"].value < 0.1
    whole = [tables.MotionSession(s.rel, s.times, s.persons, s.columns, s.values.copy()) for s in real]  # every frame copied
    assert _by_name(validate.validate_motion(real, whole, splits, tolerances=validate.Tolerances(), window=1.0, seed=0))["dcr_ratio"].passed is False


def test_same_seed_same_bytes_other_seed_other_values(tmp_path: Path) -> None:
    features = tmp_path / "features"
    motion_table(features / "s_features.parquet", frames=300, seed=7)
    rttm(features / "s.rttm", seed=7, seconds=40)
    first, second, third = (synthesize_features(features, tmp_path / name, options=SynthOptions(seed=seed)) for name, seed in (("a", 1), ("b", 1), ("c", 2)))
    names = [*first.outputs, REPORT_JSON, REPORT_MD]
    assert sorted(first.outputs) == sorted(second.outputs) == sorted(third.outputs)
    assert all(sha256_file(tmp_path / "a" / n) == sha256_file(tmp_path / "b" / n) for n in names)
    assert sha256_file(tmp_path / "a" / "s_features.parquet") != sha256_file(tmp_path / "c" / "s_features.parquet")
    assert sha256_file(tmp_path / "a" / "s.rttm") != sha256_file(tmp_path / "c" / "s.rttm")


def test_inputs_are_never_touched_and_outputs_go_to_a_new_folder(tmp_path: Path) -> None:
    features = tmp_path / "features"
    table = motion_table(features / "s_features.parquet", frames=300, seed=1)
    before = sha256_file(table)
    with pytest.raises(ParameterError, match="outside the features folder"):
        synthesize_features(features, features / "synthetic")
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x.txt").write_text("x", encoding="utf-8")
    with pytest.raises(ParameterError, match="exists and is not empty"):
        synthesize_features(features, tmp_path / "used")
    with pytest.raises(ParameterError, match="no feature tables"):
        synthesize_features(tmp_path / "used", tmp_path / "out")
    synthesize_features(features, tmp_path / "out")
    assert sha256_file(table) == before and sorted(p.name for p in features.iterdir()) == ["s_features.parquet"]


def test_parameters_are_validated_with_the_standard_message() -> None:
    with pytest.raises(ParameterError, match=r"The 'holdout' parameter of SynthOptions must be a float in the range \(0, 0.5\]. Got 0.7 instead."):
        SynthOptions(holdout=0.7)
    with pytest.raises(ParameterError, match="The 'components' parameter of MotionSynthesizer must be an int in the range"):
        MotionSynthesizer(components=0)
    with pytest.raises(ParameterError, match="The 'tick' parameter of TurnSynthesizer"):
        TurnSynthesizer(tick=2.0)


def test_turn_model_round_trip_and_a_turnless_synthesiser_fails(tmp_path: Path) -> None:
    session = tables.read_turns(rttm(tmp_path / "r.rttm", seed=4, seconds=300), root=tmp_path)
    assert len(session.segments) >= validate.MIN_TURNS
    sequence = runs(session, tick=0.01)
    assert sum(d for _, d in sequence) == pytest.approx(np.ceil(session.duration / 0.01) * 0.01)
    back = segments_of(sequence)
    assert len(back) <= len(session.segments) and {s for *_, s in back} == {"A", "B"}
    synthetic = TurnSynthesizer().synthesize(session, np.random.default_rng(0))
    assert synthetic.duration == pytest.approx(session.duration, abs=1e-6)
    assert all(b > a for a, b, _ in synthetic.segments)
    good = _by_name(validate.turn_checks([session], [synthetic], validate.Tolerances()))
    assert good["turn_rate"].passed and good["silence_share"].passed
    monologue = tables.TurnSession(session.rel, session.file_id, [(0.0, session.duration, "A")])
    bad = _by_name(validate.turn_checks([session], [monologue], validate.Tolerances()))
    assert bad["turn_rate"].passed is False and bad["silence_share"].passed is False


def test_cli_synth_says_a_short_session_is_too_short_to_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from avanon.cli import main

    features = tmp_path / "features"
    motion_table(features / "s_features.parquet", frames=300, seed=2, rate=25.0)  # 12 s: too little to learn from or to judge
    code = main(["synth", str(features), "-o", str(tmp_path / "out"), "--seed", "5"])
    data = json.loads((tmp_path / "out" / REPORT_JSON).read_text(encoding="utf-8"))
    assert code == 3 and data["status"] == "not validated"  # neither passed nor failed, and never a success
    assert all(c["passed"] is None and c["detail"]["too_short_to_validate"]["have"] < c["detail"]["too_short_to_validate"]["need"] for c in data["checks"])
    markdown = (tmp_path / "out" / REPORT_MD).read_text(encoding="utf-8")
    assert "too short to validate: 12 s of the longest person in view, needs at least 300" in markdown
    assert "too short to validate: 11 blocks of real data, needs at least 385" in markdown
    assert (tmp_path / "out" / "s_features.parquet").is_file()  # written, and the report says it was not validated
    err = capsys.readouterr().err
    assert "validation not validated" in err and "too short to validate: 11 blocks of real data, needs at least 385" in err
    assert main(["synth", str(features), "-o", str(tmp_path / "x"), "--holdout", "0.9"]) == 2


def test_a_failed_check_outweighs_a_short_one_in_the_status() -> None:
    from avanon.synth.pipeline import report_status

    ok = validate.Check("turn_rate", "utility", 0.1, "<= 0.2", True, {})
    bad = validate.Check("turn_rate", "utility", 0.3, "<= 0.2", False, {})
    short = validate.too_short("distribution", "utility", "<= 0.15", have=12.0, need=300.0, unit="s")
    empty = validate.Check("synchrony", "utility", float("nan"), "<= 0.15", None, {})  # one person: nothing to compare
    assert short.is_too_short and not empty.is_too_short and short.detail["note"] == "too short to validate: 12 s, needs at least 300"
    assert report_status([ok, empty]) == "passed"
    assert report_status([ok, short]) == "not validated"
    assert report_status([bad, short]) == "failed"
    assert report_status([empty]) == "not validated"


def test_the_minimum_lengths_are_explicit_and_the_boundary_is_judged(tmp_path: Path) -> None:
    assert validate.min_blocks(0.05) == 385 and validate.min_blocks(0.1) == 97  # Wilson half-width at chance <= the margin
    session = tables.read_turns(rttm(tmp_path / "r.rttm", seed=3, seconds=600), root=tmp_path)
    synthetic = TurnSynthesizer().synthesize(session, np.random.default_rng(0))
    enough = tables.TurnSession(session.rel, session.file_id, session.segments[: validate.MIN_TURNS])
    fewer = tables.TurnSession(session.rel, session.file_id, session.segments[: validate.MIN_TURNS - 1])
    judged = validate.turn_checks([enough], [synthetic], validate.Tolerances())
    assert all(c.passed is not None for c in judged)
    short = validate.turn_checks([fewer], [synthetic], validate.Tolerances())
    assert [c.name for c in short] == [c.name for c in judged] and all(c.is_too_short for c in short)
    unit = "real speaker segments in the longest recording"
    assert short[0].detail["too_short_to_validate"] == {"have": validate.MIN_TURNS - 1, "need": validate.MIN_TURNS, "unit": unit}
    mixed = validate.turn_checks([enough, fewer], [synthetic, synthetic], validate.Tolerances())  # the short recording is left out
    assert [c.value for c in mixed] == [c.value for c in judged] and mixed[0].detail["too_short_recordings"] == 1
    # motion: a person enters the statistics from MIN_MOTION_SECONDS in view on
    rate = 10.0
    frames = int(validate.MIN_MOTION_SECONDS * rate)
    table = tables.read_motion(motion_table(tmp_path / "m_features.parquet", frames=frames, seed=3, persons=1, rate=rate), root=tmp_path)
    assert all(c.passed is not None for c in validate.motion_checks([table], [table], validate.Tolerances())[:3])
    cut = tables.MotionSession(table.rel, table.times, table.persons, table.columns, table.values.copy())
    cut.values[:, -1] = np.nan  # one frame less in view
    checks = validate.motion_checks([cut], [cut], validate.Tolerances())
    assert all(c.is_too_short for c in checks) and checks[0].detail["too_short_to_validate"]["need"] == validate.MIN_MOTION_SECONDS


def test_turn_durations_keep_the_real_mean_when_pauses_are_heavy_tailed() -> None:
    """Regression: a log-normal fitted to the log durations under-estimates the mean of heavy-tailed pauses.

    Bursts of quick turns separated by long pauses (as in a day-long recording): the old fit's
    pause mean was about half the real one, and the synthetic recording had too many turns per
    minute (+74 % on the real day-long VTC recording).
    """
    rng = np.random.default_rng(0)
    t, segments, who = 0.0, [], 0
    while len(segments) < 1000:
        for _ in range(int(rng.integers(2, 7))):
            d = float(rng.lognormal(0.0, 0.5))
            segments.append((t, t + d, "AB"[who]))
            t += d + float(rng.lognormal(-1.0, 0.5))
            who = 1 - who
        t += float(rng.lognormal(2.5, 0.8))  # a long pause
    session = tables.TurnSession("d.rttm", "d", segments)
    model = TurnSynthesizer().fit(session)
    sequence = runs(session, tick=0.01)
    for i, state in enumerate(model.states):
        durations = [d for s, d in sequence if s == state]
        if len(durations) >= 2:
            assert np.exp(model.log_mean[i] + model.log_std[i] ** 2 / 2) == pytest.approx(np.mean(durations), rel=1e-9)
            assert np.exp(model.log_mean[i]) == pytest.approx(np.median(durations), rel=1e-9)
    real = validate.turn_statistics([session])["turns_per_minute"]
    rates = [validate.turn_statistics([TurnSynthesizer().synthesize(session, np.random.default_rng(seed))])["turns_per_minute"] for seed in range(10)]
    assert abs(np.median(rates) / real - 1) <= 0.1  # the old fit: +17 to +38 % in every draw


def test_a_person_seen_too_briefly_to_synthesise_leaves_no_hole_in_the_validation(tmp_path: Path) -> None:
    """Real tables hold many short head tracks: a person with a few frames gets no model and no synthetic frames."""
    table = tables.read_motion(motion_table(tmp_path / "s_features.parquet", frames=400, seed=5), root=tmp_path)
    values = np.concatenate([table.values, np.full((1, *table.values.shape[1:]), np.nan)])
    values[2, 10:14] = table.values[0, 10:14]  # a third track of 4 frames
    brief = tables.MotionSession(table.rel, table.times, [*table.persons, 9], table.columns, values)
    members, blocks = split_blocks(brief.times, block=2.0, holdout=0.5, rng=np.random.default_rng(0))
    synthetic = MotionSynthesizer().synthesize(brief, members, np.random.default_rng(0))
    assert np.isnan(synthetic.values[2]).all() and np.isfinite(synthetic.values[0]).any()
    real_w, synth_w = validate.person_windows(brief, synthetic, 0, members, blocks, window=1.0)
    assert len(real_w.vectors) and real_w.vectors.shape[1] == synth_w.vectors.shape[1]
    empty = validate.person_windows(brief, synthetic, 2, members, blocks, window=1.0)
    assert [len(w.vectors) for w in empty] == [0, 0]
    nobody = tables.MotionSession(brief.rel, brief.times, brief.persons, brief.columns, np.full_like(brief.values, np.nan))
    real_w, none_w = validate.person_windows(brief, nobody, 0, members, blocks, window=1.0)  # the chain kept a person out of view throughout
    assert len(real_w.vectors) and none_w.vectors.shape == (0, real_w.vectors.shape[1])
    checks = _by_name(validate.validate_motion([brief], [synthetic], [(members, blocks)], tolerances=validate.Tolerances(), window=1.0, seed=0))
    assert set(checks) >= {"distribution", "membership_inference"}
