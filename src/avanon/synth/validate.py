"""Validation of synthetic features: the analytic statistics they keep, and what they give away.

Utility (each a comparison of the real and the synthetic tables, with a stated tolerance,
:class:`Tolerances`):

``distribution``
    Kolmogorov-Smirnov distance between the real and synthetic values of each analysed channel of
    each person (head box, head pose, gaze, motion energy, body keypoints); median over channels.
``autocorrelation``
    Autocorrelation at lags of 0.2, 0.5 and 1 s; mean absolute difference over channels and lags.
    A table whose frames were shuffled keeps every distribution and fails here.
``correlation``
    Correlations between the analysed channels of a person; mean absolute difference.
``synchrony``
    Cross-person synchrony: the largest absolute correlation between two persons' motion energy
    within +-1 s of lag, in sessions where both are in view together; mean absolute difference.
``turn_rate``, ``turn_duration``, ``overlap_share``, ``silence_share``
    Turn-taking: turns per minute and mean turn length (relative difference), shares of time with
    overlapping speech and with silence (absolute difference), pooled over recordings.

Privacy (:func:`privacy_checks`), on windows of ``window`` seconds of each person's movement (five
frames across the window of the leading principal components of the analysed channels):

``dcr_ratio``
    Median distance from each synthetic window to its closest training window, over the median
    distance from each held-out real window to its closest training window. Synthetic data that
    copy their training data score near 0; data as new as fresh real data score near 1 or above.
``membership_inference``
    An attacker holding the synthetic tables tries to tell the training windows from the held-out
    ones by their distances to the nearest and second-nearest synthetic windows of the same person
    (logistic regression, five-fold cross-validation with the folds cut between blocks, so that
    overlapping windows of one block never train and test the attack together; classes balanced):
    accuracy against chance (0.5), averaged over :data:`MIA_REPEATS` draws of the balancing and the
    folds, with a Wilson 95 % interval over *blocks* (overlapping windows are not independent; the
    blocks are). It must be within ``mia_margin`` of 0.5.

Too short to validate: a check needs enough real data for its statistic to mean something; with
less it is neither passed nor failed but returned with ``passed=None`` and a note saying how much
there is and how much it needs (:func:`too_short`), and the report's status is "not validated".

* Turn-taking: a recording enters the checks with :data:`MIN_TURNS` real speaker segments
  (:func:`turn_checks`).
* Motion utility: a person enters the statistics when in view for :data:`MIN_MOTION_SECONDS`,
  a pair for synchrony when in view together as long. On the real dev clips (2-5 s halves) the
  two halves of one table differ by 2.4-10 times the tolerances; were the differences to shrink
  as 1/sqrt(length), they would reach the tolerances at 12-450 s (``benchmarks/bench_synth.py``;
  an extrapolation: no dev clip is longer than 10 s).
* Privacy: :func:`min_blocks` blocks (385 for the default margin), so that the 95 % interval of
  the attack's accuracy at chance is no wider than the margin.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from avanon.evaluate.base import json_number
from avanon.evaluate.intervals import wilson_interval
from avanon.synth.tables import MotionSession, TurnSession

AC_LAGS = (0.2, 0.5, 1.0)  # [s]
SYNC_LAG = 1.0  # [s]
MIA_REPEATS = 5  # draws of the class balancing and the folds the attack's accuracy is averaged over
MIN_TURNS = 100  # speaker segments a recording needs to enter the turn-taking checks
MIN_MOTION_SECONDS = 300.0  # [s] in view (one person) or in view together (two persons) for a person or pair to enter the motion checks
TOO_SHORT = "too short to validate"
SCALAR_CHANNELS = ("head_x0", "head_y0", "head_x1", "head_y1", "head_yaw", "head_pitch", "head_roll", "gaze_horizontal", "gaze_vertical", "motion_energy")


@dataclass(frozen=True)
class Tolerances:
    """Largest accepted differences between real and synthetic statistics (see the module docstring)."""

    distribution: float = 0.15  # median Kolmogorov-Smirnov distance
    autocorrelation: float = 0.1  # mean absolute difference of autocorrelations
    correlation: float = 0.15  # mean absolute difference of correlations between channels
    synchrony: float = 0.15  # mean absolute difference of the largest cross-person correlation
    turn_rate: float = 0.2  # relative difference of turns per minute and of mean turn length
    share: float = 0.05  # absolute difference of the overlap and silence shares
    dcr_ratio: float = 0.9  # lowest accepted distance-to-closest-record ratio
    mia_margin: float = 0.05  # largest accepted distance of the attack's accuracy from 0.5


def min_blocks(margin: float) -> int:
    """Blocks the membership-inference check needs: the 95 % Wilson interval at chance is then at most ``margin`` wide on each side.

    ``ceil(1.96**2 / (4 margin**2))``: 385 blocks (770 s of one person in view, with 2 s blocks)
    for the default margin of 0.05. With fewer, an accuracy within the margin says little: at 5
    blocks (a 10 s clip) the interval is 0.5 +- 0.37. The distance-to-closest-record ratio compares
    the same windows and needs as many.
    """
    return int(math.ceil(1.959964**2 / (4.0 * margin**2)))


def too_short(name: str, aspect: str, tolerance: str, *, have: float, need: float, unit: str, **detail: Any) -> Check:
    """A check that was not judged because the real data are shorter than it needs (``passed`` is None)."""
    note = f"{TOO_SHORT}: {have:g} {unit}, needs at least {need:g}"
    return Check(name, aspect, float("nan"), tolerance, None, {"note": note, TOO_SHORT.replace(" ", "_"): {"have": have, "need": need, "unit": unit}, **detail})


@dataclass
class Check:
    """One validated statistic: its value, the real value where there is one, and the verdict."""

    name: str
    aspect: str  # "utility" or "privacy"
    value: float
    tolerance: str
    passed: bool | None  # None: not applicable (nothing to compare)
    detail: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["value"] = json_number(self.value)
        return data

    @property
    def is_too_short(self) -> bool:
        """Not judged because the real data are too short (:func:`too_short`)."""
        return self.passed is None and TOO_SHORT.replace(" ", "_") in self.detail


def _mean(values: list[float]) -> float:
    """Mean of ``values``, nan when there are none."""
    return float(np.mean(values)) if values else float("nan")


def analysed_channels(columns: Sequence[str]) -> list[int]:
    """Indices of the channels the statistics look at: head box and pose, gaze, motion energy, body x/y."""
    chosen = [j for j, c in enumerate(columns) if c in SCALAR_CHANNELS or (c.startswith("body_") and c.endswith(("_x", "_y")))]
    return chosen or [j for j, c in enumerate(columns) if not c.endswith("_visibility") and not c.startswith("face_")]


def _acf(x: np.ndarray, lag: int) -> float:
    """Autocorrelation of a series with holes (nan) at ``lag`` frames, from the pairs both seen."""
    finite = np.isfinite(x)
    if finite.sum() < lag + 3:
        return float("nan")
    mean, var = x[finite].mean(), x[finite].var()
    if var <= 0:
        return float("nan")
    a, b = x[:-lag], x[lag:]
    both = np.isfinite(a) & np.isfinite(b)
    return float(((a[both] - mean) * (b[both] - mean)).mean() / var) if both.sum() >= 3 else float("nan")


def _ks(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import ks_2samp

    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if len(a) < 2 or len(b) < 2:
        return float("nan")
    return float(ks_2samp(a, b).statistic)


def _corr(x: np.ndarray) -> np.ndarray:
    rows = x[np.isfinite(x).all(axis=1)]
    if len(rows) < 3:
        return np.full((x.shape[1], x.shape[1]), np.nan)
    with np.errstate(all="ignore"):
        return np.corrcoef(rows, rowvar=False)


def _sync(a: np.ndarray, b: np.ndarray, lags: int) -> float:
    """Largest absolute correlation of two series over lags -lags..lags [frames] (pairs both seen)."""
    best = float("nan")
    for lag in range(-lags, lags + 1):
        x, y = (a[lag:], b[: len(b) - lag]) if lag >= 0 else (a[:lag], b[-lag:])
        both = np.isfinite(x) & np.isfinite(y)
        if both.sum() < 10 or x[both].std() == 0 or y[both].std() == 0:
            continue
        r = abs(float(np.corrcoef(x[both], y[both])[0, 1]))
        best = r if not math.isfinite(best) else max(best, r)
    return best


def motion_checks(real: Sequence[MotionSession], synthetic: Sequence[MotionSession], tolerances: Tolerances) -> list[Check]:
    """Utility checks of motion tables; ``synthetic[i]`` is the synthetic twin of ``real[i]``."""
    ks, ac_diff, corr_diff, sync_real, sync_syn = [], [], [], [], []
    ac_real_all = []
    longest = longest_pair = 0.0
    for r, s in zip(real, synthetic):
        channels = analysed_channels(r.columns)
        lags = sorted({max(1, int(round(lag * r.rate))) for lag in AC_LAGS})
        seen = r.present() & np.isfinite(r.values[:, :, channels]).any(axis=2) if channels else r.present()
        seconds = seen.sum(axis=1) / r.rate
        longest = max([longest, *seconds.tolist()])
        for k in range(len(r.persons)):
            if seconds[k] < MIN_MOTION_SECONDS - 0.5 / r.rate:  # half a frame for the rounding of the rate
                continue  # too short for its statistics to be compared (MIN_MOTION_SECONDS)
            for j in channels:
                ks.append(_ks(r.values[k, :, j], s.values[k, :, j]))
                for lag in lags:
                    ar, asyn = _acf(r.values[k, :, j], lag), _acf(s.values[k, :, j], lag)
                    if math.isfinite(ar):
                        ac_real_all.append(ar)
                        ac_diff.append(abs(ar - asyn) if math.isfinite(asyn) else 1.0)
            cr, cs = _corr(r.values[k][:, channels]), _corr(s.values[k][:, channels])
            upper = np.triu_indices(len(channels), 1)
            both = np.isfinite(cr[upper])
            if both.any():
                corr_diff.extend(np.abs(cr[upper][both] - np.nan_to_num(cs[upper][both])).tolist())
        if "motion_energy" in r.columns and len(r.persons) >= 2:
            j = r.columns.index("motion_energy")
            lags_sync = max(1, int(round(SYNC_LAG * r.rate)))
            for a in range(len(r.persons)):
                for b in range(a + 1, len(r.persons)):
                    together = float((seen[a] & seen[b]).sum() / r.rate)
                    longest_pair = max(longest_pair, together)
                    if together < MIN_MOTION_SECONDS - 0.5 / r.rate:
                        continue
                    value = _sync(r.values[a, :, j], r.values[b, :, j], lags_sync)
                    if math.isfinite(value):
                        sync_real.append(value)
                        sync_syn.append(_sync(s.values[a, :, j], s.values[b, :, j], lags_sync))
    t = tolerances
    checks = [
        _upper(
            "distribution", float(np.nanmedian(ks)) if np.isfinite(ks).any() else float("nan"), t.distribution, "median Kolmogorov-Smirnov distance", n=len(ks)
        ),
        _upper(
            "autocorrelation",
            _mean(ac_diff),
            t.autocorrelation,
            "mean |autocorrelation difference|",
            n=len(ac_diff),
            real_mean=json_number(float(np.mean(ac_real_all))) if ac_real_all else None,
            lags_s=list(AC_LAGS),
        ),
        _upper("correlation", _mean(corr_diff), t.correlation, "mean |correlation difference|", n=len(corr_diff)),
    ]
    sync_diff = [abs(a - b) if math.isfinite(b) else 1.0 for a, b in zip(sync_real, sync_syn)]
    checks.append(
        _upper(
            "synchrony",
            _mean(sync_diff),
            t.synchrony,
            "mean |difference| of the largest cross-person motion-energy correlation within +-1 s",
            n=len(sync_diff),
            real=[json_number(v) for v in sync_real],
            synthetic=[json_number(v) for v in sync_syn],
        )
    )
    if not ks:  # no person in view long enough: no statistic is judged
        return [
            too_short(c.name, c.aspect, c.tolerance, have=round(longest, 2), need=MIN_MOTION_SECONDS, unit="s of the longest person in view") for c in checks
        ]
    if not sync_real and longest_pair > 0:
        checks[-1] = too_short(
            "synchrony", "utility", checks[-1].tolerance, have=round(longest_pair, 2), need=MIN_MOTION_SECONDS, unit="s of two persons in view together"
        )
    return checks


def _upper(name: str, value: float, limit: float, words: str, **detail: Any) -> Check:
    ok = None if not math.isfinite(value) else bool(value <= limit)
    return Check(name, "utility", value, f"{words} <= {limit:g}", ok, detail)


# ---------------------------------------------------------------------------------------- turns


def turn_statistics(sessions: Sequence[TurnSession], *, tick: float = 0.01) -> dict[str, float]:
    """Turns per minute, mean turn length [s], overlap and silence shares, pooled over ``sessions``."""
    turns = length = overlap = silence = total = 0.0
    for session in sessions:
        frames = int(math.ceil(session.duration / tick))
        count = np.zeros(frames, dtype=np.int32)
        for start, end, _ in session.segments:
            count[int(round(start / tick)) : int(round(end / tick))] += 1
        turns += len(session.segments)
        length += sum(end - start for start, end, _ in session.segments)
        overlap += float((count >= 2).sum()) * tick
        silence += float((count == 0).sum()) * tick
        total += frames * tick
    if total <= 0 or turns == 0:
        return {"turns_per_minute": float("nan"), "turn_duration": float("nan"), "overlap_share": float("nan"), "silence_share": float("nan")}
    return {"turns_per_minute": turns / total * 60.0, "turn_duration": length / turns, "overlap_share": overlap / total, "silence_share": silence / total}


def turn_checks(real: Sequence[TurnSession], synthetic: Sequence[TurnSession], tolerances: Tolerances) -> list[Check]:
    """Utility checks of the turn-taking tables (pooled statistics, see :func:`turn_statistics`).

    Each synthetic recording comes from a model of its own real recording, so only recordings
    with at least :data:`MIN_TURNS` real speaker segments enter the pooled statistics; without
    any, every check is returned as too short to validate. Below that, halves of one real
    recording already differ by about the tolerance (median relative difference of the turn rate
    0.19-0.39 with 2-24 turns per half, 0.08-0.26 with 25-99; ``benchmarks/bench_synth.py``),
    and models of 2 min windows with 1-34 turns each gave synthetic recordings 0.045 less silent
    on average (20 seeds), so a check could pass or fail by chance.
    """
    used = [k for k, session in enumerate(real) if len(session.segments) >= MIN_TURNS]
    pool = used or list(range(len(real)))
    r, s = turn_statistics([real[k] for k in pool]), turn_statistics([synthetic[k] for k in pool])
    checks = []
    for key, name in (("turns_per_minute", "turn_rate"), ("turn_duration", "turn_duration")):
        value = abs(s[key] - r[key]) / r[key] if r[key] > 0 else float("nan")
        check = _upper(
            name, value, tolerances.turn_rate, f"relative difference of {key.replace('_', ' ')}", real=json_number(r[key]), synthetic=json_number(s[key])
        )
        checks.append(check)
    for key in ("overlap_share", "silence_share"):
        value = abs(s[key] - r[key])
        checks.append(
            _upper(key, value, tolerances.share, f"absolute difference of the {key.replace('_', ' ')}", real=json_number(r[key]), synthetic=json_number(s[key]))
        )
    if not used:
        most = max((len(session.segments) for session in real), default=0)
        unit = "real speaker segments in the longest recording"
        return [too_short(c.name, c.aspect, c.tolerance, have=most, need=MIN_TURNS, unit=unit, real=c.detail.get("real")) for c in checks]
    for check in checks:
        check.detail["recordings"] = len(used)
        check.detail["too_short_recordings"] = len(real) - len(used)  # left out of the pooled statistics
    return checks


# ---------------------------------------------------------------------------------------- privacy


@dataclass(frozen=True)
class Windows:
    """Movement windows of one person of one session: vectors and, for real ones, their split."""

    vectors: np.ndarray  # (windows, dims)
    member: np.ndarray  # (windows,) bool: inside a training block (real windows only)
    block: np.ndarray  # (windows,) int: the block each real window lies in (-1 for synthetic windows)


def person_windows(real: MotionSession, synthetic: MotionSession, k: int, members: np.ndarray, blocks: np.ndarray, *, window: float) -> tuple[Windows, Windows]:
    """Real and synthetic windows of person ``k`` in one space (PCA of the real analysed channels)."""
    from sklearn.decomposition import PCA

    channels = analysed_channels(real.columns)
    x, y = real.values[k][:, channels], synthetic.values[k][:, channels]
    seen = np.isfinite(x).all(axis=1)
    empty = Windows(np.zeros((0, 1)), np.zeros(0, dtype=bool), np.zeros(0, dtype=np.int64))
    if seen.sum() < 10:
        return empty, empty
    mean, std = x[seen].mean(axis=0), x[seen].std(axis=0)
    std = np.where(std > 0, std, 1.0)
    dims = min(10, len(channels), int(seen.sum()) - 1)
    pca = PCA(n_components=dims, svd_solver="full").fit((x[seen] - mean) / std)
    span = max(2, int(round(window * real.rate)))
    offsets = np.linspace(0, span - 1, 5).round().astype(int)
    stride = max(1, span // 4)

    def cut(values: np.ndarray, label: bool) -> Windows:
        ok = np.isfinite(values).all(axis=1)
        proj = np.full((len(values), dims), np.nan)
        if ok.any():
            proj[ok] = pca.transform((values[ok] - mean) / std)
        vectors, member, block = [], [], []
        for start in range(0, len(values) - span + 1, stride):
            idx = start + offsets
            if not ok[idx].all():
                continue
            if label and blocks[idx[0]] != blocks[idx[-1]]:
                continue  # a real window must lie in one block, all training or all held out
            vectors.append(proj[idx].ravel())
            member.append(bool(members[idx[0]]) if label else False)
            block.append(int(blocks[idx[0]]) if label else -1)
        return Windows(
            np.asarray(vectors, dtype=np.float64).reshape(len(vectors), dims * len(offsets)), np.asarray(member, dtype=bool), np.asarray(block, dtype=np.int64)
        )

    return cut(x, True), cut(y, False)


def _nearest(a: np.ndarray, b: np.ndarray, k: int = 1) -> np.ndarray:
    """Distances from each row of ``a`` to its ``k`` nearest rows of ``b``, shape (len(a), k)."""
    from sklearn.neighbors import NearestNeighbors

    return NearestNeighbors(n_neighbors=k).fit(b).kneighbors(a)[0]


def privacy_checks(pairs: Sequence[tuple[Windows, Windows]], tolerances: Tolerances, *, seed: int) -> list[Check]:
    """Distance-to-closest-record ratio and the membership-inference attack (module docstring).

    Parameters
    ----------
    pairs : sequence of (real windows, synthetic windows)
        One pair per person and session; the attacker compares a real window only with the
        synthetic windows of the same person and session.
    seed : int
        Seed of the class balancing and the cross-validation folds.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict

    rng = np.random.default_rng(seed)
    synth_dcr, held_dcr, features, labels, groups = [], [], [], [], []
    for number, (real, synth) in enumerate(pairs):
        train, held = real.vectors[real.member], real.vectors[~real.member]
        if len(train) < 2 or len(held) < 1 or len(synth.vectors) < 2:
            continue
        synth_dcr.extend(_nearest(synth.vectors, train)[:, 0].tolist())
        held_dcr.extend(_nearest(held, train)[:, 0].tolist())
        d = _nearest(real.vectors, synth.vectors, 2)
        logs = np.log(d + 1e-9)
        logs -= np.median(logs[:, 0])  # distances of one person's windows on a common scale
        features.append(np.stack([logs[:, 0], logs[:, 1], logs[:, 0] - logs[:, 1]], axis=1))
        labels.append(real.member)
        groups.append(real.block + number * 1_000_000)  # one group per block of one person of one session
    t = tolerances
    need = min_blocks(t.mia_margin)
    if not held_dcr or not features:  # no person has both training and held-out windows
        return _privacy_too_short(t, f">= {t.dcr_ratio:g}", have=sum(len(np.unique(real.block)) for real, _ in pairs), need=need)
    ratio = float(np.median(synth_dcr) / max(np.median(held_dcr), 1e-12))
    dcr = Check(
        "dcr_ratio",
        "privacy",
        ratio,
        f"median distance of synthetic windows to their closest training window / that of held-out real windows >= {t.dcr_ratio:g}",
        bool(ratio >= t.dcr_ratio),
        {"synthetic_median": json_number(float(np.median(synth_dcr))), "held_out_median": json_number(float(np.median(held_dcr))), "windows": len(synth_dcr)},
    )
    x, y, g = np.concatenate(features), np.concatenate(labels), np.concatenate(groups)
    n = min(int(y.sum()), int((~y).sum()))
    blocks = min(len(np.unique(g[y])), len(np.unique(g[~y])))
    if n < 5 or blocks < 2:  # fewer than 5 windows or 2 blocks in the smaller class
        return _privacy_too_short(t, dcr.tolerance, have=len(np.unique(g)), need=need, ratio=ratio)
    accuracies = []
    for _ in range(MIA_REPEATS):  # the balancing subsample and the folds are random: average over several draws
        keep = np.sort(np.concatenate([rng.permutation(np.flatnonzero(y))[:n], rng.permutation(np.flatnonzero(~y))[:n]]))
        # folds by block: overlapping windows of one block are never on both sides of a split
        folds = StratifiedGroupKFold(n_splits=min(5, blocks), shuffle=True, random_state=int(rng.integers(2**31)))
        predicted = cross_val_predict(LogisticRegression(), x[keep], y[keep], groups=g[keep], cv=folds)
        accuracies.append(float((predicted == y[keep]).mean()))
    accuracy = float(np.mean(accuracies))
    units = len(np.unique(g))  # blocks, the independent units of the interval
    mia = _mia_check(accuracy, int(round(accuracy * units)), units, t, "", windows=2 * n, repeats=accuracies)
    if units < need:
        return _privacy_too_short(t, dcr.tolerance, have=units, need=need, ratio=ratio,
                                  mia_detail={"measured": json_number(accuracy), "ci95": mia.detail["ci95"], "trials": units})  # fmt: skip
    return [dcr, mia]


