"""The derived tables synthesis reads and writes, in the formats avanon itself writes them.

Two kinds of table, found under a features folder by their names:

``*_features.parquet`` (motion)
    The per-frame, per-person table of :func:`avanon.video.features.write_features`: ``frame``,
    ``time`` [s], ``person`` and :func:`~avanon.video.features.feature_columns` (head box, head pose
    and gaze [degrees], motion energy, 33 body keypoints, 478 face-mesh points [pixels]). A synthetic
    table is written the same way, with its Motion-BIDS ``_motion.tsv``, ``_channels.tsv`` and
    ``_motion.json`` (the sidecar says the data are synthetic and how they were made).
``*.rttm`` (turn-taking)
    Speaker segments (``SPEAKER`` lines, :mod:`avanon.annotations.rttm`); each speaker is one tier.

:class:`MotionSession` holds one motion table as a ``(persons, frames, columns)`` array with
``nan`` where a person is not in view; :class:`TurnSession` holds one recording's speaker segments.
Inputs are only read.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from avanon.errors import IntegrityError, MediaError

MOTION_SUFFIX = "_features.parquet"
TURNS_SUFFIX = ".rttm"


@dataclass
class MotionSession:
    """One motion feature table.

    Attributes
    ----------
    rel : str
        Path of the Parquet table relative to the features folder (POSIX).
    times : ndarray, shape (frames,) [s]
        Presentation time of every frame.
    persons : list of int
        Person ids, one per slot of ``values``.
    columns : list of str
        Feature columns, in the order of ``values``' last axis.
    values : ndarray, shape (persons, frames, columns)
        Feature values; ``nan`` where the person is not in view or a value was not measured.
    meta : dict
        The Motion-BIDS sidecar beside the table (``SamplingFrequency`` and so on), if any.
    """

    rel: str
    times: np.ndarray
    persons: list[int]
    columns: list[str]
    values: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def stem(self) -> str:
        return Path(self.rel).name[: -len(MOTION_SUFFIX)]

    @property
    def rate(self) -> float:
        """Frames per second [Hz]: the sidecar's ``SamplingFrequency`` or the median frame interval."""
        declared = self.meta.get("SamplingFrequency")
        if isinstance(declared, (int, float)) and declared > 0:
            return float(declared)
        steps = np.diff(self.times)
        steps = steps[steps > 0]
        return float(1.0 / np.median(steps)) if steps.size else 25.0

    def present(self) -> np.ndarray:
        """``(persons, frames)`` booleans: the person is in view (any finite value)."""
        return np.isfinite(self.values).any(axis=2)


@dataclass
class TurnSession:
    """Speaker segments of one recording.

    Attributes
    ----------
    rel : str
        Path of the RTTM file relative to the features folder (POSIX).
    file_id : str
        The RTTM file id (the recording's name).
    segments : list of (float, float, str)
        ``(start [s], end [s], speaker)``, sorted by start.
    """

    rel: str
    file_id: str
    segments: list[tuple[float, float, str]]

    @property
    def duration(self) -> float:
        """End of the last segment [s]."""
        return max((end for _, end, _ in self.segments), default=0.0)

    @property
    def speakers(self) -> list[str]:
        return sorted({s for _, _, s in self.segments})


def find_tables(root: Path) -> tuple[list[Path], list[Path]]:
    """Motion tables and RTTM files under ``root`` (sorted; hidden files and folders are skipped)."""
    root = Path(root)
    if not root.is_dir():
        raise MediaError(f"{root}: no such features folder.")
    motion, turns = [], []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        if path.name.endswith(MOTION_SUFFIX):
            motion.append(path)
        elif path.suffix.lower() == TURNS_SUFFIX:
            turns.append(path)
    return motion, turns


