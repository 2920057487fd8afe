"""Synthetic motion tables: a vector autoregressive model of each session, simulated with fresh noise.

For each session (one feature table) and each person in it, :class:`MotionSynthesizer` learns

1. each feature column's distribution, as 21 quantiles (every 5th percentile) (the synthetic values are mapped back
   through them, so skewed or bounded columns such as motion energy and keypoint visibility keep
   their shape and range);
2. a low-dimensional description of the frame: the columns are turned into normal scores (rank
   based, so a monotone transform of any column gives the same model) and reduced by PCA to the
   fewest components that keep ``variance`` of the variance (at most ``components``);
3. the temporal structure: a vector autoregressive model (VAR) of the components of *all* persons
   of the session together, so that one person's movement can follow another's (cross-person
   coupling, contemporaneous through the shared noise covariance). The order (1 to ``max_lag``
   frames) is chosen by Akaike's criterion, the coefficients by least squares with a small ridge
   penalty, and an unstable fit is shrunk until it is stable (spectral radius 0.99);
4. what the components leave out, per column as a first-order autoregression (AR(1));
5. when each person is in view, as a two-state Markov chain (in view, not in view; Laplace-smoothed).

A synthetic session is simulated from zero state with new Gaussian noise for ``burn_in`` frames,
which are dropped, then for as many frames as the real session, on the real frame times. No frame,
window or starting value of the real data is copied. Only the frames marked as *members* are
used to fit (:func:`split_blocks`): the others are held out, so that the privacy checks of
:mod:`avanon.synth.validate` can compare them.

The numerical work is numpy, scipy (normal distribution) and scikit-learn (PCA). The VAR is fitted
here by ordinary least squares rather than with ``statsmodels`` (not a dependency of avanon; it
would bring pandas and patsy for a fit of a few lines, and its simulation does not take
sessions with holes, which the held-out blocks and a person leaving the view make).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from avanon.errors import IntegrityError
from avanon.registry import Interval, Method, Param
from avanon.synth.tables import MotionSession

PROBABILITIES = np.linspace(0.0, 1.0, 21)  # the marginals kept: every 5th percentile (finer ones let the model remember where the training frames were)
MAX_MISSING = 0.5  # a column missing in more of a person's frames than this is not synthesised (all nan)


def split_blocks(times: np.ndarray, *, block: float, holdout: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Cut a session into blocks of ``block`` seconds and hold a share of them out.

    Parameters
    ----------
    times : ndarray, shape (frames,) [s]
    block : float > 0 [s]
    holdout : float in [0, 1)
        Share of blocks held out (rounded; at least one block is held out when ``holdout > 0`` and
        there are at least two blocks, and at least one block is always kept).
    rng : numpy Generator

    Returns
    -------
    (members, blocks) : ndarray of bool, ndarray of int, shape (frames,)
        Whether each frame is used for fitting, and each frame's block number.
    """
    blocks = np.floor((times - times[0]) / block).astype(np.int64)
    count = int(blocks.max()) + 1 if len(blocks) else 0
    held = int(round(holdout * count))
    if holdout > 0 and count >= 2:
        held = min(max(held, 1), count - 1)
    else:
        held = 0
    out = rng.permutation(count)[:held]
    return ~np.isin(blocks, out), blocks


@dataclass
class PersonModel:
    """What is learnt about one person of a session (see the module docstring)."""

    quantiles: np.ndarray  # (21, columns); nan for columns not synthesised
    mean: np.ndarray  # (kept,) of the normal scores
    components: np.ndarray  # (k, kept)
    kept: np.ndarray  # (columns,) bool
    phi: np.ndarray  # (kept,) AR(1) coefficient of the residual
    sigma: np.ndarray  # (kept,) standard deviation of the residual
    stay_in: float  # P(in view at t+1 | in view at t)
    come_in: float  # P(in view at t+1 | not in view at t)


