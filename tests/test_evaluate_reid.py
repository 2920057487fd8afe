"""Tests of the face re-identification attack (avanon.evaluate.reid)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.stats import binom

from avanon import registry
from avanon.evaluate import reid
from avanon.evaluate.faces import _DlibHog

TRAIN = "face_recognition_examples/examples/knn_examples/train"


def test_rank1_on_hand_made_embeddings() -> None:
    gallery = np.array([[0, 0], [0, 1], [10, 0], [10, 1], [0, 10]], float)
    labels = ["a", "a", "b", "b", "c"]
    probes = np.array([[0.2, 0.5], [9.5, 0.5], [0.3, 9], [10, 0.4], [np.nan, np.nan]])
    truth = ["a", "b", "c", "a", "b"]
    result = reid.rank1(gallery, labels, probes, truth)
    assert result.identities == 3 and result.chance == pytest.approx(1 / 3)
    assert result.identified == 3 and result.rank1 == pytest.approx(3 / 5)
    # leaving out the probe's own group: "c" has one gallery row, in the probe's group
    grouped = reid.rank1(gallery, labels, probes, truth, gallery_groups=[1, 2, 3, 4, 5], probe_groups=[1, 3, 5, 2, 9])
    assert grouped.unscorable == 1 and grouped.probes == 4
    assert np.isnan(reid.rank1(gallery[:2], ["a", "a"], probes, truth).rank1)


def test_cluster_identities_splits_far_groups() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(0, 0.02, (4, 128))
    b = rng.normal(0, 0.02, (3, 128)) + 0.2
    labels = reid.cluster_identities(np.vstack([a, b]))
    assert len(set(labels[:4])) == 1 and len(set(labels[4:])) == 1 and labels[0] != labels[4]


def photos(dev_data: Path) -> list[tuple[str, np.ndarray]]:
    out = []
    for folder in sorted((dev_data / TRAIN).iterdir()):
        for image in sorted(folder.iterdir()):
            picture = Image.open(image).convert("RGB")
            picture.thumbnail((320, 320))
            out.append((folder.name, np.asarray(picture)))
    return out


def test_attack_identifies_clear_faces_and_fails_on_masked_ones(dev_data: Path) -> None:
    detect = _DlibHog(upsample=1, threshold=0.0)
    gallery, labels, clear, masked, groups = [], [], [], [], []
    for i, (name, image) in enumerate(photos(dev_data)):
        dets = detect(image)
        if len(dets) != 1:
            continue
        box = dets[0].box
        gallery.append(reid.face_embedding(image, box))
        clear.append(reid.face_embedding(image, box))
        hidden = image.copy()
        x0, y0, x1, y1 = (int(v) for v in box)
        hidden[max(0, y0 - 10) : y1 + 10, max(0, x0 - 10) : x1 + 10] = 0
        masked.append(reid.face_embedding(hidden, box))
        labels.append(name)
        groups.append(i)
    assert len(set(labels)) >= 4
    good = reid.rank1(np.stack(gallery), labels, np.stack(clear), labels, gallery_groups=groups, probe_groups=groups)
    bad = reid.rank1(np.stack(gallery), labels, np.stack(masked), labels, gallery_groups=groups, probe_groups=groups)
    assert good.probes >= 3
    assert good.rank1 == 1.0
    # masked: no better than guessing among the identities (one-sided binomial test at the 5% level)
    assert bad.probes == good.probes and bad.identified <= binom.ppf(0.95, bad.probes, bad.chance), bad


def test_metric_on_image_pairs(tmp_path: Path, dev_data: Path) -> None:
    pairs = []
    for name, image in photos(dev_data):
        path = tmp_path / f"{name}_{len(pairs)}.png"
        Image.fromarray(image).save(path)
        pairs.append((path, path, name))
    score = registry.create("metric", "face_reid_rank1").measure(pairs)
    assert score.direction == "lower" and score.aspect == "privacy"
    assert score.detail["identities"] >= 4
    assert score.value >= 0.75
