"""Voice privacy of a study: the three speaker-verification attackers on speech chunks.

Each audio file (or video soundtrack) is cut into speech chunks of 2-6 s at pauses (Praat's
silence detection on the original; the same times are cut from the anonymized file), at most
``chunks_per_file`` per file. The speaker of a chunk is the file's speaker key (BIDS ``sub-XX`` or
the file stem). With embeddings from :mod:`avanon.evaluate.asv`:

``ignorant``
    enrol original chunks, test anonymized chunks;
``lazy_informed``
    enrol the original chunks anonymized by the attacker with the study's recipe and another
    secret (seed), test the study's anonymized chunks;
``semi_informed``
    lazy-informed plus an LDA back-end trained on the attacker's anonymized speech of the other
    speakers (needs at least 4 speakers).

Trials are all enrol/test pairs except a chunk with itself. The EER is reported with a bootstrap
95 % interval, the number of trials, and per gender where ``participants.tsv`` gives one.

Every attack runs with two independent speaker encoders, resemblyzer (GE2E) and CAM++
(:data:`avanon.evaluate.asv.ENCODERS`). Each attacker's entry is the worse of the two for privacy
(the lower EER, ``encoder`` names it); ``by_encoder`` keeps both.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from avanon import registry
from avanon.errors import ParameterError
from avanon.evaluate.base import Metric, Score, json_number
from avanon.evaluate.media import AudioPair
from avanon.evaluate.speech import read_mono, speech_activity
from avanon.registry import Interval, Param, register

if TYPE_CHECKING:
    from avanon.evaluate.media import PairMedia, StudyMedia

ATTACKER_SEED_OFFSET = 7919  # the attacker's own secret: the study seed plus this


def speech_chunks(samples: np.ndarray, rate: int, *, shortest: float = 2.0, longest: float = 6.0, limit: int = 8) -> list[tuple[int, int]]:
    """Sample ranges of speech chunks: sounding intervals joined up to ``longest`` [s], kept from ``shortest`` [s]."""
    chunks: list[tuple[float, float]] = []
    for start, end in speech_activity(samples, rate):
        if chunks and end - chunks[-1][0] <= longest:
            chunks[-1] = (chunks[-1][0], end)
        else:
            while end - start > longest:
                chunks.append((start, start + longest))
                start += longest
            chunks.append((start, end))
    kept = [(int(s * rate), int(e * rate)) for s, e in chunks if e - s >= shortest]
    return kept[:limit]


def genders(original_dir: Path) -> dict[str, str]:
    """Speaker key -> gender from ``participants.tsv`` (columns ``participant_id`` and ``sex`` or ``gender``)."""
    path = Path(original_dir) / "participants.tsv"
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    out = {}
    for row in rows:
        key = row.get("participant_id", "")
        value = (row.get("sex") or row.get("gender") or "").strip().lower()
        if key and value and value not in ("n/a", "na"):
            out[key] = {"m": "male", "f": "female"}.get(value, value)
    return out


def _attack(enrol: np.ndarray, test: np.ndarray, speakers: Sequence[str], *, seed: int) -> dict[str, Any]:
    from avanon.evaluate import asv

    if len(set(speakers)) < 2:
        return {"eer": None, "note": f"needs at least 2 speakers; got {len(set(speakers))}"}
    scores, labels = asv.trials(enrol, speakers, test, speakers, exclude_same_index=True)
    if labels.all() or not labels.any():
        return {
            "eer": None,
            "trials": int(len(scores)),
            "target_trials": int(labels.sum()),
            "note": "not computable: needs at least 2 speech chunks of one speaker and 2 speakers "
            f"(got {len(speakers)} chunks of {len(set(speakers))} speakers)",
        }
    entry: dict[str, Any] = {"eer": json_number(asv.eer(scores, labels)), "trials": int(len(scores)), "target_trials": int(labels.sum())}
    try:
        low, high = asv.bootstrap_eer(enrol, speakers, test, speakers, n_boot=200, seed=seed)
        entry["ci95"] = [json_number(low), json_number(high)]
    except ParameterError as exc:
        entry["ci95"] = None
        entry["note"] = str(exc)
    return entry


def semi_informed(lazy: np.ndarray, anonymized: np.ndarray, speakers: Sequence[str], *, folds: int = 2) -> dict[str, Any]:
    """The semi-informed attacker's EER, or ``eer: None`` with the reason it is not computable.

    The back-end of each fold is trained on the attacker's chunks of the speakers outside that
    fold; linear discriminant analysis needs at least 2 such speakers, more chunks than speakers,
    and within-speaker variation (at least 2 chunks for some speaker). A study sample too small for
    that is reported as not computable rather than as a number.
    """
    from avanon.evaluate import asv

    unique = sorted(set(speakers))
    if len(unique) < 2 * folds:
        return {"eer": None, "computable": False, "note": f"not computable: needs at least {2 * folds} speakers ({folds} folds of 2); got {len(unique)}"}
    spk = np.asarray(speakers)
    for group in (unique[i::folds] for i in range(folds)):
        pool = spk[~np.isin(spk, group)]
        counts = [int((pool == s).sum()) for s in sorted(set(pool.tolist()))]
        if len(pool) <= len(counts) or max(counts) < 2:
            return {
                "eer": None,
                "computable": False,
                "note": f"not computable: a fold's back-end would train on {len(pool)} chunks of {len(counts)} speakers; "
                "it needs more chunks than speakers (longer recordings or more files per speaker)",
            }
    try:
        value = asv.semi_informed_eer(lazy, anonymized, speakers, lazy, speakers, folds=folds)
    except (np.linalg.LinAlgError, ValueError) as exc:  # a degenerate within-speaker scatter
        return {
            "eer": None,
            "computable": False,
            "note": f"not computable: the LDA back-end could not be trained on {len(spk)} chunks of {len(unique)} speakers ({exc})",
        }
    return {"eer": json_number(value), "computable": True, "trials": int(len(spk) * (len(spk) - 1)), "folds": folds}


class VoiceChunks:
    """Speaker embeddings of the speech chunks of a study's files, added file by file (see the module docstring).

    Parameters
    ----------
    header : dict
        The run manifest's header: the recipe's voice transform and the seed the attacker copies.
    chunks_per_file : int >= 1
    """

    def __init__(self, header: dict[str, Any], *, chunks_per_file: int = 8) -> None:
        from avanon.evaluate import asv

        self.voice_step = (header.get("recipe") or {}).get("audio", {}).get("voice")
        self.seed = int(header.get("seed", 0))
        self.attacker_voice = None
        if self.voice_step:
            params = {k: v for k, v in self.voice_step.items() if k != "name"}
            self.attacker_voice = registry.create("voice", self.voice_step["name"], **params)
        self.chunks_per_file = chunks_per_file
        self.encoders = asv.ENCODERS
        self.originals: dict[str, list[np.ndarray]] = {e: [] for e in self.encoders}
        self.anonymized: dict[str, list[np.ndarray]] = {e: [] for e in self.encoders}
        self.attacker: dict[str, list[np.ndarray]] = {e: [] for e in self.encoders}
        self.speakers: list[str] = []

    def add(self, audio: AudioPair, speaker: str) -> None:
        """Embed the speech chunks of one file's sound (chunks cut at the original's pauses, the same times from the output)."""
        from avanon.evaluate import asv

        x, rate_x, y, rate_y = audio.original, audio.rate, audio.anonymized, audio.anonymized_rate
        for start, end in speech_chunks(x, rate_x, limit=self.chunks_per_file):
            a = x[start:end]
            b = y[int(start * rate_y / rate_x) : int(end * rate_y / rate_x)]
            if len(b) < rate_y:
                continue
            own = None
            if self.attacker_voice is not None:
                own = self.attacker_voice.apply(a, rate_x, seed=self.seed + ATTACKER_SEED_OFFSET, speaker=speaker)
            for e in self.encoders:
                self.originals[e].append(asv.embed(a, rate_x, encoder=e))
                self.anonymized[e].append(asv.embed(b, rate_y, encoder=e))
                if own is not None:
                    self.attacker[e].append(asv.embed(own, rate_x, encoder=e))
            self.speakers.append(speaker)

    def attacks(self, original_dir: Path) -> dict[str, Any]:
        """EERs of the three attackers over every chunk added (genders from ``original_dir/participants.tsv``)."""
        speakers, encoders = self.speakers, self.encoders
        result: dict[str, Any] = {
            "chunks": len(speakers),
            "speakers": len(set(speakers)),
            "voice_transform": self.voice_step["name"] if self.voice_step else None,
        }
        if not speakers:
            result["note"] = "no speech chunks of 2 s or more"
            return result
        stacks = (("orig", self.originals), ("anon", self.anonymized), ("lazy", self.attacker))
        by_encoder = {e: _attacks({k: np.stack(v[e]) for k, v in stacks if v[e]}, speakers, original_dir, seed=self.seed) for e in encoders}
        result["by_encoder"] = by_encoder
        for key in ("original", "ignorant", "lazy_informed", "semi_informed"):
            entries = [(e, by_encoder[e][key]) for e in encoders if key in by_encoder[e]]
            computed = [(e, v) for e, v in entries if v.get("eer") is not None]
            if computed:
                e, worst = min(computed, key=lambda item: item[1]["eer"])
                result[key] = {**worst, "encoder": e}
            elif entries:
                result[key] = entries[0][1]
        worst = result.get("ignorant", {}).get("encoder", encoders[0])
        if "by_gender" in by_encoder[worst]:
            result["by_gender"] = by_encoder[worst]["by_gender"]
        return result


def voice_privacy(
    original_dir: Path,
    anonymized_dir: Path,
    pairs: Sequence[Any],
    header: dict[str, Any],
    *,
    max_seconds: float | None = None,
    chunks_per_file: int = 8,
) -> dict[str, Any]:
    """EERs of the three attackers over the speech of ``pairs`` (see the module docstring)."""
    chunks = VoiceChunks(header, chunks_per_file=chunks_per_file)
    for pair in pairs:
        x, rate_x = read_mono(Path(original_dir) / pair.input)
        y, rate_y = read_mono(Path(anonymized_dir) / pair.output)
        if max_seconds is not None:
            x, y = x[: int(max_seconds * rate_x)], y[: int(max_seconds * rate_y)]
        chunks.add(AudioPair(x, rate_x, y, rate_y), pair.speaker)
    return chunks.attacks(original_dir)


ATTACKERS = ("ignorant", "lazy_informed", "semi_informed")


@register
class SpeakerVerification(Metric):
    """EER of speaker-verification attackers on the anonymized speech (higher is better).

    Its scores are named after the attacker: ``eer_ignorant``, ``eer_lazy_informed`` and
    ``eer_semi_informed``; the study's ``--no-voice-attacks`` skips them.
    """

    name = "speaker_verification"
    direction = "higher"
    aspect = "privacy"
    kinds = ("audio", "video")
    params = {"chunks_per_file": Param(8, Interval(int, 1, 100), "speech chunks of 2-6 s taken per file")}

    def measure_pair(self, media: PairMedia) -> list[Score]:
        """Embed the pair's speech chunks (from the sound read once); the attacks run at the end of the study."""
        audio = media.audio if media.context.voice_attacks else None
        if audio is not None:
            build = lambda: VoiceChunks(media.context.header, chunks_per_file=self.chunks_per_file)  # noqa: E731
            media.study.shared("voice_chunks", build).add(audio, media.pair.speaker)
        return []

    def measure_study(self, study: StudyMedia) -> list[Score]:
        """One score per attacker whose EER could be computed; every detail in ``evaluation.voice``."""
        chunks = study.shared("voice_chunks", lambda: None)
        if chunks is None:
            return []
        study.evaluation.voice = chunks.attacks(study.context.original_dir)
        entries = [(a, study.evaluation.voice.get(a)) for a in ATTACKERS]
        return [Score(f"eer_{a}", e["eer"], self.direction, self.aspect, n=e.get("trials", 0), detail=e) for a, e in entries if e and e.get("eer") is not None]


