"""Cross-release voice linkage of the pseudo-speaker (threat model section 7, issue 19).

Run from the repository root::

    .venv/bin/python benchmarks/bench_linkage.py --cli                  # `avanon run --seed 1/2` + link_releases
    .venv/bin/python benchmarks/bench_linkage.py --pseudo "" --pseudo "f0_smooth_ms=100"   # ablations, in process
    .venv/bin/python benchmarks/bench_linkage.py --digits 0-9 --takes 0-3 --wer 60 ...    # more trials, WER too

Data: ../shared/data/dev/fsdd (6 speakers; ``--digits`` x ``--takes``, 8 kHz), one folder
``sub-<speaker>/`` per speaker for ``--cli``.

Attacks (:func:`avanon.evaluate.linkage.nearest_link` through the ``linkage_voice_cross_secret``
metric, resemblyzer embeddings; an utterance is never linked to its own recording):

* original: original voices against original voices;
* within: pseudo-voices of one secret against the same release (intended: a speaker keeps a voice);
* cross a>b, b>a: pseudo-voices of secret 1 against those of secret 2, both directions.

Which pseudo-voices six speakers happen to draw moves the cross-secret figure by several points
from one pair of secrets to the next, so ``--pairs N`` pools secrets 1-2, 3-4, ... 2N-1 - 2N.

In process (default) each setting of ``--pseudo`` (``k=v,...`` PseudoSpeaker parameters) is
applied with the voice seeds of secrets 1 and 2 (as `avanon run --seed 1/2` derives them).
Utility: median Pearson correlation of the Praat F0 tracks of original and pseudo-voice (the
intonation a linguist reads), and with ``--wer N`` the Whisper word error rate on N utterances.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))
DEV = REPO.parent / "shared" / "data" / "dev"

from avanon import registry  # noqa: E402
from avanon.evaluate import asv  # noqa: E402
from avanon.evaluate.intervals import wilson_interval  # noqa: E402
from avanon.evaluate.linkage import Sessions, link_releases, nearest_link  # noqa: E402
from avanon.studykeys import derive_seed, study_secret  # noqa: E402
from bench_voice import DIGITS, f0_corr, load, parse_params, transcripts, wer, wer_subset  # noqa: E402

SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")


def span(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def files(digits: list[int], takes: list[int]) -> list[Path]:
    return [DEV / "fsdd/recordings" / f"{d}_{s}_{t}.wav" for s in SPEAKERS for d in digits for t in takes]


def pooled(pairs: list[tuple[Sessions, Sessions]]) -> dict:
    """Top-1 linkage pooled over several (probes, candidates) pairs, with the Wilson interval."""
    results = [nearest_link(a, b) for a, b in pairs]
    hits, trials = sum(r.successes for r in results), sum(r.trials for r in results)
    chance = float(np.average([r.chance for r in results], weights=[r.trials for r in results]))
    rates = [round(r.rate, 3) for r in results]
    return {"value": hits / trials, "n": trials, "detail": {"chance": chance, "ci95": list(wilson_interval(hits, trials)), "per_pair": rates}}


def in_process(paths: list[Path], setting: str, n_wer: int, n_pairs: int) -> dict:
    method = registry.create("voice", "pseudo-speaker", **parse_params(setting))
    utts = [("sub-" + p.stem.split("_")[1], *sf.read(p, dtype="float32")) for p in paths]
    labels, groups = [u[0] for u in utts], [p.name for p in paths]
    start = time.process_time()
    runs = {}
    for secret in range(1, 2 * n_pairs + 1):
        seed = derive_seed(study_secret(Path("."), secret), "voice")
        runs[secret] = [method.apply(x, sr, seed=seed, speaker=spk) for spk, x, sr in utts]
    cpu = time.process_time() - start
    emb = {k: Sessions(np.stack([asv.embed(y, sr) for y, (_, _, sr) in zip(v, utts)]), labels, groups) for k, v in runs.items()}
    orig = Sessions(np.stack([asv.embed(x, sr) for _, x, sr in utts]), labels, groups)
    corr = [f0_corr(x.astype(np.float64), y.astype(np.float64), sr) for (_, x, sr), y in zip(utts, runs[1])]
    odd = range(1, 2 * n_pairs, 2)
    out = {
        "setting": setting or "(defaults)",
        "original": pooled([(orig, orig)]),
        "within": pooled([(e, e) for e in emb.values()]),
        "cross_ab": pooled([(emb[k], emb[k + 1]) for k in odd]),
        "cross_ba": pooled([(emb[k + 1], emb[k]) for k in odd]),
        "f0_corr_median": float(np.nanmedian(corr)),
        "cpu_s": cpu,
    }
    if n_wer:
        idx = wer_subset(labels, n_wer)
        refs = [DIGITS[int(paths[i].stem.split("_")[0])] for i in idx]
        out["wer"] = wer(refs, transcripts([runs[1][i] for i in idx], [utts[i][2] for i in idx]))
        out["wer_n"] = len(idx)
    return out


_REFERENCES: dict[int, tuple[list, list[str]]] = {}


def sprocket_wer(setting: str, n: int) -> float:
    """Whisper WER of the pseudo-voices (secret 1) against the recognizer's transcript of the originals, on n sprocket utterances."""
    if n not in _REFERENCES:
        utts = load("sprocket", quick=False)
        utts = [utts[i] for i in wer_subset([u[0] for u in utts], n)]
        _REFERENCES[n] = utts, transcripts([u[1] for u in utts], [u[2] for u in utts])
    utts, refs = _REFERENCES[n]
    method = registry.create("voice", "pseudo-speaker", **parse_params(setting))
    seed = derive_seed(study_secret(Path("."), 1), "voice")
    return wer(refs, transcripts([method.apply(x, sr, seed=seed, speaker=spk) for spk, x, sr, _ in utts], [u[2] for u in utts]))