def _privacy_too_short(t: Tolerances, dcr_tolerance: str, *, have: int, need: int, ratio: float | None = None,
                       mia_detail: dict[str, Any] | None = None) -> list[Check]:  # fmt: skip
    """Both privacy checks as too short to validate, with what was measured anyway (distance ratio, attack accuracy)."""
    unit = "blocks of real data"
    dcr_detail = {} if ratio is None else {"measured": json_number(ratio)}
    mia_tolerance = f"|accuracy - 0.5| <= {t.mia_margin:g}"
    return [
        too_short("dcr_ratio", "privacy", dcr_tolerance, have=have, need=need, unit=unit, **dcr_detail),
        too_short("membership_inference", "privacy", mia_tolerance, have=have, need=need, unit=unit, **(mia_detail or {})),
    ]


def validate_motion(
    real: Sequence[MotionSession],
    synthetic: Sequence[MotionSession],
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    tolerances: Tolerances,
    window: float,
    seed: int,
) -> list[Check]:
    """Utility and privacy checks of motion tables.

    Parameters
    ----------
    real, synthetic : sequences of MotionSession
        ``synthetic[i]`` was made from ``real[i]`` (same frames, persons and columns).
    splits : sequence of (members, blocks)
        Per real session, which frames were used for fitting and each frame's block
        (:func:`avanon.synth.motion.split_blocks`).
    tolerances : Tolerances
    window : float > 0 [s]
        Length of the windows the privacy checks compare.
    seed : int
        Seed of the membership-inference attack.
    """
    pairs = [person_windows(r, s, k, members, blocks, window=window) for r, s, (members, blocks) in zip(real, synthetic, splits) for k in range(len(r.persons))]
    return motion_checks(real, synthetic, tolerances) + privacy_checks(pairs, tolerances, seed=seed)


def _mia_check(accuracy: float, correct: int, trials: int, tolerances: Tolerances, note: str, **extra: Any) -> Check:
    margin = tolerances.mia_margin
    ci = wilson_interval(correct, trials) if trials else None
    passed = None if not math.isfinite(accuracy) else bool(abs(accuracy - 0.5) <= margin)
    detail = {
        "chance": 0.5,
        "correct": correct,
        "trials": trials,
        "ci95": [json_number(v) for v in ci] if ci else None,
        "ci_method": "Wilson, over blocks (trials = blocks, the independent units; correct = accuracy x blocks)",
        **extra,
    }
    if note:
        detail["note"] = note
    return Check("membership_inference", "privacy", accuracy, f"|accuracy - 0.5| <= {margin:g}", passed, detail)