@dataclass
class SessionModel:
    """A fitted session: persons, their models and the joint VAR of their components."""

    persons: list[int]
    columns: list[str]
    people: list[PersonModel | None]
    coefs: np.ndarray  # (lags, D, D)
    intercept: np.ndarray  # (D,)
    chol: np.ndarray  # (D, D) Cholesky factor of the noise covariance
    joint: bool  # one VAR over all persons (else one per person, no coupling)

    @property
    def lags(self) -> int:
        return int(self.coefs.shape[0])


class MotionSynthesizer(Method):
    """Per-session VAR of PCA components with quantile-mapped marginals (see the module docstring)."""

    kind: ClassVar[str] = "synthesizer"
    name: ClassVar[str] = "var"
    params = {
        "components": Param(8, Interval(int, 1, 64), "most principal components per person"),
        "variance": Param(0.9, Interval(float, 0.5, 1.0), "share of the variance the components keep (fewer components when reached)"),
        "max_lag": Param(4, Interval(int, 1, 50), "most autoregressive lags tried [frames]; the order is chosen by AIC"),
        "ridge": Param(1e-3, Interval(float, 0.0, 1.0), "ridge penalty of the VAR fit, relative to the mean regressor energy"),
        "burn_in": Param(100, Interval(int, 0, 100000), "frames simulated and dropped before the output [frames]"),
    }

    def fit(self, session: MotionSession, members: np.ndarray) -> SessionModel:
        """Learn ``session`` from its ``members`` frames (bool, shape (frames,))."""
        present = session.present() & members[None, :]
        people = [_fit_person(session.values[k], present[k], members, self.components, self.variance) for k in range(len(session.persons))]
        if not any(p is not None for p in people):
            raise IntegrityError(f"{session.rel}: no person is in view in the frames used for fitting; nothing to synthesise.")
        scores = []
        for k, person in enumerate(people):
            if person is None:
                continue
            z = np.full((len(session.times), person.components.shape[0]), np.nan)
            rows = present[k]
            z[rows] = (_normal_scores_filled(session.values[k][rows][:, person.kept]) - person.mean) @ person.components.T
            scores.append(z)
        series = np.concatenate(scores, axis=1)
        fitted = _fit_var(series, self.max_lag, self.ridge)
        joint = fitted is not None
        if fitted is None:  # too few frames with everyone in view: one VAR per person, no coupling
            fitted = _block_diagonal([_fit_var(z, self.max_lag, self.ridge) or _white(z) for z in scores])
        coefs, intercept, cov = fitted
        coefs = _stabilise(coefs)
        return SessionModel(session.persons, session.columns, people, coefs, intercept, _cholesky(cov), joint)

    def sample(self, model: SessionModel, frames: int, rng: np.random.Generator) -> np.ndarray:
        """Simulate ``frames`` frames of ``model``; returns values of shape (persons, frames, columns)."""
        from scipy.stats import norm

        dim = model.intercept.shape[0]
        total = frames + self.burn_in
        z = np.zeros((total + model.lags, dim))
        noise = rng.standard_normal((total, dim)) @ model.chol.T
        for t in range(model.lags, total + model.lags):
            value = model.intercept + noise[t - model.lags]
            for lag in range(model.lags):
                value = value + model.coefs[lag] @ z[t - lag - 1]
            z[t] = value
        z = z[model.lags + self.burn_in :]
        out = np.full((len(model.persons), frames, len(model.columns)), np.nan)
        start = 0
        for k, person in enumerate(model.people):
            if person is None:
                continue
            k_dim = person.components.shape[0]
            scores = z[:, start : start + k_dim]
            start += k_dim
            g = scores @ person.components + person.mean + _ar1(person.phi, person.sigma, frames, rng)
            u = norm.cdf(g)
            values = np.full((frames, len(model.columns)), np.nan)
            for j, c in enumerate(np.flatnonzero(person.kept)):
                values[:, c] = np.interp(u[:, j], PROBABILITIES, person.quantiles[:, c])
            seen = _presence(person.stay_in, person.come_in, frames, rng)
            values[~seen] = np.nan
            out[k] = values
        return out

    def synthesize(self, session: MotionSession, members: np.ndarray, rng: np.random.Generator) -> MotionSession:
        """A synthetic copy of ``session``'s shape: same times, persons and columns, simulated values."""
        model = self.fit(session, members)
        values = self.sample(model, len(session.times), rng)
        return MotionSession(session.rel, session.times.copy(), list(session.persons), list(session.columns), values, dict(session.meta))


