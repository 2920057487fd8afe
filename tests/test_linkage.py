"""Linkage attacks (avanon.evaluate.linkage) and the Wilson interval (avanon.evaluate.intervals)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from avanon import registry
from avanon.cli import main
from avanon.errors import ParameterError
from avanon.evaluate import linkage
from avanon.evaluate.intervals import wilson_interval
from avanon.evaluate.linkage import Sessions, nearest_link

FSDD_SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")


def test_wilson_interval_known_values() -> None:
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson_interval(5, 10)
    assert (low, high) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    with pytest.raises(ParameterError):
        wilson_interval(3, 2)


def _clusters(separation: float, *, people: int = 5, sessions: int = 4, seed: int = 0) -> Sessions:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(people, 8)) * separation
    rows = [(centres[p] + rng.normal(size=8), f"p{p}", f"p{p}-s{s}") for p in range(people) for s in range(sessions)]
    return Sessions(np.stack([r[0] for r in rows]), [r[1] for r in rows], [r[2] for r in rows])


def test_nearest_link_separable_sessions_link_and_chance_is_the_share_of_true_candidates() -> None:
    result = nearest_link(_clusters(20.0), _clusters(20.0))
    # candidates from the probe's own recording are excluded: 3 of the 19 others belong to the probe's person
    assert result.chance == pytest.approx(3 / 19)
    assert result.rate == 1.0 and result.trials == 20 and result.identities == 5
    assert result.ci95 is not None and result.ci95[0] > 0.8


def test_nearest_link_without_information_is_near_chance() -> None:
    rates, chances = [], []
    for seed in range(20):
        result = nearest_link(_clusters(0.0, seed=seed), _clusters(0.0, seed=seed))
        rates.append(result.rate)
        chances.append(result.chance)
    assert abs(np.mean(rates) - np.mean(chances)) < 0.06


def test_random_guesses_and_unscorable_probes() -> None:
    sessions = _clusters(20.0)
    guesses = np.ones(len(sessions.labels), bool)
    assert nearest_link(sessions, sessions, guesses=guesses, seed=1).rate < 0.6  # forced guesses lose the signal
    lonely = Sessions(np.zeros((2, 3)), ["a", "b"], ["a1", "b1"])
    result = nearest_link(lonely, lonely)
    assert result.trials == 0 and result.unscorable == 2 and "not computable" in result.to_json()["note"]


def test_metrics_are_registered_with_directions() -> None:
    names = registry.names("metric")
    for name in (
        "linkage_voice_same_secret",
        "linkage_voice_cross_secret",
        "linkage_motion",
        "linkage_metadata",
        "linkage_external_voice",
        "linkage_external_face",
    ):
        assert name in names
    assert registry.create("metric", "linkage_voice_same_secret").aspect == "utility"  # intended
    assert registry.create("metric", "linkage_metadata").direction == "lower"
    with pytest.raises(ParameterError, match="The 'seed' parameter of MetadataLinkage"):
        registry.create("metric", "linkage_metadata", seed=-1)


def _features_table(path: Path, *, arm: float, leg: float, frames: int = 60, seed: int = 0) -> Path:
    """A feature table (as `avanon features` writes it) of one walking person with given limb proportions."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from avanon.video.features import POSE_NAMES

    rng = np.random.default_rng(seed)
    t = np.arange(frames) / 25.0
    joints = {name: (np.zeros(frames), np.zeros(frames)) for name in POSE_NAMES}
    x0 = 100 + 40 * t
    for side, dx, phase in (("left", -10, 0.0), ("right", 10, np.pi)):
        swing = 8 * np.sin(2 * np.pi * 1.2 * t + phase)
        joints[f"{side}_shoulder"] = (x0 + dx, np.full(frames, 100.0))
        joints[f"{side}_elbow"] = (x0 + dx + swing / 2, 100 + 30 * arm)
        joints[f"{side}_wrist"] = (x0 + dx + swing, 100 + 60 * arm)
        joints[f"{side}_hip"] = (x0 + dx, np.full(frames, 200.0))
        joints[f"{side}_knee"] = (x0 + dx + swing, 200 + 45 * leg)
        joints[f"{side}_ankle"] = (x0 + dx + 2 * swing, 200 + 90 * leg + 5 * np.sin(2 * np.pi * 1.2 * t + phase))
    columns = {
        "frame": np.arange(frames),
        "time": t,
        "person": np.zeros(frames, int),
        "motion_energy": rng.normal(10, 1, frames),
        "head_yaw": rng.normal(0, 5, frames),
        "head_pitch": rng.normal(0, 5, frames),
    }
    for name, (x, y) in joints.items():
        columns[f"body_{name}_x"] = x + rng.normal(0, 0.5, frames)
        columns[f"body_{name}_y"] = y + rng.normal(0, 0.5, frames)
    pq.write_table(pa.table(columns), path)
    return path