def _attacks(emb: dict[str, np.ndarray], speakers: list[str], original_dir: Path, *, seed: int) -> dict[str, Any]:
    """The attackers' entries for one encoder's embeddings (``orig``, ``anon`` and optionally ``lazy``)."""
    orig, anon, lazy = emb["orig"], emb["anon"], emb.get("lazy")
    result: dict[str, Any] = {}
    result["original"] = _attack(orig, orig, speakers, seed=seed)  # the unprotected baseline
    result["ignorant"] = _attack(orig, anon, speakers, seed=seed)
    if lazy is not None:
        result["lazy_informed"] = _attack(lazy, anon, speakers, seed=seed)
        result["semi_informed"] = semi_informed(lazy, anon, speakers)
    by_gender: dict[str, Any] = {}
    gender_of = genders(original_dir)
    for gender in sorted(set(gender_of.values())):
        sel = np.array([gender_of.get(s) == gender for s in speakers])
        if len(set(np.asarray(speakers)[sel])) >= 2:
            spk = list(np.asarray(speakers)[sel])
            by_gender[gender] = {"ignorant": _attack(orig[sel], anon[sel], spk, seed=seed)}
            if lazy is not None:
                by_gender[gender]["lazy_informed"] = _attack(lazy[sel], anon[sel], spk, seed=seed)
    if by_gender:
        result["by_gender"] = by_gender
    return result