# ---------------------------------------------------------------------------------------- fitting


def _normal_scores(x: np.ndarray) -> np.ndarray:
    """Rank-based normal scores of each column (ties broken by order); nan stays nan."""
    from scipy.stats import norm

    out = np.full_like(x, np.nan, dtype=np.float64)
    for j in range(x.shape[1]):
        finite = np.isfinite(x[:, j])
        n = int(finite.sum())
        if n:
            ranks = np.argsort(np.argsort(x[finite, j], kind="stable"), kind="stable")
            out[finite, j] = norm.ppf((ranks + 0.5) / n)
    return out


def _normal_scores_filled(x: np.ndarray) -> np.ndarray:
    """Normal scores with the missing values of a column interpolated along the rows (0 when none)."""
    g = _normal_scores(x)
    index = np.arange(len(g))
    for j in range(g.shape[1]):
        missing = ~np.isfinite(g[:, j])
        if missing.any():
            known = np.flatnonzero(~missing)
            g[missing, j] = np.interp(index[missing], known, g[known, j]) if known.size else 0.0
    return g


def _fit_person(values: np.ndarray, present: np.ndarray, members: np.ndarray, components: int, variance: float) -> PersonModel | None:
    """Marginals, PCA, residual AR(1) and view chain of one person, from the ``present`` frames."""
    from sklearn.decomposition import PCA

    rows = values[present]
    if len(rows) < 8:
        return None
    missing = ~np.isfinite(rows)
    kept = missing.mean(axis=0) <= MAX_MISSING
    if not kept.any():
        return None
    quantiles = np.full((len(PROBABILITIES), values.shape[1]), np.nan)
    quantiles[:, kept] = np.nanquantile(rows[:, kept], PROBABILITIES, axis=0)
    g = _normal_scores_filled(rows[:, kept])
    most = min(components, len(g) - 1, g.shape[1])
    pca = PCA(n_components=most, svd_solver="full").fit(g)
    k = int(np.searchsorted(np.cumsum(pca.explained_variance_ratio_), variance) + 1)
    k = max(1, min(k, most))
    comps = pca.components_[:k]
    residual = g - pca.mean_ - (g - pca.mean_) @ comps.T @ comps
    pairs = present[:-1] & present[1:]  # consecutive frames both used for fitting
    position = np.cumsum(present) - 1
    a, b = residual[position[:-1][pairs]], residual[position[1:][pairs]]
    energy = (a * a).sum(axis=0)
    phi = np.clip(np.where(energy > 0, (a * b).sum(axis=0) / np.where(energy > 0, energy, 1.0), 0.0), 0.0, 0.99)
    sigma = residual.std(axis=0)
    in_view = np.isfinite(values).any(axis=1)
    stay_in, come_in = _view_chain(in_view, members)
    return PersonModel(quantiles, pca.mean_, comps, kept, phi, sigma, stay_in, come_in)


def _view_chain(in_view: np.ndarray, members: np.ndarray) -> tuple[float, float]:
    """Transition probabilities of the in-view chain, from consecutive member frames.

    A person never out of view stays in view. Otherwise the counts get one pseudo-count per
    outcome (Laplace), so that a person seen leaving but not coming back within the training
    frames (the return fell in a held-out block) is not made to vanish for good.
    """
    both = members[:-1] & members[1:]
    now, then = in_view[:-1][both], in_view[1:][both]
    if now.all():
        return 1.0, 1.0
    stay_in = float(((now & then).sum() + 1) / (now.sum() + 2))
    come_in = float(((~now & then).sum() + 1) / ((~now).sum() + 2))
    return stay_in, come_in