def test_motion_linkage_follows_body_shape(tmp_path: Path) -> None:
    shapes = {"p1": (0.8, 0.9), "p2": (1.0, 1.1), "p3": (1.2, 0.8), "p4": (0.9, 1.3)}
    vectors, labels, groups = [], [], []
    for person, (arm, leg) in shapes.items():
        for session in range(3):
            table = _features_table(tmp_path / f"{person}_{session}.parquet", arm=arm, leg=leg, seed=session + 10 * len(labels))
            vectors.append(linkage.motion_vector(table))
            labels.append(person)
            groups.append(f"{person}-{session}")
    vector = vectors[0]
    assert vector.shape == (len(linkage.LIMBS) + 8,)
    assert vector[-2] == pytest.approx(1 / 1.2, abs=0.1)  # gait period [s] of a 1.2 Hz stride
    metric = registry.create("metric", "linkage_motion")
    distinct = metric.measure(linkage.standardize(Sessions(np.stack(vectors), labels, groups))[0])
    assert distinct.detail["chance"] == pytest.approx(2 / 11)
    assert distinct.value >= 0.6  # limb proportions link; the per-session noise columns blur it somewhat
    same = [linkage.motion_vector(_features_table(tmp_path / f"same_{k}.parquet", arm=1.0, leg=1.0, seed=100 + k)) for k in range(12)]
    shuffled = metric.measure(linkage.standardize(Sessions(np.stack(same), labels, groups))[0])  # one body shape for everyone
    assert shuffled.value < distinct.value


def _fsdd_study(dev: Path, root: Path, digits: tuple[int, ...]) -> Path:
    for name in FSDD_SPEAKERS:
        for digit in digits:
            dest = root / f"sub-{name}" / f"{digit}_{name}_0.wav"
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(dev / "fsdd" / "recordings" / f"{digit}_{name}_0.wav", dest)
    return root


@pytest.mark.slow
def test_fsdd_voices_link_within_a_secret_not_across_secrets(dev_data: Path, tmp_path: Path) -> None:
    """Two runs of the same recordings with different secrets (seeds): real speakers, real pseudo-voices."""
    study = _fsdd_study(dev_data, tmp_path / "study", (0, 1, 2, 3))
    for seed, name in ((1, "a"), (2, "b")):
        assert main(["run", str(study), "-o", str(tmp_path / name), "--seed", str(seed), "--quiet", "--workers", "1"]) == 0
    within = linkage.link_releases(tmp_path / "a", tmp_path / "a")
    across = linkage.link_releases(tmp_path / "a", tmp_path / "b")
    assert within.n == across.n == 24
    assert within.detail["chance"] == pytest.approx(3 / 23)
    assert within.value >= 0.6  # one pseudo-voice per participant inside one release, by design
    assert across.value < within.value
    assert across.detail["ci95"][0] <= across.detail["chance"] + 0.05  # not significantly above chance + 5 points
    from avanon.evaluate.study import read_pairs

    scores = {s.metric: s for s in linkage.linkage_scores(study, tmp_path / "a", *read_pairs(study, tmp_path / "a"))}
    assert set(scores) == {"linkage_voice_same_secret", "linkage_voice_cross_secret", "linkage_external_voice", "linkage_metadata"}
    assert scores["linkage_voice_same_secret"].aspect == "utility" and scores["linkage_metadata"].n == 24
    assert scores["linkage_external_voice"].value < scores["linkage_voice_same_secret"].value


def test_the_html_report_shows_linkage_against_chance() -> None:
    from avanon.evaluate.study import StudyEvaluation
    from avanon.report.html import render

    sessions = Sessions(np.array([[0.0], [10.0], [1.0], [11.0]]), ["a", "a", "b", "b"], ["1", "2", "3", "4"])  # nearest is always the other person
    score = registry.create("metric", "linkage_metadata").measure(sessions)
    evaluation = StudyEvaluation("orig", "anon", summary={score.metric: score})
    html = render([("evaluation", evaluation)])
    assert '<table id="linkage">' in html and "linkage_metadata" in html
    assert "<td>0.000</td><td>0.000-0.490</td><td>0.333</td><td>4</td>" in html  # rate 0 of 4 (Wilson), chance 1/3


@pytest.mark.slow
def test_external_photos_find_people_in_originals_but_not_in_anonymized_photos(dev_data: Path, tmp_path: Path) -> None:
    examples = dev_data / "face_recognition_examples" / "examples" / "knn_examples"
    pairs = {
        "obama": ("train/obama/obama.jpg", "train/obama/obama2.jpg"),
        "biden": ("train/biden/biden.jpg", "train/biden/biden2.jpg"),
        "alex_lacamoire": ("train/alex_lacamoire/img1.jpg", "test/alex_lacamoire1.jpg"),
        "kit_harington": ("train/kit_harington/john1.jpeg", "train/kit_harington/john2.jpeg"),
        "rose_leslie": ("train/rose_leslie/img1.jpg", "train/rose_leslie/img2.jpg"),
    }
    people = tuple(pairs)
    photos, study = [], tmp_path / "study"
    for person, (public, private) in pairs.items():  # one public photo per person; the other one goes into the "release"
        first, second = examples / public, examples / private
        photos.append((person, first))
        dest = study / f"sub-{person.replace('_', '')}" / f"photo{second.suffix}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(second, dest)
    release = [(f"sub-{p.replace('_', '')}", p) for p in people]
    metric = registry.create("metric", "linkage_external_face")
    unprotected = metric.identify(photos, [(person, next((study / sub).iterdir())) for sub, person in release])
    assert unprotected.value >= 0.8 and unprotected.detail["files_without_face"] == 0
    assert main(["run", str(study), "-o", str(tmp_path / "out"), "--seed", "1", "--quiet", "--workers", "1"]) == 0
    masked = metric.identify(photos, [(person, next((tmp_path / "out" / sub).iterdir())) for sub, person in release])
    assert masked.detail["files_without_face"] == 5  # no face left to compare: the attacker can only guess
    assert masked.detail["chance"] == pytest.approx(0.2)
