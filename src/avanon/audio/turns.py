"""One pseudo-voice per speaker in multi-speaker recordings, from speaker turns (RTTM/ELAN tiers).

A recording with several speakers on one channel is converted once per speaker (each with that
speaker's key, so each gets their own pseudo-voice); every sample then takes the output of the
speaker whose turn covers it. Samples covered by no turn take the ``default`` speaker's conversion;
samples covered by several turns (overlapping speech) take the mean of those speakers'
conversions. Changes between speakers are cross-faded over ``fade_ms`` so there are no clicks.

Turns are ``(start_s, end_s, speaker)`` triples, as the annotation readers produce them from an RTTM
file or an ELAN/TextGrid speaker tier; speaker labels should already be pseudonymous keys.

:class:`TurnStream` does this as a stream (it feeds every block to one stream per speaker, so memory
stays bounded for long recordings); :func:`apply_turns` is the in-memory convenience.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath

import numpy as np

from avanon.audio.base import VoiceStream, VoiceTransform, speaker_key
from avanon.errors import ParameterError

Turn = tuple[float, float, str]


def read_speaker_map(path: str | Path) -> dict[str, str]:
    """A mapping file: rows of ``relative/path<TAB or comma>speaker`` (``#`` comments, no header).

    Paths are relative to the study root, with forward slashes; a bare file stem also matches.
    """
    path = Path(path)
    out: dict[str, str] = {}
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = [p.strip() for p in line.replace(",", "\t").split("\t") if p.strip()]
        if len(parts) != 2:
            raise ParameterError(f"{path}, line {i}: expected 'path<TAB>speaker'. Got {line!r} instead.")
        out[parts[0]] = parts[1]
    return out


def speaker_for(relpath: str | PurePath, mapping: Mapping[str, str] | None = None) -> str:
    """The speaker key of a file: from ``mapping`` (by relative path, then stem), else ``sub-XX`` or the stem."""
    rel = PurePath(relpath)
    if mapping:
        for key in (rel.as_posix(), rel.name, rel.stem):
            if key in mapping:
                return mapping[key]
    return speaker_key(rel)


def check_turns(turns: Sequence[Turn]) -> list[Turn]:
    """Validated turns, sorted by start; raises :class:`ParameterError` naming a bad turn."""
    out = []
    for i, turn in enumerate(turns):
        try:
            start, end, speaker = float(turn[0]), float(turn[1]), str(turn[2])
        except (TypeError, ValueError, IndexError):
            raise ParameterError(f"Speaker turn {i} must be (start_s, end_s, speaker). Got {turn!r} instead.") from None
        if not (0.0 <= start < end) or not np.isfinite(end) or not speaker:
            raise ParameterError(f"Speaker turn {i} must have 0 <= start_s < end_s [s] and a speaker label. Got {turn!r} instead.")
        out.append((start, end, speaker))
    return sorted(out)


class TurnStream:
    """A :class:`~avanon.audio.base.VoiceStream` that gives each speaker of ``turns`` their own voice."""

    def __init__(
        self,
        transform: VoiceTransform,
        sample_rate: int,
        channels: int,
        *,
        seed: int,
        turns: Sequence[Turn],
        default: str,
        fade_ms: float = 20.0,
    ) -> None:
        self.turns = check_turns(turns)
        self.sr, self.channels = int(sample_rate), int(channels)
        self.speakers = sorted({default, *(s for _, _, s in self.turns)})
        self.index = {s: k for k, s in enumerate(self.speakers)}
        self.default = default
        self.streams: list[VoiceStream] = [transform.stream(sample_rate, channels, seed=seed, speaker=s) for s in self.speakers]
        self.pending = [np.zeros((0, channels), dtype=np.float32) for _ in self.speakers]
        self.emitted = 0
        self.fade = max(1, int(fade_ms * 1e-3 * self.sr))

    def weights(self, start: int, n: int) -> np.ndarray:
        """Mixing weights ``(n, n_speakers)`` for absolute samples ``start .. start + n``."""
        w = np.zeros((n, len(self.speakers)))
        t = start + np.arange(n)
        covered = np.zeros(n)
        for a_s, b_s, speaker in self.turns:
            a, b = int(round(a_s * self.sr)), int(round(b_s * self.sr))
            if b <= start - self.fade or a >= start + n + self.fade:
                continue
            # trapezoid: ramps of `fade` samples centred on the turn's edges
            up = np.clip((t - a) / self.fade + 0.5, 0.0, 1.0)
            down = np.clip((b - t) / self.fade + 0.5, 0.0, 1.0)
            g = np.minimum(up, down)
            w[:, self.index[speaker]] += g
            covered += g
        total = w.sum(axis=1)
        over = total > 1.0
        w[over] /= total[over, None]
        w[:, self.index[self.default]] += np.clip(1.0 - w.sum(axis=1), 0.0, 1.0)
        return w

    def _mix(self) -> np.ndarray:
        n = min(len(p) for p in self.pending)
        if n == 0:
            return np.zeros((0, self.channels), dtype=np.float32)
        w = self.weights(self.emitted, n)
        out = sum(self.pending[k][:n] * w[:, k : k + 1] for k in range(len(self.speakers)))
        self.pending = [p[n:] for p in self.pending]
        self.emitted += n
        return np.asarray(out, dtype=np.float32)

    def process(self, block: np.ndarray) -> np.ndarray:
        for k, stream in enumerate(self.streams):
            self.pending[k] = np.concatenate([self.pending[k], stream.process(block)])
        return self._mix()

    def flush(self) -> np.ndarray:
        for k, stream in enumerate(self.streams):
            self.pending[k] = np.concatenate([self.pending[k], stream.flush()])
        return self._mix()


def apply_turns(
    transform: VoiceTransform,
    samples: np.ndarray,
    sample_rate: int,
    *,
    seed: int,
    turns: Sequence[Turn],
    default: str,
    fade_ms: float = 20.0,
) -> np.ndarray:
    """Convert a whole signal so that each speaker's turns get that speaker's pseudo-voice."""
    x = np.asarray(samples, dtype=np.float32)
    mono = x.ndim == 1
    block = x[:, None] if mono else x
    stream = TurnStream(transform, sample_rate, block.shape[1], seed=seed, turns=turns, default=default, fade_ms=fade_ms)
    out = np.concatenate([stream.process(block), stream.flush()])
    return out[:, 0] if mono else out