def cli(paths: list[Path], work: Path) -> dict:
    study = work / "study"
    for p in paths:
        dest = study / f"sub-{p.stem.split('_')[1]}" / p.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(p.read_bytes())
    exe = str(Path(sys.executable).with_name("avanon"))
    for seed, name in ((1, "a"), (2, "b")):
        subprocess.run([exe, "run", str(study), "-o", str(work / name), "--seed", str(seed), "--quiet", "--workers", "2"], check=True)
    a, b = work / "a", work / "b"
    return {
        "setting": "avanon run (default recipe)",
        "within": link_releases(a, a).to_json(),
        "cross_ab": link_releases(a, b).to_json(),
        "cross_ba": link_releases(b, a).to_json(),
    }


def summary(result: dict) -> str:
    def cell(key: str) -> str:
        s = result.get(key)
        if not s:
            return "-"
        ci = s["detail"].get("ci95") or [float("nan")] * 2
        return f"{s['value']:.3f} ({ci[0]:.2f}-{ci[1]:.2f})"

    chance = result["cross_ab"]["detail"]["chance"]
    extra = f" | {result['f0_corr_median']:.3f}" if "f0_corr_median" in result else " | -"
    extra += f" | {result['wer']:.3f}" if "wer" in result else " | -"
    return f"| {result['setting']} | {cell('cross_ab')} | {cell('cross_ba')} | {cell('within')} | {cell('original')} | {chance:.3f}{extra} |"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--digits", default="0-9", help="digit range, e.g. 0-9")
    ap.add_argument("--takes", default="0-1", help="take range, e.g. 0-1")
    ap.add_argument("--pseudo", action="append", help="PseudoSpeaker settings k=v,... (repeatable; '' = defaults)")
    ap.add_argument("--cli", action="store_true", help="run `avanon run --seed 1/2` and link_releases instead")
    ap.add_argument("--wer", type=int, default=0, help="utterances for the Whisper WER (0 = skip)")
    ap.add_argument("--sprocket-wer", type=int, default=0, help="sprocket utterances for a Whisper WER against the original's transcript")
    ap.add_argument("--pairs", type=int, default=1, help="secret pairs (1-2, 3-4, ...) pooled in process")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)
    paths = files(span(args.digits), span(args.takes))
    results = []
    if args.cli:
        with tempfile.TemporaryDirectory() as tmp:
            results.append(cli(paths, Path(tmp)))
    for setting in args.pseudo or ([] if args.cli else [""]):
        if args.sprocket_wer:
            results.append({"setting": setting or "(defaults)", "sprocket_wer": sprocket_wer(setting, args.sprocket_wer), "n": args.sprocket_wer})
            print(results[-1], flush=True)
            continue
        results.append(in_process(paths, setting, args.wer, args.pairs))
        print(summary(results[-1]), flush=True)
    print("| setting | cross a>b | cross b>a | within | original | chance | F0 corr | WER |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        if "cross_ab" in r:
            print(summary(r))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