def read_motion(path: Path, *, root: Path) -> MotionSession:
    """Read one ``*_features.parquet`` table (and its ``_motion.json`` sidecar, when present)."""
    import pyarrow.parquet as pq

    path = Path(path)
    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as exc:
        raise MediaError(f"{path}: cannot read the feature table ({exc}).") from None
    missing = [c for c in ("frame", "time", "person") if c not in table.column_names]
    if missing:
        raise MediaError(f"{path}: not an avanon feature table; missing column(s) {', '.join(missing)}.")
    columns = [c for c in table.column_names if c not in ("frame", "time", "person")]
    frames = table.column("frame").to_numpy().astype(np.int64)
    who = table.column("person").to_numpy().astype(np.int64)
    stamps = table.column("time").to_numpy().astype(np.float64)
    count = int(frames.max()) + 1 if len(frames) else 0
    times = np.full(count, np.nan)
    times[frames] = stamps
    sidecar = path.with_name(path.name[: -len(MOTION_SUFFIX)] + "_motion.tsv")
    if np.isnan(times).any() and sidecar.is_file():  # frames where nobody was seen: their times are in the Motion-BIDS table
        first = np.loadtxt(sidecar, delimiter="\t", usecols=0, ndmin=1, dtype=np.float64)
        times = first[:count] if len(first) >= count else times
    if np.isnan(times).any():  # still missing: interpolate from the frames that have a time
        known = np.flatnonzero(np.isfinite(times))
        if known.size < 2:
            raise MediaError(f"{path}: fewer than 2 frames with a time; cannot synthesise from it.")
        times = np.interp(np.arange(count), known, times[known])
    persons = sorted({int(p) for p in who})
    slot = {p: k for k, p in enumerate(persons)}
    values = np.full((len(persons), count, len(columns)), np.nan, dtype=np.float64)
    data = np.stack([table.column(c).to_numpy(zero_copy_only=False).astype(np.float64) for c in columns], axis=1) if columns else np.zeros((len(frames), 0))
    values[[slot[int(p)] for p in who], frames] = data
    meta_path = path.with_name(path.name[: -len(MOTION_SUFFIX)] + "_motion.json")
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
    return MotionSession(Path(path).relative_to(root).as_posix(), times, persons, columns, values, meta)


def write_motion(session: MotionSession, out_root: Path, *, generated_by: dict[str, Any]) -> list[Path]:
    """Write ``session`` as a feature table and its Motion-BIDS files under ``out_root / session.rel``.

    The sidecar ``_motion.json`` gains ``"Synthetic": true`` and ``GeneratedBy`` (``generated_by``).
    Returns the written paths (Parquet first).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from avanon.files import write_atomic
    from avanon.video.features import _write_motion_bids

    parquet = Path(out_root) / session.rel
    parquet.parent.mkdir(parents=True, exist_ok=True)
    present = session.present()
    rows = [(f, k) for f in range(len(session.times)) for k in range(len(session.persons)) if present[k, f]]
    arrays = [
        pa.array([f for f, _ in rows], pa.int64()),
        pa.array([float(session.times[f]) for f, _ in rows], pa.float64()),
        pa.array([session.persons[k] for _, k in rows], pa.int64()),
    ]
    block = np.stack([session.values[k, f] for f, k in rows]).astype(np.float32) if rows else np.zeros((0, len(session.columns)), np.float32)
    arrays += [pa.array(block[:, j], pa.float32(), from_pandas=True) for j in range(len(session.columns))]
    names = ["frame", "time", "person", *session.columns]
    partial = parquet.with_name(f".{parquet.name}.partial")
    pq.write_table(pa.Table.from_arrays(arrays, names=names), partial, compression="zstd")
    os.replace(partial, parquet)
    rate = session.rate
    written = _write_motion_bids(parquet, parquet.parent, session.stem, [float(t) for t in session.times], session.persons, session.columns, rate)
    sidecar = written[-1]
    meta = json.loads(sidecar.read_text(encoding="utf-8"))
    for key in ("TaskName", "TrackingSystemName"):
        if key in session.meta:
            meta[key] = session.meta[key]
    meta["Synthetic"] = True
    meta["GeneratedBy"] = generated_by
    write_atomic(sidecar, (json.dumps(meta, indent=2) + "\n").encode("utf-8"))
    return [parquet, *written]


def read_turns(path: Path, *, root: Path) -> TurnSession:
    """Read the ``SPEAKER`` segments of one RTTM file."""
    from avanon.annotations.rttm import read_rttm
    from avanon.evaluate.turns import speaker_segments

    doc = read_rttm(Path(path))
    segments = speaker_segments(doc)
    if not segments:
        raise IntegrityError(f"{path}: no SPEAKER segments; nothing to synthesise turn-taking from.")
    file_id = doc.media[0].path if doc.media else Path(path).stem
    return TurnSession(Path(path).relative_to(root).as_posix(), file_id, [(float(a), float(b), str(s)) for a, b, s in segments])


def write_turns(session: TurnSession, out_root: Path) -> Path:
    """Write ``session``'s segments as an RTTM file at ``out_root / session.rel``."""
    from avanon.annotations.model import Annotation, AnnotationDocument, MediaLink, Tier
    from avanon.annotations.rttm import write_rttm

    tiers = []
    for speaker in session.speakers:
        annotations = [Annotation(onset=round(a, 3), offset=round(b, 3)) for a, b, s in session.segments if s == speaker]
        tiers.append(Tier(name=speaker, kind="interval", annotations=annotations, attributes={"type": "SPEAKER"}))
    doc = AnnotationDocument(format="rttm", source=session.rel, tiers=tiers, media=[MediaLink(path=session.file_id, kind="stem")], media_fields=("file",))
    path = Path(out_root) / session.rel
    write_rttm(doc, path)
    return path
