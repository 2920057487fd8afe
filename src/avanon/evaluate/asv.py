"""Speaker-verification attacks on anonymized speech, scored as equal-error rates.

A pretrained speaker encoder embeds every utterance: resemblyzer's GE2E voice encoder (256-d,
shipped inside the ``resemblyzer`` wheel and pinned by sha256), or the stronger and independent
CAM++ (192-d, :mod:`avanon.evaluate.campplus`); an evaluation reports the worse of the two.
Trials compare an enrolment utterance with a test utterance by cosine similarity; the equal-error rate (EER) is where the false
acceptance and false rejection rates meet. Higher EER means speakers are harder to link.

The three VoicePrivacy attackers are built from plain functions over embeddings:

``ignorant``
    enrols on original speech, tests on anonymized speech.
``lazy-informed``
    knows the recipe but not the study secret: enrols on speech anonymized with another secret.
``semi-informed``
    as lazy-informed, and trains a scoring back-end (LDA) on anonymized speech of *other* speakers,
    labelled with their true identities (see :func:`semi_informed_eer`).

Utterances are given as lists of ``(speaker, waveform, sample_rate)``; embeddings as an
``(n, d)`` array with a parallel list of speaker labels. Confidence intervals come from a bootstrap
over utterances (:func:`bootstrap_eer`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from avanon.detect.models import ModelFile
from avanon.errors import ModelError, ParameterError

RESEMBLYZER = ModelFile(
    "resemblyzer-ge2e",
    "resemblyzer",
    "pretrained.pt",
    "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e",
    distribution="resemblyzer",
)

Utterance = tuple[str, np.ndarray, int]


@lru_cache(maxsize=1)
def _encoder():  # type: ignore[no-untyped-def]
    """The resemblyzer voice encoder on CPU, loaded once per process from the pinned weights."""
    path = RESEMBLYZER.path()
    try:
        import torch
        from resemblyzer import VoiceEncoder
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ModelError(f"The speaker encoder needs resemblyzer and torch: {exc}") from None
    torch.set_num_threads(1)
    return VoiceEncoder(device="cpu", verbose=False, weights_fpath=path)


ENCODERS = ("resemblyzer", "campplus")


def embed(waveform: np.ndarray, sample_rate: int, *, encoder: str = "resemblyzer") -> np.ndarray:
    """One L2-normalised speaker embedding of one utterance.

    ``encoder`` is ``"resemblyzer"`` (GE2E, 256-d) or ``"campplus"`` (CAM++, 192-d,
    :mod:`avanon.evaluate.campplus`).

    Parameters
    ----------
    waveform : ndarray, shape (n,) or (n, channels), float
        Channels are averaged.
    sample_rate : int > 0 [Hz]

    Returns
    -------
    ndarray, shape (256,), float32
    """
    if encoder == "campplus":
        from avanon.evaluate import campplus

        return campplus.embed(waveform, sample_rate)
    if encoder != "resemblyzer":
        raise ParameterError(f"The 'encoder' parameter of embed must be one of {', '.join(ENCODERS)}. Got {encoder!r} instead.")
    from resemblyzer import preprocess_wav

    x = np.asarray(waveform, dtype=np.float32)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if x.ndim != 1 or len(x) == 0:
        raise ParameterError(f"embed needs a non-empty 1-d or 2-d waveform; got shape {np.shape(waveform)}.")
    wav = preprocess_wav(x, source_sr=int(sample_rate))
    if len(wav) < 1600:  # voice activity trimming removed nearly everything: fall back to the raw signal
        import librosa

        wav = librosa.resample(x, orig_sr=int(sample_rate), target_sr=16000)
    e = _encoder().embed_utterance(wav.astype(np.float32))
    return (e / (np.linalg.norm(e) + 1e-12)).astype(np.float32)


def embed_all(utterances: Sequence[Utterance], *, encoder: str = "resemblyzer") -> tuple[list[str], np.ndarray]:
    """Embed a list of ``(speaker, waveform, sample_rate)``; returns labels and an ``(n, d)`` array."""
    speakers = [str(s) for s, _, _ in utterances]
    if not utterances:
        return speakers, np.zeros((0, 256 if encoder == "resemblyzer" else 192), dtype=np.float32)
    return speakers, np.stack([embed(w, sr, encoder=encoder) for _, w, sr in utterances])


def eer(scores: np.ndarray, labels: np.ndarray) -> float:
    """Equal-error rate of similarity scores (higher = same speaker), as a fraction in [0, 1].

    Parameters
    ----------
    scores : ndarray, shape (n_trials,)
    labels : ndarray of bool, shape (n_trials,)
        True for target (same-speaker) trials. Both classes must be present.
    """
    from sklearn.metrics import roc_curve

    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    n_tar, n_non = int(labels.sum()), int((~labels).sum())
    if n_tar == 0 or n_non == 0:
        raise ParameterError(f"EER needs target and non-target trials; got {n_tar} target and {n_non} non-target.")
    far, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    frr = 1.0 - tpr
    # the curves cross between operating points i - 1 and i: interpolate linearly there
    i = int(np.argmax(frr <= far))
    if i == 0:
        return float((far[0] + frr[0]) / 2)
    d0, d1 = far[i - 1] - frr[i - 1], far[i] - frr[i]
    t = d0 / (d0 - d1) if d0 != d1 else 0.5
    return float(far[i - 1] + t * (far[i] - far[i - 1]))


def trials(
    enrol: np.ndarray,
    enrol_speakers: Sequence[str],
    test: np.ndarray,
    test_speakers: Sequence[str],
    *,
    exclude_same_index: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Cosine scores and target labels of every (enrol, test) pair.

    ``exclude_same_index`` drops pairs ``(i, i)``: use it when enrol and test are the same utterances
    (or the same utterances processed two ways), so no utterance is compared with itself.
    """
    a = np.asarray(enrol, dtype=np.float64)
    b = np.asarray(test, dtype=np.float64)
    a = a / (np.linalg.norm(a, axis=1, keepdims=True) + 1e-12)
    b = b / (np.linalg.norm(b, axis=1, keepdims=True) + 1e-12)
    scores = a @ b.T
    labels = np.asarray(enrol_speakers)[:, None] == np.asarray(test_speakers)[None, :]
    mask = np.ones_like(labels, dtype=bool)
    if exclude_same_index:
        if len(a) != len(b):
            raise ParameterError(f"exclude_same_index needs enrol and test of equal length; got {len(a)} and {len(b)}.")
        np.fill_diagonal(mask, False)
    return scores[mask], labels[mask]


