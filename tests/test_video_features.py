"""Derived features: Motion-BIDS TSV/JSON and Parquet, per person, on the video's own timestamps."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pyarrow.parquet as pq
import pytest

from avanon.errors import MediaError
from avanon.video.features import _unit, feature_columns, write_features


def test_columns_and_units() -> None:
    cols = feature_columns()
    assert len(cols) == 10 + 33 * 3 + 478 * 3
    assert _unit("head_yaw") == ("yaw", "ORNT", "head", "deg")
    assert _unit("body_left_wrist_x") == ("x", "POS", "body_left_wrist", "pixel")
    assert _unit("face_468_y") == ("y", "POS", "face_468", "pixel")


def test_write_features_on_a_real_clip(dev_data: Path, tmp_path: Path) -> None:
    video = dev_data / "face_recognition_examples/examples/short_hamilton_clip.mp4"
    paths = write_features(video, tmp_path / "out", stem="sub-01_task-talk_tracksys-avanon", max_frames=6)
    names = sorted(p.name for p in paths)
    assert names == sorted(f"sub-01_task-talk_tracksys-avanon_{s}" for s in ("features.parquet", "motion.tsv", "channels.tsv", "motion.json"))
    with av.open(str(video)) as container:
        times = [float(f.time) for _, f in zip(range(6), container.decode(video=0))]
    rows = [line.split("\t") for line in (tmp_path / "out/sub-01_task-talk_tracksys-avanon_motion.tsv").read_text().splitlines()]
    channels = (tmp_path / "out/sub-01_task-talk_tracksys-avanon_channels.tsv").read_text().splitlines()
    meta = json.loads((tmp_path / "out/sub-01_task-talk_tracksys-avanon_motion.json").read_text())
    assert len(rows) == 6 and all(len(r) == len(channels) - 1 for r in rows)
    assert np.allclose([float(r[0]) for r in rows], times, atol=1e-5)  # real timestamps, starting > 0
    assert times[0] > 0.5
    assert meta["MotionChannelCount"] == len(channels) - 1
    assert meta["Persons"] >= 1
    table = pq.read_table(paths[0])
    assert table.num_rows >= 6  # at least one person in every frame
    yaw = table.column("head_yaw").to_numpy(zero_copy_only=False)
    assert np.isfinite(yaw).any() and np.nanmax(np.abs(yaw)) <= 90


def test_missing_video(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="no such file"):
        write_features(tmp_path / "none.mp4", tmp_path, stem="x")
