"""Derived features for sharing instead of video: per frame and per person, on the real timestamps.

For every decoded frame (PyAV; the frame's own presentation time is kept) and every person:

- the head box, from BlazeFace faces enlarged to cover the head and linked into person tracks;
- 478 face-mesh points (``face_NNN_x/y/z`` [pixels]; ``z`` is relative depth in the pixel scale);
- head pose ``head_yaw``, ``head_pitch``, ``head_roll`` [degrees] (:func:`avanon.detect.landmarks.head_pose`);
- gaze direction relative to the head ``gaze_horizontal``, ``gaze_vertical`` [degrees];
- 33 body-pose points (``body_<joint>_x/y`` [pixels], ``_visibility`` in [0, 1]), from a crop below
  the head;
- motion energy: mean absolute grey-level change from the previous frame inside the person's body
  region [grey levels, 0-255].

Outputs (``stem`` given by the caller, for example ``sub-01_task-play_tracksys-avanon``):

``<stem>_features.parquet``
    One row per (frame, person): ``frame``, ``time`` [s], ``person`` and the columns above.
``<stem>_motion.tsv``, ``<stem>_channels.tsv``, ``<stem>_motion.json``
    Motion-BIDS: one headerless row per frame, the first channel the frame time (type LATENCY),
    then every person's channels (``p<id>_<column>``); ``n/a`` where a person is not in view.

Rows are written as they are measured (Parquet row groups); the Motion-BIDS table is built from the
Parquet file afterwards, so memory stays bounded by one frame's worth of rows per pass.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterator

import numpy as np

from avanon import __version__
from avanon.detect import landmarks as lm
from avanon.detect.mp import POSE_NAMES
from avanon.errors import MediaError
from avanon.registry import create
from avanon.video.headtracks import HeadTracks
from avanon.video.tracking import grow

SCALARS = ("head_x0", "head_y0", "head_x1", "head_y1", "head_yaw", "head_pitch", "head_roll", "gaze_horizontal", "gaze_vertical", "motion_energy")


def feature_columns() -> list[str]:
    """Per-person feature columns, in the order they are written."""
    cols = list(SCALARS)
    cols += [f"body_{n}_{a}" for n in POSE_NAMES for a in ("x", "y", "visibility")]
    cols += [f"face_{i:03d}_{a}" for i in range(lm.FACE_POINTS) for a in ("x", "y", "z")]
    return cols


def _unit(column: str) -> tuple[str, str, str, str]:
    """Motion-BIDS (component, type, tracked_point, units) of a feature column."""
    if column.startswith(("head_yaw", "head_pitch", "head_roll")):
        return column.split("_")[1], "ORNT", "head", "deg"
    if column.startswith("gaze_"):
        return column.split("_")[1], "ORNT", "gaze", "deg"
    if column.startswith("head_"):
        return column[-2:], "POS", "head_box", "pixel"
    if column == "motion_energy":
        return "n/a", "MISC", "body_region", "a.u."
    part, point_and_axis = column.split("_", 1)
    point, axis = point_and_axis.rsplit("_", 1)
    if axis == "visibility":
        return "n/a", "MISC", f"{part}_{point}", "n/a"
    return axis, "POS", f"{part}_{point}", "pixel"


def _frames(video: Path) -> Iterator[tuple[int, float, np.ndarray, float]]:
    import av

    try:
        with av.open(str(video)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            rate = float(stream.average_rate or stream.guessed_rate or 0.0)
            for k, frame in enumerate(container.decode(stream)):
                time = float(frame.time) if frame.time is not None else k / (rate or 25.0)
                yield k, time, frame.to_ndarray(format="rgb24"), rate
    except (av.error.FFmpegError, IndexError) as exc:
        raise MediaError(f"{video}: cannot decode the video for feature extraction ({exc}).") from None


class FeatureExtractor:
    """Per-person features of one video's frames (see module docstring)."""

    def __init__(self, *, face_threshold: float = 0.4, expand: float = 0.4) -> None:
        self.detector = create("detector", "blazeface", threshold=face_threshold, model="full", tiles=2, every=1)
        self.expand = expand
        self.tracks = HeadTracks(max_age=10)
        self.previous: np.ndarray | None = None
        self.columns = feature_columns()

    def frame(self, image: np.ndarray, index: int) -> list[tuple[int, np.ndarray]]:
        """``(person id, feature row)`` for every person in one RGB frame."""
        import cv2

        h, w = image.shape[:2]
        faces = [d.box for d in self.detector.detect(image)]  # type: ignore[attr-defined]
        heads = []
        for box in faces:
            x0, y0, x1, y1 = grow(box, self.expand, top_extra=self.expand * 0.25)
            heads.append((max(0.0, x0), max(0.0, y0), min(float(w), x1), min(float(h), y1)))
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
        rows = []
        for head, track in zip(heads, self.tracks.update(heads, index)):
            row = np.full(len(self.columns), np.nan)
            row[:4] = head
            points = lm.face_landmarks(image, head, pad=0.0)
            if points is not None:
                row[4:7] = lm.head_pose(points, width=w, height=h)
                row[7:9] = lm.gaze_angles(points)
                row[10 + 99 :] = points.ravel()
            hw, hh = head[2] - head[0], head[3] - head[1]
            cx = (head[0] + head[2]) / 2
            body = (max(0.0, cx - 2.0 * hw), max(0.0, head[1] - 0.3 * hh), min(float(w), cx + 2.0 * hw), min(float(h), head[1] + 7.5 * hh))
            pose = lm.pose_landmarks(image, body, pad=0.05)
            if pose is not None:
                row[10 : 10 + 99] = pose.ravel()
            if self.previous is not None:
                bx0, by0, bx1, by1 = (int(v) for v in body)
                if bx1 > bx0 and by1 > by0:
                    row[9] = float(np.abs(grey[by0:by1, bx0:bx1] - self.previous[by0:by1, bx0:bx1]).mean())
            rows.append((track.ident, row))
        self.previous = grey
        return rows