def pair_eer(enrol: np.ndarray, enrol_speakers: Sequence[str], test: np.ndarray, test_speakers: Sequence[str], *, exclude_same_index: bool = True) -> float:
    """EER over all (enrol, test) pairs; see :func:`trials`."""
    return eer(*trials(enrol, enrol_speakers, test, test_speakers, exclude_same_index=exclude_same_index))


def bootstrap_eer(
    enrol: np.ndarray,
    enrol_speakers: Sequence[str],
    test: np.ndarray,
    test_speakers: Sequence[str],
    *,
    exclude_same_index: bool = True,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """A percentile bootstrap confidence interval of :func:`pair_eer`, resampling utterances.

    The same utterance indices are drawn for enrol and test (they are parallel lists when
    ``exclude_same_index`` is true); pairs of a draw with itself are dropped.
    """
    rng = np.random.default_rng(seed)
    n = len(enrol)
    es, ts = np.asarray(enrol_speakers), np.asarray(test_speakers)
    values = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        tidx = idx if exclude_same_index else rng.integers(0, len(test), len(test))
        sc, lab = trials(enrol[idx], es[idx], test[tidx], ts[tidx], exclude_same_index=exclude_same_index)
        if exclude_same_index:  # drop pairs of duplicated draws of the same utterance
            same = (idx[:, None] == tidx[None, :])[~np.eye(n, dtype=bool)]
            sc, lab = sc[~same], lab[~same]
        if lab.all() or not lab.any():
            continue
        values.append(eer(sc, lab))
    if not values:
        raise ParameterError("bootstrap_eer: no resample had both target and non-target trials.")
    alpha = (1 - level) / 2
    return float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha))


@dataclass
class LDABackend:
    """Linear discriminant analysis back-end trained on labelled embeddings.

    Embeddings are centred, projected onto the discriminant directions (``dims`` at most, fewer when
    there are fewer classes) and length-normalised; scoring is cosine in that space.
    """

    dims: int = 150

    def fit(self, embeddings: np.ndarray, speakers: Sequence[str]) -> "LDABackend":
        from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

        n_classes = len(set(speakers))
        if n_classes < 2:
            raise ParameterError(f"LDA needs at least 2 training speakers; got {n_classes}.")
        n = min(self.dims, n_classes - 1, embeddings.shape[1])
        self.lda_ = LinearDiscriminantAnalysis(n_components=n, solver="eigen", shrinkage="auto")
        self.lda_.fit(np.asarray(embeddings, dtype=np.float64), list(speakers))
        return self

    def transform(self, embeddings: np.ndarray) -> np.ndarray:
        z = self.lda_.transform(np.asarray(embeddings, dtype=np.float64))
        return z / (np.linalg.norm(z, axis=1, keepdims=True) + 1e-12)


def semi_informed_eer(
    enrol: np.ndarray,
    test: np.ndarray,
    speakers: Sequence[str],
    train: np.ndarray,
    train_speakers: Sequence[str],
    *,
    folds: int = 2,
) -> float:
    """EER of the semi-informed attacker, with the back-end never trained on a test speaker.

    Parameters
    ----------
    enrol, test : ndarray, shape (n, d)
        Parallel embeddings of the same n utterances: enrolment anonymized with the attacker's own
        secret, test anonymized with the study secret.
    speakers : list of str, length n
    train, train_speakers
        The attacker's training pool: anonymized speech (any secrets) with true speaker labels. It
        may include the test speakers; for each fold those speakers are removed from the pool.
    folds : int >= 1
        The test speakers are split into this many groups; trials are scored within a group with a
        back-end trained on the pool minus that group, and the EER is computed over all trials.
    """
    spk = np.asarray(speakers)
    tsp = np.asarray(train_speakers)
    unique = sorted(set(spk.tolist()))
    groups = [unique[i::folds] for i in range(folds)]
    all_scores, all_labels = [], []
    for group in groups:
        sel = np.isin(spk, group)
        keep = ~np.isin(tsp, group)
        backend = LDABackend().fit(train[keep], tsp[keep].tolist())
        sc, lab = trials(backend.transform(enrol[sel]), spk[sel], backend.transform(test[sel]), spk[sel], exclude_same_index=True)
        all_scores.append(sc)
        all_labels.append(lab)
    return eer(np.concatenate(all_scores), np.concatenate(all_labels))
