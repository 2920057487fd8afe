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
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from avanon import registry
from avanon.errors import ParameterError
from avanon.evaluate.base import json_number
from avanon.evaluate.speech import read_mono, speech_activity

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
    entry: dict[str, Any] = {"eer": json_number(asv.eer(scores, labels)), "trials": int(len(scores)),
                             "target_trials": int(labels.sum())}
    try:
        low, high = asv.bootstrap_eer(enrol, speakers, test, speakers, n_boot=200, seed=seed)
        entry["ci95"] = [json_number(low), json_number(high)]
    except ParameterError as exc:
        entry["ci95"] = None
        entry["note"] = str(exc)
    return entry


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
    from avanon.evaluate import asv

    voice_step = (header.get("recipe") or {}).get("audio", {}).get("voice")
    seed = int(header.get("seed", 0))
    attacker_voice = None
    if voice_step:
        params = {k: v for k, v in voice_step.items() if k != "name"}
        attacker_voice = registry.create("voice", voice_step["name"], **params)
    originals, anonymized, attacker, speakers = [], [], [], []
    for pair in pairs:
        x, rate_x = read_mono(Path(original_dir) / pair.input)
        y, rate_y = read_mono(Path(anonymized_dir) / pair.output)
        if max_seconds is not None:
            x, y = x[: int(max_seconds * rate_x)], y[: int(max_seconds * rate_y)]
        for start, end in speech_chunks(x, rate_x, limit=chunks_per_file):
            a = x[start:end]
            b = y[int(start * rate_y / rate_x) : int(end * rate_y / rate_x)]
            if len(b) < rate_y:
                continue
            originals.append(asv.embed(a, rate_x))
            anonymized.append(asv.embed(b, rate_y))
            if attacker_voice is not None:
                own = attacker_voice.apply(a, rate_x, seed=seed + ATTACKER_SEED_OFFSET, speaker=pair.speaker)
                attacker.append(asv.embed(own, rate_x))
            speakers.append(pair.speaker)
    result: dict[str, Any] = {"chunks": len(speakers), "speakers": len(set(speakers)),
                              "voice_transform": voice_step["name"] if voice_step else None}
    if not speakers:
        result["note"] = "no speech chunks of 2 s or more"
        return result
    orig, anon = np.stack(originals), np.stack(anonymized)
    result["original"] = _attack(orig, orig, speakers, seed=seed)  # the unprotected baseline
    result["ignorant"] = _attack(orig, anon, speakers, seed=seed)
    if attacker:
        lazy = np.stack(attacker)
        result["lazy_informed"] = _attack(lazy, anon, speakers, seed=seed)
        if len(set(speakers)) >= 4:
            try:
                result["semi_informed"] = {
                    "eer": json_number(asv.semi_informed_eer(lazy, anon, speakers, lazy, speakers, folds=2)),
                    "trials": int(len(speakers) * (len(speakers) - 1)),
                }
            except (np.linalg.LinAlgError, ValueError) as exc:  # too few chunks for the LDA back-end
                result["semi_informed"] = {"eer": None, "note": f"back-end could not be trained: {exc}"}
        else:
            result["semi_informed"] = {"eer": None, "note": "needs at least 4 speakers"}
    by_gender: dict[str, Any] = {}
    gender_of = genders(original_dir)
    for gender in sorted(set(gender_of.values())):
        sel = np.array([gender_of.get(s) == gender for s in speakers])
        if len(set(np.asarray(speakers)[sel])) >= 2:
            spk = list(np.asarray(speakers)[sel])
            by_gender[gender] = {"ignorant": _attack(orig[sel], anon[sel], spk, seed=seed)}
            if attacker:
                by_gender[gender]["lazy_informed"] = _attack(np.stack(attacker)[sel], anon[sel], spk, seed=seed)
    if by_gender:
        result["by_gender"] = by_gender
    return result