def write_features(video: Path, out_dir: Path, *, stem: str, max_frames: int | None = None) -> list[Path]:
    """Extract per-frame, per-person features of ``video`` into ``out_dir``.

    Parameters
    ----------
    video : Path
        Any video PyAV decodes.
    out_dir : Path
        Folder for the outputs (created if needed). Files are written under temporary names and
        renamed into place.
    stem : str
        File name stem, for example ``sub-01_task-play_tracksys-avanon``.
    max_frames : int > 0 or None
        Stop after this many frames (None: the whole video).

    Returns
    -------
    list of Path
        ``<stem>_features.parquet``, ``<stem>_motion.tsv``, ``<stem>_channels.tsv``, ``<stem>_motion.json``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    video, out_dir = Path(video), Path(out_dir)
    if not video.is_file():
        raise MediaError(f"{video}: no such file.")
    out_dir.mkdir(parents=True, exist_ok=True)
    extractor = FeatureExtractor()
    columns = extractor.columns
    schema = pa.schema([("frame", pa.int64()), ("time", pa.float64()), ("person", pa.int64())] + [(c, pa.float32()) for c in columns])
    parquet = out_dir / f"{stem}_features.parquet"
    partial = out_dir / f".{parquet.name}.partial"
    times: list[float] = []
    people: set[int] = set()
    rate = 0.0
    batch: list[tuple[int, float, int, np.ndarray]] = []

    def flush(writer: pq.ParquetWriter) -> None:
        if not batch:
            return
        values = np.stack([r for *_, r in batch]).astype(np.float32)
        arrays = [pa.array([b[0] for b in batch], pa.int64()), pa.array([b[1] for b in batch], pa.float64()), pa.array([b[2] for b in batch], pa.int64())]
        arrays += [pa.array(values[:, j], pa.float32(), from_pandas=True) for j in range(values.shape[1])]
        writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
        batch.clear()

    with pq.ParquetWriter(partial, schema, compression="zstd") as writer:
        for index, time, image, _rate in _frames(video):
            if max_frames is not None and index >= max_frames:
                break
            times.append(time)
            for person, row in extractor.frame(image, index):
                people.add(person)
                batch.append((index, time, person, row))
            if len(batch) >= 256:
                flush(writer)
        flush(writer)
    os.replace(partial, parquet)
    persons = sorted(people)
    return [parquet, *_write_motion_bids(parquet, out_dir, stem, times, persons, columns, rate)]


def _write_motion_bids(parquet: Path, out_dir: Path, stem: str, times: list[float], persons: list[int], columns: list[str], rate: float) -> list[Path]:
    import pyarrow.parquet as pq

    tsv, channels, sidecar = (out_dir / f"{stem}_{suffix}" for suffix in ("motion.tsv", "channels.tsv", "motion.json"))
    slot = {p: k for k, p in enumerate(persons)}
    width = len(columns)
    table = np.full((len(times), 1 + width * len(persons)), np.nan, dtype=np.float32) if persons else None
    partial = tsv.with_name(f".{tsv.name}.partial")
    with open(partial, "w", encoding="utf-8", newline="") as fh:
        if table is not None:
            for group in range(pq.ParquetFile(parquet).num_row_groups):
                part = pq.ParquetFile(parquet).read_row_group(group)
                frames = part.column("frame").to_numpy()
                who = part.column("person").to_numpy()
                values = np.stack([part.column(c).to_numpy(zero_copy_only=False) for c in columns], axis=1)
                for f, p, v in zip(frames, who, values):
                    start = 1 + slot[int(p)] * width
                    table[f, start : start + width] = v
        for f, time in enumerate(times):
            cells = [f"{time:.6f}"]
            if table is not None:
                cells += ["n/a" if not np.isfinite(v) else f"{v:.4g}" for v in table[f, 1:]]
            fh.write("\t".join(cells) + "\n")
    os.replace(partial, tsv)
    lines = ["name\tcomponent\ttype\ttracked_point\tunits", "time\tn/a\tLATENCY\tn/a\ts"]
    for p in persons:
        for c in columns:
            component, kind, point, units = _unit(c)
            lines.append(f"p{p}_{c}\t{component}\t{kind}\tp{p}_{point}\t{units}")
    channels.write_text("\n".join(lines) + "\n", encoding="utf-8")
    intervals = np.diff(times) if len(times) > 1 else np.array([])
    meta = {
        "TaskName": "n/a",
        "TrackingSystemName": "avanon video features (MediaPipe face mesh, pose, BlazeFace)",
        "Manufacturer": "n/a",
        "SoftwareVersions": f"avanon {__version__}",
        "SamplingFrequency": round(rate, 6) if rate else "n/a",
        "SamplingFrequencyEffective": round(float(1.0 / intervals.mean()), 6) if intervals.size and intervals.mean() > 0 else "n/a",
        "RecordingDuration": round(float(times[-1] - times[0]), 6) if times else 0.0,
        "MotionChannelCount": 1 + len(columns) * len(persons),
        "POSChannelCount": sum(_unit(c)[1] == "POS" for c in columns) * len(persons),
        "ORNTChannelCount": sum(_unit(c)[1] == "ORNT" for c in columns) * len(persons),
        "LATENCYChannelCount": 1,
        "MISCChannelCount": sum(_unit(c)[1] == "MISC" for c in columns) * len(persons),
        "SpatialAxes": "n/a",
        "RotationRule": "n/a",
        "RotationOrder": "n/a",
        "Persons": len(persons),
        "TimeOrigin": "presentation time of each frame in the source video, seconds",
        "ImageAxes": "x to the right, y down, pixels of the source frame",
    }
    sidecar.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return [tsv, channels, sidecar]
