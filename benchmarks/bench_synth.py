"""Synthetic features on real data: ``avanon synth`` run on tables made from the dev recordings.

Sources (``../shared/data/dev``), each written into a temporary features folder and synthesised and
validated on its own with :func:`avanon.synth.pipeline.synthesize_features` (seed 0, defaults):

- turn-taking, ``vtc-daylong``: the VTC voice-type RTTM of a 16 h Tsimane day-long recording
  (childproject_annotations, ``example_metrics.rttm``; CHI/KCHI/FEM/MAL, VTC's ``SPEECH`` class
  left out: it is the union of the others, not a speaker);
- turn-taking, ``aclew-eaf``: the manual ACLEW ELAN annotation of 5 min (``eaf_basic/example.eaf``;
  the top-level speaker tiers, via :func:`avanon.evaluate.turns.speaker_segments`);
- turn-taking, ``aclew-eaf-windows``: the 15 periodic 2 min windows of ``eaf_solis/example_solis.eaf``
  (speaker tiers CHI/FA1/FA2/MA1/MC1 only), one recording per window, times from its start;
- turn-taking, ``falcon`` and ``vcm``: the 18.6 s Picovoice Falcon RTTM (3 speakers) and the 24 s
  ACLEW VCM RTTM (``SPEECH`` left out): too short, kept to show how the report says so;
- motion/gaze, one per dev video: ``avanon features`` of the arm-wrestling, basketball, Hamilton and
  street clips (written to ``--features-cache``, default ``bench_out/synth_features``, re-used when
  present; the extraction takes 17-63 s per clip on 2 cores).

Then the spread of the turn-taking statistics between adjacent halves of the real day-long recording
and the ACLEW file is measured (the noise floor the tolerances and :data:`MIN_TURNS` are judged
against). Results: ``benchmarks/results/synth.json`` and ``synth.md``.

    .venv/bin/python benchmarks/bench_synth.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEV = REPO.parent / "shared" / "data" / "dev"
sys.path.insert(0, str(REPO / "src"))

from avanon.synth import tables, validate  # noqa: E402
from avanon.synth.pipeline import SynthOptions, synthesize_features  # noqa: E402

CHILD = "childproject_annotations"
VTC = f"{CHILD}/examples/valid_raw_data/annotations/metrics/raw/example_metrics.rttm"
EAF_BASIC = f"{CHILD}/examples/valid_raw_data/annotations/eaf_basic/raw/example.eaf"
EAF_SOLIS = f"{CHILD}/examples/valid_raw_data/annotations/eaf_solis/raw/example_solis.eaf"
FALCON = "picovoice_falcon/test.derived.rttm"
VCM = f"{CHILD}/tests/data/vcm.rttm"
SOLIS_SPEAKERS = ("CHI", "FA1", "FA2", "MA1", "MC1")
NOT_SPEAKERS = ("SPEECH",)  # VTC/VCM: any speech, the union of the voice types
VIDEOS = {
    "arm wrestling": "mmaction2_videos/demo/demo.mp4",
    "basketball": "mmaction2_videos/demo/test_video_structuralize.mp4",
    "hamilton": "face_recognition_examples/examples/short_hamilton_clip.mp4",
    "street": "openpose_media/examples/media/video.avi",
}


def rttm_session(path: Path, name: str) -> tables.TurnSession:
    """The SPEAKER segments of an RTTM file without the ``SPEECH`` class."""
    session = tables.read_turns(path, root=path.parent)
    return tables.TurnSession(f"{name}.rttm", session.file_id, [s for s in session.segments if s[2] not in NOT_SPEAKERS])


def elan_session(path: Path, name: str) -> tables.TurnSession:
    from avanon.annotations.elan import read_elan
    from avanon.evaluate.turns import speaker_segments

    segments = [(float(a), float(b), s) for a, b, s in speaker_segments(read_elan(path))]
    return tables.TurnSession(f"{name}.rttm", name, segments)


def elan_windows(path: Path, name: str) -> list[tables.TurnSession]:
    """One recording per annotated window (``code_periodic`` tier) of an ACLEW ELAN file, speaker tiers only."""
    from avanon.annotations.elan import read_elan

    doc = read_elan(path)
    windows = next(t for t in doc.tiers if t.name == "code_periodic").annotations
    out = []
    for number, window in enumerate(windows):
        a, b = float(window.onset), float(window.offset)
        segments = [
            (max(float(x.onset), a) - a, min(float(x.offset), b) - a, tier.name)
            for tier in doc.tiers
            if tier.name in SOLIS_SPEAKERS
            for x in tier.annotations
            if x.onset is not None and x.offset is not None and x.offset > a and x.onset < b
        ]
        if segments:
            out.append(tables.TurnSession(f"{name}/window{number:02d}.rttm", f"{name}_window{number:02d}", sorted(segments)))
    return out


def video_features(cache: Path, name: str, video: str) -> Path:
    """``avanon features`` of one dev video (cached); returns its folder."""
    folder = cache / name.replace(" ", "_")
    if not any(folder.glob("*_features.parquet")):
        stem = name.replace(" ", "_")
        subprocess.run([str(REPO / ".venv" / "bin" / "avanon"), "features", str(DEV / video), "-o", str(folder), "--stem", stem], check=True)
    return folder


def turn_sources() -> dict[str, list[tables.TurnSession]]:
    return {
        "vtc-daylong (16 h, VTC)": [rttm_session(DEV / VTC, "vtc_daylong")],
        "aclew-eaf (5 min, manual)": [elan_session(DEV / EAF_BASIC, "aclew_eaf")],
        "aclew-eaf-windows (15 x 2 min, manual)": elan_windows(DEV / EAF_SOLIS, "aclew_solis"),
        "falcon (18.6 s)": [rttm_session(DEV / FALCON, "falcon")],
        "vcm (24 s)": [rttm_session(DEV / VCM, "vcm")],
    }


def run_source(features: Path, out: Path) -> dict[str, Any]:
    start = time.perf_counter()
    report = synthesize_features(features, out, options=SynthOptions(seed=0))
    data = report.to_json()
    return {"status": data["status"], "checks": data["checks"], "seconds": round(time.perf_counter() - start, 1), "sessions": data["provenance"]["sessions"]}


def split_half(session: tables.TurnSession, length: float) -> list[dict[str, float]]:
    """Differences of the turn statistics between adjacent real windows of ``length`` seconds."""

    def cut(a: float, b: float) -> tables.TurnSession:
        return tables.TurnSession(session.rel, session.file_id, [(max(x, a) - a, min(y, b) - a, k) for x, y, k in session.segments if y > a and x < b])

    rows = []
    for a in np.arange(0.0, session.duration - 2 * length + 1e-9, length):
        first, second = cut(a, a + length), cut(a + length, a + 2 * length)
        turns = min(len(first.segments), len(second.segments))
        if turns < 2:
            continue
        r, s = validate.turn_statistics([first]), validate.turn_statistics([second])
        rows.append(
            {
                "turns": turns,
                "turn_rate": abs(s["turns_per_minute"] - r["turns_per_minute"]) / r["turns_per_minute"],
                "turn_duration": abs(s["turn_duration"] - r["turn_duration"]) / r["turn_duration"],
                "overlap_share": abs(s["overlap_share"] - r["overlap_share"]),
                "silence_share": abs(s["silence_share"] - r["silence_share"]),
            }
        )
    return rows


def noise_floor(sessions: dict[str, tables.TurnSession]) -> list[dict[str, Any]]:
    """Median split-half differences by number of turns per half (pooled over window lengths)."""
    rows = []
    for name, session in sessions.items():
        pairs = [p for length in (15, 30, 60, 120, 300, 600, 1800) if 2 * length <= session.duration for p in split_half(session, length)]
        for lo, hi in ((2, 25), (25, 50), (50, 100), (100, 200), (200, 10**9)):
            chosen = [p for p in pairs if lo <= p["turns"] < hi]
            if len(chosen) >= 3:
                row = {"source": name, "turns_per_half": f"{lo}-{hi - 1}" if hi < 10**9 else f">={lo}", "pairs": len(chosen)}
                row |= {k: round(float(np.median([p[k] for p in chosen])), 3) for k in ("turn_rate", "turn_duration", "overlap_share", "silence_share")}
                rows.append(row)
    return rows


def seed_spread(turns: dict[str, list[tables.TurnSession]], seeds: int, *, minimum: bool = True) -> list[dict[str, Any]]:
    """Each turn-taking check over ``seeds`` seeds (as the pipeline draws them): passes, median and largest value.

    ``minimum=False`` measures below :data:`~avanon.synth.validate.MIN_TURNS` (every recording enters).
    """
    from avanon.synth.pipeline import session_rng
    from avanon.synth.turns import TurnSynthesizer

    rows = []
    for name, sessions in turns.items():
        if minimum and max(len(s.segments) for s in sessions) < validate.MIN_TURNS:
            continue
        values: dict[str, list[float]] = {}
        passes: dict[str, int] = {}
        signed = []
        saved = validate.MIN_TURNS
        validate.MIN_TURNS = saved if minimum else 0
        try:
            for seed in range(seeds):
                synthetic = [TurnSynthesizer().synthesize(s, session_rng(seed, s.rel)) for s in sessions]
                for check in validate.turn_checks(sessions, synthetic, validate.Tolerances()):
                    values.setdefault(check.name, []).append(check.value)
                    passes[check.name] = passes.get(check.name, 0) + bool(check.passed)
                    if check.name == "silence_share":
                        signed.append(check.detail["synthetic"] - check.detail["real"])
        finally:
            validate.MIN_TURNS = saved
        for check_name, v in values.items():
            rows.append(
                {
                    "source": name + ("" if minimum else ", below the minimum"),
                    "check": check_name,
                    "passed": passes[check_name],
                    "seeds": seeds,
                    "median": round(float(np.median(v)), 3),
                    "max": round(float(np.max(v)), 3),
                    "mean_signed": round(float(np.mean(signed)), 3) if check_name == "silence_share" else None,
                }
            )
    return rows


def motion_split_half(session: tables.MotionSession) -> list[dict[str, Any]]:
    """The motion checks between the first and second half of a real table, every person entering (no minimum).

    ``needed_s``: the half length at which the difference would reach the tolerance if it shrank
    as 1/sqrt(length), as sampling noise does: ``half_s * (value / tolerance) ** 2``.
    """
    n = len(session.times) // 2
    halves = [
        tables.MotionSession(session.rel, session.times[a:b], session.persons, session.columns, session.values[:, a:b], session.meta)
        for a, b in ((0, n), (n, 2 * n))
    ]
    saved = validate.MIN_MOTION_SECONDS
    validate.MIN_MOTION_SECONDS = 0.0  # measure what the minimum guards against
    try:
        checks = validate.motion_checks(halves[:1], halves[1:], validate.Tolerances())
    finally:
        validate.MIN_MOTION_SECONDS = saved
    half = n / session.rate
    limits = {"distribution": 0.15, "autocorrelation": 0.1, "correlation": 0.15, "synchrony": 0.15}
    return [
        {
            "check": c.name,
            "half_s": round(half, 2),
            "value": round(c.value, 3),
            "tolerance": limits[c.name],
            "needed_s": round(half * (c.value / limits[c.name]) ** 2, 1),
        }
        for c in checks
        if np.isfinite(c.value)
    ]


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def render(results: dict[str, Any]) -> str:
    lines = [
        "# Synthetic features on real data (`avanon synth`)",
        "",
        f"Command: `{results['command']}`; {results['date']}; {results['machine']}.",
        "Seed 0, default options (blocks of 2 s, half held out), default tolerances. Each source synthesised and validated on its own.",
        f"Minimums: {validate.MIN_TURNS} real speaker segments for a recording to enter the turn-taking checks;",
        f"{validate.MIN_MOTION_SECONDS:g} s in view for a person (in view together for a pair) to enter the motion checks;",
        f"{validate.min_blocks(0.05)} blocks of real data for the privacy checks.",
        "",
        "| kind | source | status | check | value | tolerance | result | real / synthetic / CI |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in results["sources"]:
        for check in row["checks"]:
            d = check["detail"]
            result = {True: "pass", False: "FAIL", None: "n/a"}[check["passed"]]
            if "too_short_to_validate" in d:
                result = d["note"]
            extra = ""
            if "real" in d and not isinstance(d["real"], list):
                extra = f"{_fmt(d['real'])} / {_fmt(d.get('synthetic'))}"
            if d.get("ci95") and all(v is not None for v in d["ci95"]):
                extra = f"95 % CI {d['ci95'][0]:.3f}-{d['ci95'][1]:.3f} over {d.get('trials', '?')} blocks"
            if "measured" in d:
                extra = f"measured {_fmt(d['measured'])} " + extra
            tolerance = check["tolerance"].replace("|", "&#124;")  # a table cell
            lines.append(f"| {row['kind']} | {row['source']} | {row['status']} | {check['name']} | {_fmt(check['value'])} | {tolerance} | {result} | {extra} |")
    lines += [
        "",
        "## Noise floor: adjacent halves of the same real recording",
        "",
        "Median difference between adjacent real windows (15 s to 30 min) by the number of turns in the smaller one:",
        "the tolerances (0.2 relative, 0.05 absolute) can only be judged where this is well below them.",
        "",
        "| source | turns per half | pairs | turn rate (rel.) | turn duration (rel.) | overlap share | silence share |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results["noise_floor"]:
        stats = " | ".join(f"{r[k]:.3f}" for k in ("turn_rate", "turn_duration", "overlap_share", "silence_share"))
        lines.append(f"| {r['source']} | {r['turns_per_half']} | {r['pairs']} | {stats} |")
    lines += [
        "",
        f"## Turn-taking over {results['seeds']} seeds",
        "",
        "| source | check | passed | median value | largest value | mean synthetic - real |",
        "|---|---|---|---|---|---|",
        *[
            f"| {r['source']} | {r['check']} | {r['passed']}/{r['seeds']} | {r['median']:.3f} | {r['max']:.3f} | {_fmt(r['mean_signed'])} |"
            for r in results["seed_spread"]
        ],
        "",
        "## Motion tables",
        "",
        *[f"- {name}: {info}" for name, info in results["motion_tables"].items()],
        "",
        "Split-half noise floor: the motion checks between the first and second half of each real table, every person entering",
        "(`needed_s`: half length at which the difference would fall to the tolerance if it shrank as 1/sqrt(length)):",
        "",
        "| video | check | half [s] | real vs real | tolerance | needed [s] |",
        "|---|---|---|---|---|---|",
        *[
            f"| {name} | {r['check']} | {r['half_s']} | {r['value']:.3f} | {r['tolerance']:g} | {r['needed_s']:g} |"
            for name, rows in results["motion_split_half"].items()
            for r in rows
        ],
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "synth.json")
    parser.add_argument("--features-cache", type=Path, default=REPO / "bench_out" / "synth_features")
    parser.add_argument("--no-video", action="store_true", help="Turn-taking sources only.")
    parser.add_argument("--seeds", type=int, default=10, help="Seeds of the turn-taking spread.")
    args = parser.parse_args(argv)
    sources = []
    motion_tables, motion_halves = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        turns = turn_sources()
        for name, sessions in turns.items():
            features = root / "features" / name.split()[0]
            for session in sessions:
                tables.write_turns(session, features)
            sources.append({"kind": "turn-taking", "source": name, **run_source(features, root / "out" / name.split()[0])})
        if not args.no_video:
            for name, video in VIDEOS.items():
                folder = video_features(args.features_cache, name, video)
                session = tables.read_motion(next(folder.glob("*_features.parquet")), root=folder)
                seen = session.present().sum(axis=1)
                motion_tables[name] = (
                    f"{video}: {len(session.times)} frames at {session.rate:.2f} Hz, {len(session.persons)} person tracks, "
                    f"longest {seen.max() / session.rate:.1f} s in view"
                )
                motion_halves[name] = motion_split_half(session)
                sources.append({"kind": "motion/gaze", "source": name, **run_source(folder, root / "out" / name.replace(" ", "_"))})
        spread = seed_spread(turns, args.seeds)
        windows = {k: v for k, v in turns.items() if k.startswith("aclew-eaf-windows")}
        spread += seed_spread(windows, 2 * args.seeds, minimum=False)
        floor = noise_floor({"vtc-daylong": turns["vtc-daylong (16 h, VTC)"][0], "aclew-eaf": turns["aclew-eaf (5 min, manual)"][0]})
    results = {
        "command": shlex.join(["python", "benchmarks/bench_synth.py", *(argv if argv is not None else sys.argv[1:])]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"shared dev machine, {os.cpu_count()} CPUs ({platform.machine()}), Python {platform.python_version()}",
        "sources": sources,
        "noise_floor": floor,
        "motion_tables": motion_tables,
        "motion_split_half": motion_halves,
        "seed_spread": spread,
        "seeds": args.seeds,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    args.out.with_suffix(".md").write_text(render(results), encoding="utf-8")
    print(render(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