def _fit_var(series: np.ndarray, max_lag: int, ridge: float) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Least-squares VAR of ``series`` (frames, D; nan rows are holes), order by AIC; None when too short."""
    frames, dim = series.shape
    finite = np.isfinite(series).all(axis=1)
    lags = max_lag
    while lags >= 1:
        rows = np.flatnonzero(finite[lags:] & np.all([finite[lags - i : frames - i] for i in range(1, lags + 1)], axis=0)) + lags
        if len(rows) >= 5 * (1 + lags * dim):
            break
        lags -= 1
    if lags < 1:
        return None
    best = None
    for p in range(1, lags + 1):
        x = np.concatenate([np.ones((len(rows), 1))] + [series[rows - i] for i in range(1, p + 1)], axis=1)
        y = series[rows]
        gram = x.T @ x
        penalty = ridge * np.trace(gram) / gram.shape[0] * np.eye(gram.shape[0])
        penalty[0, 0] = 0.0
        beta = np.linalg.solve(gram + penalty, x.T @ y)
        resid = y - x @ beta
        cov = resid.T @ resid / len(rows) + 1e-9 * np.eye(dim)
        sign, logdet = np.linalg.slogdet(cov)
        aic = logdet + 2.0 * p * dim * dim / len(rows)
        if best is None or aic < best[0]:
            coefs = beta[1:].reshape(p, dim, dim).transpose(0, 2, 1)
            best = (aic, coefs, beta[0], cov)
    assert best is not None
    return best[1], best[2], best[3]


def _white(series: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A VAR of order 0 (independent frames) for a series too short to fit lags."""
    rows = series[np.isfinite(series).all(axis=1)]
    dim = series.shape[1]
    cov = np.cov(rows, rowvar=False).reshape(dim, dim) if len(rows) > 1 else np.eye(dim)
    return np.zeros((1, dim, dim)), rows.mean(axis=0) if len(rows) else np.zeros(dim), cov + 1e-9 * np.eye(dim)


def _block_diagonal(fits: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lags = max(c.shape[0] for c, _, _ in fits)
    dim = sum(i.shape[0] for _, i, _ in fits)
    coefs, intercept, cov = np.zeros((lags, dim, dim)), np.zeros(dim), np.zeros((dim, dim))
    start = 0
    for c, i, s in fits:
        d = i.shape[0]
        coefs[: c.shape[0], start : start + d, start : start + d] = c
        intercept[start : start + d] = i
        cov[start : start + d, start : start + d] = s
        start += d
    return coefs, intercept, cov


def _stabilise(coefs: np.ndarray, *, radius: float = 0.99) -> np.ndarray:
    """Scale lag ``i``'s matrix by ``s**i`` so the companion matrix's spectral radius is at most ``radius``."""
    lags, dim, _ = coefs.shape
    companion = np.zeros((lags * dim, lags * dim))
    companion[:dim] = np.concatenate(list(coefs), axis=1)
    companion[dim:, :-dim] = np.eye((lags - 1) * dim)
    rho = float(np.max(np.abs(np.linalg.eigvals(companion)))) if companion.size else 0.0
    if rho <= radius:
        return coefs
    s = radius / rho
    return np.stack([coefs[i] * s ** (i + 1) for i in range(lags)])


def _cholesky(cov: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((cov + cov.T) / 2)
    return vectors * np.sqrt(np.clip(values, 0.0, None))  # a square root of cov (PSD-safe)


def _ar1(phi: np.ndarray, sigma: np.ndarray, frames: int, rng: np.random.Generator) -> np.ndarray:
    """Independent AR(1) series per column with stationary standard deviation ``sigma``."""
    out = np.empty((frames, len(phi)))
    step = sigma * np.sqrt(1.0 - phi**2)
    value = rng.standard_normal(len(phi)) * sigma
    for t in range(frames):
        value = phi * value + step * rng.standard_normal(len(phi))
        out[t] = value
    return out


def _presence(stay_in: float, come_in: float, frames: int, rng: np.random.Generator) -> np.ndarray:
    """A two-state Markov chain of being in view, started from its stationary distribution."""
    leave = 1.0 - stay_in
    share = come_in / (come_in + leave) if come_in + leave > 0 else 1.0
    draws = rng.random(frames)
    seen = np.empty(frames, dtype=bool)
    state = bool(draws[0] < share)
    for t in range(frames):
        if t:
            state = bool(draws[t] < (stay_in if state else come_in))
        seen[t] = state
    return seen
