"""Voice anonymization benchmark: privacy (speaker-verification attackers) and utility, McAdams beside.

Run from the repository root::

    .venv/bin/python benchmarks/bench_voice.py              # full run (several minutes on 2 cores)
    .venv/bin/python benchmarks/bench_voice.py --quick      # a third of the utterances
    .venv/bin/python benchmarks/bench_voice.py --before     # also the earlier pseudo-speaker defaults
    .venv/bin/python benchmarks/bench_voice.py --quick --privacy-only \
        --pseudo "" --pseudo "timbre_terms=6"              # compare settings, EERs and VAD only
    .venv/bin/python benchmarks/bench_voice.py --quick --privacy-only --wer \
        --pseudo "" --pseudo "timbre_inner=0.5"            # ... and the sprocket WER
    .venv/bin/python benchmarks/bench_voice.py --protocol long   # trials of >= 8 s (issue 16), both
        # attackers (resemblyzer, CAM++), normalised WER; see benchmarks/voice_long.py

Data: ../shared/data/dev/sprocket_vcc2016 (4 speakers x 35 parallel sentences, 16 kHz) and
../shared/data/dev/fsdd (6 speakers; digits 0-9 x takes 0-1 by default, 8 kHz).

Privacy, resemblyzer embeddings and cosine scoring (avanon.evaluate.asv), EER over all utterance
pairs (an utterance is never scored against itself):

* original: both sides original speech;
* ignorant: enrol original, test anonymized with the study secret;
* lazy-informed: enrol anonymized with the attacker's own secret, test with the study secret;
* semi-informed: as lazy-informed, scored through an LDA back-end that the attacker trains on
  speech he anonymized with two more secrets, labelled with the true speakers: the speakers of the
  other corpus plus the other half of this corpus (never a test speaker);
* within: both sides anonymized with the study secret (speakers must stay distinguishable).

Utility: Pearson correlation of Praat F0 tracks (10 ms, 75-500 Hz, frames voiced in both) per
utterance, median over utterances; F1 of webrtcvad speech frames (30 ms, mode 2) of the anonymized
against the original; word error rate of the offline recognizer (Whisper tiny.en) against the true
digits for fsdd and against the recognizer's own transcript of the original for sprocket, on
``--wer-utts`` utterances taken in turn from each speaker.
Speed: seconds of audio converted per second on one core (x real time).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
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
from avanon.studykeys import derive_seed, study_secret  # noqa: E402

DIGITS = "zero one two three four five six seven eight nine".split()


def load(corpus: str, quick: bool) -> list[tuple[str, np.ndarray, int, str]]:
    """(speaker, samples, rate, reference) per utterance; reference is '' when unknown."""
    out = []
    if corpus == "sprocket":
        files = sorted((DEV / "sprocket_vcc2016/example/data/wav").glob("*/*.wav"))
        if quick:
            files = [f for f in files if int(f.stem) % 3 == 0]
        for f in files:
            x, sr = sf.read(f, dtype="float32")
            out.append((f.parent.name, x, sr, ""))
    else:
        for f in sorted((DEV / "fsdd/recordings").glob("*.wav")):
            digit, speaker, take = f.stem.split("_")
            if int(take) < (1 if quick else 2):
                x, sr = sf.read(f, dtype="float32")
                out.append((speaker, x, sr, DIGITS[int(digit)]))
    return out


_DONE: dict[tuple[int, int, int], tuple[list[np.ndarray], float]] = {}


def anonymize(method, utts, secret_seed: int) -> tuple[list[np.ndarray], float]:  # type: ignore[no-untyped-def]
    """Anonymize every utterance with the voice seed of one secret; returns outputs and CPU seconds.

    Remembered per (method, utterance list, secret): the attacker pools reuse the same outputs.
    """
    key = (id(method), id(utts), secret_seed)
    if key not in _DONE:
        seed = derive_seed(study_secret(Path("."), secret_seed), "voice")
        start = time.process_time()
        outs = [method.apply(x, sr, seed=seed, speaker=spk) for spk, x, sr, _ in utts]
        _DONE[key] = outs, time.process_time() - start
    return _DONE[key]


def f0_corr(x: np.ndarray, y: np.ndarray, sr: int) -> float:
    import parselmouth

    def track(s: np.ndarray) -> np.ndarray:
        return parselmouth.Sound(s.astype(np.float64), sr).to_pitch_ac(time_step=0.01, pitch_floor=75, pitch_ceiling=500).selected_array["frequency"]

    a, b = track(x), track(y)
    n = min(len(a), len(b))
    both = (a[:n] > 0) & (b[:n] > 0)
    return float(np.corrcoef(a[:n][both], b[:n][both])[0, 1]) if both.sum() > 5 else float("nan")


def vad_frames(x: np.ndarray, sr: int) -> np.ndarray:
    import webrtcvad
    from scipy.signal import resample_poly

    v = webrtcvad.Vad(2)
    s = resample_poly(x, 16000, sr) if sr != 16000 else x
    pcm = (np.clip(s, -1, 1) * 32767).astype("<i2")
    hop = 480
    return np.array([v.is_speech(pcm[i : i + hop].tobytes(), 16000) for i in range(0, len(pcm) - hop + 1, hop)], dtype=bool)


def vad_f1(xs: list[np.ndarray], ys: list[np.ndarray], rates: list[int]) -> float:
    tp = fp = fn = 0
    for x, y, sr in zip(xs, ys, rates):
        a, b = vad_frames(x, sr), vad_frames(y, sr)
        tp += int((a & b).sum())
        fp += int((~a & b).sum())
        fn += int((a & ~b).sum())
    return 2 * tp / max(2 * tp + fp + fn, 1)


def words(text: str) -> list[str]:
    text = text.lower()
    for d, w in enumerate(DIGITS):
        text = re.sub(rf"\b{d}\b", f" {w} ", text)
    return re.findall(r"[a-z']+", text)


def wer(refs: list[str], hyps: list[str]) -> float:
    errors = total = 0
    for ref, hyp in zip(refs, hyps):
        r, h = words(ref), words(hyp)
        d = np.arange(len(h) + 1)
        for i in range(1, len(r) + 1):
            prev, d[0] = d.copy(), i
            for j in range(1, len(h) + 1):
                d[j] = min(prev[j] + 1, d[j - 1] + 1, prev[j - 1] + (r[i - 1] != h[j - 1]))
        errors += int(d[len(h)])
        total += len(r)
    return errors / max(total, 1)


def wer_subset(speakers: list[str], n: int) -> list[int]:
    """Indices of ``n`` utterances taken in turn from each speaker (so every pseudo-voice is heard)."""
    by_speaker: dict[str, list[int]] = {}
    for i, s in enumerate(speakers):
        by_speaker.setdefault(s, []).append(i)
    queues = [list(v) for v in by_speaker.values()]
    out: list[int] = []
    while len(out) < min(n, len(speakers)):
        for q in queues:
            if q and len(out) < n:
                out.append(q.pop(0))
    return sorted(out)


def parse_params(text: str) -> dict[str, object]:
    """``k=v,k=lo:hi,k=true`` into PseudoSpeaker keyword arguments."""

    def value(v: str) -> object:
        if v.lower() in ("true", "false"):
            return v.lower() == "true"
        if ":" in v:
            return tuple(float(t) for t in v.split(":"))
        if v.lstrip("-").isdigit():
            return int(v)
        try:
            return float(v)
        except ValueError:
            return v  # a word, such as backend=hifigan

    return {k: value(v) for k, v in (p.split("=") for p in text.split(",") if p)}


# the defaults of pseudo-speaker before the third issue-3 follow-up (timbre curve 22 dB, warp
# 0.78-1.28, pseudo F0 at least 3 semitones from the speaker's own); earlier "before" settings:
# "unvoiced_warp=false,timbre_db=20,warp_range=0.82:1.22" (second follow-up) and
# "timbre_terms=8,keep_unvoiced=false,min_warp=0,min_f0_shift_st=0" (first)
BEFORE = "timbre_db=22,warp_range=0.78:1.28,min_f0_shift_st=3"


def transcripts(signals: list[np.ndarray], rates: list[int]) -> list[str]:
    from avanon.audio.transcribe import transcribe

    return [transcribe(x, sr).text for x, sr in zip(signals, rates)]


def speed(method, utts, reps: int = 1) -> float:  # type: ignore[no-untyped-def]
    """x real time on one core for ~30 s of concatenated speech."""
    sr = utts[0][2]
    x = np.concatenate([u[1] for u in utts if u[2] == sr])[: 30 * sr]
    t = time.process_time()
    for _ in range(reps):
        method.apply(x, sr, seed=1, speaker="s")
    return len(x) / sr * reps / (time.process_time() - t)


def redaction_speed(utts) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    """x real time of transcription + PII search + redaction on ~30 s of speech; and spans found."""
    from avanon.audio.redact import Redactor
    from avanon.pii import Roster

    sr = utts[0][2]
    x = np.concatenate([u[1] for u in utts if u[2] == sr])[: 30 * sr]
    redactor = Redactor()
    redactor.run(x[:sr], sr, roster=Roster(names=["Anna"]))  # load models outside the timing
    t = time.perf_counter()
    result = redactor.run(x, sr, roster=Roster(names=["Anna"]))
    return len(x) / sr / (time.perf_counter() - t), len(result.redactions)


def evaluate(corpus: str, utts, other_pool, methods, n_wer: int, privacy_only: bool = False, with_wer: bool = False) -> list[dict]:  # type: ignore[no-untyped-def]
    """One row per method; ``privacy_only`` skips the F0, WER and bootstrap figures (EERs and VAD only).

    ``with_wer`` adds the WER figure to a ``privacy_only`` run.
    """
    spk = [u[0] for u in utts]
    rates = [u[2] for u in utts]
    originals = [u[1] for u in utts]
    _, e_orig = asv.embed_all([(s, x, sr) for s, x, sr, _ in utts])
    pick = wer_subset(spk, n_wer)
    ref_text = [utts[i][3] for i in pick]
    score_wer = not privacy_only or with_wer
    orig_text = [] if not score_wer else transcripts([originals[i] for i in pick], [rates[i] for i in pick])
    if not any(ref_text):
        ref_text = orig_text
    rows = [{"corpus": corpus, "method": "original", "EER_orig": asv.pair_eer(e_orig, spk, e_orig, spk)}]
    if not privacy_only:
        rows[0].update(CI_orig=asv.bootstrap_eer(e_orig, spk, e_orig, spk), WER=wer(ref_text, orig_text))
    for name, method in methods.items():
        study, t_study = anonymize(method, utts, 1)
        attacker, _ = anonymize(method, utts, 2)
        pool3, _ = anonymize(method, utts, 3)
        pool4, _ = anonymize(method, utts, 4)
        emb = {k: asv.embed_all([(s, x, sr) for s, x, sr in zip(spk, v, rates)])[1] for k, v in (("A", study), ("B", attacker), ("C", pool3), ("D", pool4))}
        train = np.concatenate([emb["C"], emb["D"], other_pool[name][0]])
        train_spk = spk + spk + other_pool[name][1]
        row = {
            "corpus": corpus,
            "method": name,
            "ignorant": asv.pair_eer(e_orig, spk, emb["A"], spk),
            "lazy": asv.pair_eer(emb["B"], spk, emb["A"], spk),
            "semi": asv.semi_informed_eer(emb["B"], emb["A"], spk, train, train_spk, folds=2),
            "within": asv.pair_eer(emb["A"], spk, emb["A"], spk),
            "VAD_F1": vad_f1(originals, study, rates),
            "xRT_batch": sum(len(x) / sr for x, sr in zip(originals, rates)) / t_study,
        }
        if privacy_only and with_wer:
            row["WER"] = wer(ref_text, transcripts([study[i] for i in pick], [rates[i] for i in pick]))
        if not privacy_only:
            row.update(
                {
                    "CI_ignorant": asv.bootstrap_eer(e_orig, spk, emb["A"], spk, n_boot=100),
                    "CI_lazy": asv.bootstrap_eer(emb["B"], spk, emb["A"], spk, n_boot=100),
                    "CI_within": asv.bootstrap_eer(emb["A"], spk, emb["A"], spk, n_boot=100),
                    "F0_r": float(np.nanmedian([f0_corr(x, y, sr) for x, y, sr in zip(originals, study, rates)])),
                    "WER": wer(ref_text, transcripts([study[i] for i in pick], [rates[i] for i in pick])),
                }
            )
        rows.append(row)
    return rows


def pool_embeddings(utts, methods) -> dict:  # type: ignore[no-untyped-def]
    """Attacker training pool from another corpus: anonymized with secrets 3 and 4, true labels."""
    spk = [f"pool-{u[0]}" for u in utts]
    out = {}
    for name, method in methods.items():
        embs = []
        for secret in (3, 4):
            outs, _ = anonymize(method, utts, secret)
            embs.append(asv.embed_all([(s, x, u[2]) for s, x, u in zip(spk, outs, utts)])[1])
        out[name] = (np.concatenate(embs), spk + spk)
    return out


def fmt(v: object) -> str:
    if isinstance(v, tuple):
        return f"[{100 * v[0]:.1f}, {100 * v[1]:.1f}]"
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) <= 1.0 else f"{v:.1f}"
    return str(v)


def long_protocol(methods, per_speaker: int, groups: list[str], json_path: str | None) -> list[dict]:  # type: ignore[no-untyped-def]
    """The >= 8 s trials of benchmarks/voice_long.py: one row per (group, method)."""
    import json

    import voice_long as vl

    trials = {"fsdd": lambda: vl.fsdd_trials(DEV, per_speaker=min(per_speaker, 5)), "wide": lambda: vl.wide_trials(DEV, per_speaker=per_speaker)}
    rows = []
    for group in groups:
        utts = trials[group]()
        spk = [u[0] for u in utts]
        rates = [u[2] for u in utts]
        originals = [u[1] for u in utts]
        seconds = sum(len(x) / sr for x, sr in zip(originals, rates))
        shortest = min(len(x) / sr for x, sr in zip(originals, rates))
        print(f"# {group}: {len(utts)} trials of {len(set(spk))} speakers, {seconds:.0f} s, shortest {shortest:.1f} s", flush=True)
        enc = asv.ENCODERS
        e_orig = {e: asv.embed_all([(s, x, sr) for s, x, sr, _ in utts], encoder=e)[1] for e in enc}
        digits = group == "fsdd"
        orig_text = transcripts(originals, rates)
        refs = [u[3] for u in utts] if digits else orig_text
        base = {"group": group, "method": "original", "trials": len(utts), "speakers": len(set(spk))}
        for e in enc:
            base[f"EER_orig/{e}"] = asv.pair_eer(e_orig[e], spk, e_orig[e], spk)
        if digits:
            errs = [vl.trial_errors(r, h, digits=True) for r, h in zip(refs, orig_text)]
            base["WER"] = sum(a for a, _ in errs) / max(sum(n for _, n in errs), 1)
        base["F0_range_st"] = vl.summary([vl.f0_range(x, sr) for x, sr in zip(originals, rates)])["median"]
        rows.append(base)
        for name, method in methods.items():
            study, t_study = anonymize(method, utts, 1)
            attacker, _ = anonymize(method, utts, 2)
            row = {"group": group, "method": name, "trials": len(utts), "speakers": len(set(spk)), "xRT_batch": seconds / t_study}
            for e in enc:
                a = asv.embed_all([(s, x, sr) for s, x, sr in zip(spk, study, rates)], encoder=e)[1]
                b = asv.embed_all([(s, x, sr) for s, x, sr in zip(spk, attacker, rates)], encoder=e)[1]
                row[f"ignorant/{e}"] = asv.pair_eer(e_orig[e], spk, a, spk)
                row[f"lazy/{e}"] = asv.pair_eer(b, spk, a, spk)
                row[f"within/{e}"] = asv.pair_eer(a, spk, a, spk)
            for k in ("ignorant", "lazy"):
                row[k] = min(row[f"{k}/{e}"] for e in enc)
            row["within"] = max(row[f"within/{e}"] for e in enc)  # the utility side: the encoder that separates speakers worst
            row["F0_r"] = vl.summary([vl.f0_rho(x, y, sr) for x, y, sr in zip(originals, study, rates)])["median"]
            row["F0_range_st"] = vl.summary([vl.f0_range(y, sr) for y, sr in zip(study, rates)])["median"]
            row["VAD_F1"] = vad_f1(originals, study, rates)
            hyp = transcripts(study, rates)
            errs = [vl.trial_errors(r, h, digits=digits) for r, h in zip(refs, hyp)]
            row["WER"] = sum(a for a, _ in errs) / max(sum(n for _, n in errs), 1)
            per = vl.summary([a / n for a, n in errs if n])
            row["WER_median"], row["WER_IQR"] = per["median"], (per["q25"], per["q75"])
            rows.append(row)
            print(f"#   {name}: {json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()})}", flush=True)
    cols = ["group", "method", "ignorant", "lazy", "within", "F0_r", "F0_range_st", "VAD_F1", "WER", "WER_median", "WER_IQR", "xRT_batch"]
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(fmt(r.get(c, "")) for c in cols) + " |")
    ecols = ["group", "method"] + [f"{k}/{e}" for k in ("EER_orig", "ignorant", "lazy", "within") for e in asv.ENCODERS]
    print("\nper encoder:\n| " + " | ".join(ecols) + " |\n|" + "---|" * len(ecols))
    for r in rows:
        print("| " + " | ".join(fmt(r.get(c, "")) for c in ecols) + " |")
    if json_path:
        Path(json_path).write_text(json.dumps(rows, indent=1, default=list), encoding="utf-8")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a third of sprocket, half of fsdd")
    parser.add_argument("--wer-utts", type=int, default=32, help="utterances per corpus for the WER figure, taken in turn from each speaker")
    parser.add_argument(
        "--pseudo",
        action="append",
        default=None,
        help="PseudoSpeaker parameters for experiments, as k=v,k=lo:hi,k=true; repeat to compare settings (rows pseudo#1, pseudo#2, ...)",
    )
    parser.add_argument("--before", action="store_true", help=f"also run pseudo-speaker with the earlier defaults ({BEFORE})")
    parser.add_argument("--privacy-only", action="store_true", help="EERs and VAD only: no McAdams, F0, WER, bootstrap, speed or redaction")
    parser.add_argument("--wer", action="store_true", help="with --privacy-only: also the WER figure (sprocket only, the fsdd WER is not meaningful)")
    parser.add_argument(
        "--corpus",
        choices=("sprocket", "fsdd"),
        action="append",
        default=None,
        help="evaluate only this corpus (repeatable; the attacker pool still uses the other)",
    )
    parser.add_argument("--protocol", choices=("short", "long"), default="short", help="short: the corpora's own utterances; long: trials of >= 8 s (issue 16)")
    parser.add_argument("--per-speaker", type=int, default=8, help="--protocol long: at most this many trials per speaker")
    parser.add_argument("--group", choices=("fsdd", "wide"), action="append", default=None, help="--protocol long: only this group (repeatable)")
    parser.add_argument("--no-mcadams", action="store_true", help="--protocol long: leave McAdams out")
    parser.add_argument("--json", default=None, help="--protocol long: also write the rows to this JSON file")
    args = parser.parse_args(argv)
    settings = [parse_params(p) for p in (args.pseudo or [""])]
    if args.protocol == "long":
        methods = {} if args.no_mcadams else {"mcadams 0.8": registry.create("voice", "mcadams", alpha=0.8)}
        for k, params in enumerate(settings):
            methods["pseudo-speaker" if len(settings) == 1 else f"pseudo#{k + 1}"] = registry.create("voice", "pseudo-speaker", **params)
        print(f"# bench_voice --protocol long  {time.strftime('%Y-%m-%d %H:%M')}  cpus={os.cpu_count()}  settings={settings}", flush=True)
        long_protocol(methods, args.per_speaker, args.group or ["fsdd", "wide"], args.json)
        return 0
    methods = {} if args.privacy_only else {"mcadams": registry.create("voice", "mcadams")}
    for k, params in enumerate(settings):
        methods["pseudo-speaker" if len(settings) == 1 else f"pseudo#{k + 1}"] = registry.create("voice", "pseudo-speaker", **params)
    if args.before:
        methods["pseudo (before)"] = registry.create("voice", "pseudo-speaker", **parse_params(BEFORE))
    corpora = {c: load(c, args.quick) for c in ("sprocket", "fsdd")}
    print(f"# bench_voice  {time.strftime('%Y-%m-%d %H:%M')}  cpus={os.cpu_count()}  quick={args.quick}", flush=True)
    for name, params in zip(methods if args.privacy_only else list(methods)[1:], settings):
        print(f"#   {name}: {params}", flush=True)
    wanted = args.corpus or list(corpora)
    pools = {c: pool_embeddings(corpora["fsdd" if c == "sprocket" else "sprocket"], methods) for c in wanted}
    rows = []
    for corpus, utts in corpora.items():
        if args.corpus and corpus not in args.corpus:
            continue
        rows += evaluate(corpus, utts, pools[corpus], methods, args.wer_utts, args.privacy_only, args.wer and corpus == "sprocket")
    cols = ["corpus", "method", "EER_orig", "ignorant", "lazy", "semi", "within", "F0_r", "VAD_F1", "WER", "xRT_batch"]
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(fmt(r.get(c, "")) for c in cols) + " |")
    if args.privacy_only:
        return 0
    print("\nbootstrap 95% CIs (utterance resampling) [%]:")
    for r in rows:
        cis = {k: fmt(v) for k, v in r.items() if k.startswith("CI_")}
        print(f"  {r['corpus']:9s} {r['method']:15s} {cis}")
    print("\nspeed on one core, 30 s of sprocket speech (x real time):")
    for name, method in methods.items():
        print(f"  {name:15s} {speed(method, corpora['sprocket']):.1f}")
    factor, n_spans = redaction_speed(corpora["sprocket"])
    print(f"  {'redaction':15s} {factor:.1f}  (transcribe + find + redact, wall clock, 1 thread; {n_spans} span(s) found)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
