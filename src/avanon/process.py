"""Anonymize one file: the work a worker does for a single input.

:func:`process_file` writes the anonymized output to a temporary name beside the final one,
verifies it (frame count, size, sample count), renames it into place and returns the manifest entry.
Any failure removes the temporary file and returns a ``failed`` entry with the reason; nothing is
ever copied through unanonymized. Media kinds map to handler functions in ``HANDLERS``.
"""

from __future__ import annotations

import os
import shutil
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import av
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from avanon.audio.base import VoiceTransform, speaker_key
from avanon.audio.speech import PlannedVoice, RedactionPlan, SpeechPlan, plan_redactions, speech_models, write_redaction_files
from avanon.errors import AvanonError, MediaError
from avanon.media.audio import AudioTranscoder, audio_codec_for
from avanon.media.probe import MediaInfo, check_decoded, check_image, media_kind, probe
from avanon.media.video import Voice, open_input
from avanon.provenance.manifest import sha256_path
from avanon.recipe import Recipe
from avanon.video.faces import FaceMasker, mask_image, models_used
from avanon.video.transcode import VideoResult, transcode_video

AUDIO_FORMATS = {".wav": "wav", ".flac": "flac", ".mp3": "mp3", ".m4a": "ipod", ".ogg": "ogg", ".oga": "ogg", ".opus": "ogg"}

Progress = Callable[[int], None]
# (task, temporary output path, recipe, voice seed, progress) -> manifest details of the written output
Handler = Callable[["FileTask", Path, Recipe, int, "Progress | None"], dict[str, Any]]


@dataclass(frozen=True)
class FileTask:
    """One input file of a study and where its output goes."""

    study_root: Path
    out_root: Path
    rel: str  # POSIX path relative to the study root
    out_rel: str | None = None  # output path relative to the output root when names are pseudonymized
    speech: SpeechPlan = SpeechPlan()  # speaker turns and tier spans from paired annotations, roster names

    @property
    def output_rel(self) -> str:
        return self.out_rel or self.rel

    @property
    def src(self) -> Path:
        return self.study_root / self.rel

    @property
    def dst(self) -> Path:
        return self.out_root / self.output_rel

    @property
    def kind(self) -> str:
        return media_kind(self.rel) or "other"


def temp_path(dst: Path) -> Path:
    """The temporary name an output is written under before it is renamed into place."""
    return dst.with_name(f".{dst.stem}.avanon-partial{dst.suffix}")


def voice_for(recipe: Recipe) -> VoiceTransform | None:
    voice = recipe.audio.voice.build("voice") if recipe.audio.voice else None
    assert voice is None or isinstance(voice, VoiceTransform)
    return voice


def plan_voice(task: FileTask, recipe: Recipe) -> tuple[VoiceTransform | PlannedVoice | None, RedactionPlan | None]:
    """The voice source for one recording's audio, and its redaction plan (``None``: nothing redacted).

    Speaker turns from paired annotations give each speaker their own pseudo-voice (recipe
    ``audio.turns``); the recipe's ``audio.redact`` step transcribes the original audio and plans
    redactions; spans of a paired annotation tier named PII are redacted in any case (with the
    recipe's redaction settings, or the defaults).
    """
    from avanon.audio.redact import Redactor

    voice = voice_for(recipe)
    step = recipe.audio.redact
    redactor = step.build("redaction") if step else (Redactor() if task.speech.spans else None)
    plan = None
    if redactor is not None:
        assert isinstance(redactor, Redactor)
        plan = plan_redactions(task.src, redactor, transcribe=step is not None, roster=task.speech.names, spans=task.speech.spans)
    turns = task.speech.turns if recipe.audio.turns and voice is not None else ()
    channels = recipe.audio.channel_speakers and voice is not None
    if not turns and not channels and not (plan and plan.redactions):
        return voice, plan
    return PlannedVoice(voice, turns, plan.redactions if plan else (), redactor, channel_speakers=channels), plan


def recording_speaker(task: FileTask) -> str:
    """The speaker key of a recording: from the speaker mapping file, else ``sub-XX`` in its path, else its name."""
    return task.speech.speaker or speaker_key(task.rel)


def speech_details(task: FileTask, recipe: Recipe, plan: RedactionPlan | None) -> dict[str, Any]:
    """Manifest fields of the speech work: redaction records (spans and categories, never words) and transcripts."""
    details: dict[str, Any] = {}
    if plan is not None:
        details["redactions"] = plan.records()
        paths = write_redaction_files(task.dst, plan)
        if paths:
            details["derived"] = [{"path": p.relative_to(task.out_root).as_posix(), "sha256": sha256_path(p)} for p in paths]
        details["pii_recognizers"] = list(plan.recognizers)
    if task.speech.turns and recipe.audio.turns and recipe.audio.voice:
        details["speakers"] = len({s for _, _, s in task.speech.turns})
    details["models"] = speech_models(voice_for(recipe), plan)
    return details


def steps_for(recipe: Recipe, kind: str, has_audio: bool, speech: SpeechPlan | None = None) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    if kind in ("video", "image"):
        steps += [{"step": "detect", **s.dump()} for s in recipe.video.detectors]
        steps.append({"step": "track", **recipe.video.tracking.model_dump()} if kind == "video" else {"step": "expand", "expand": recipe.video.tracking.expand})
        steps += [{"step": "filter", **s.dump()} for s in recipe.video.filters]
        steps.append({"step": "obfuscate", **recipe.video.obfuscation.dump()})
    if kind == "video":
        steps.append({"step": "encode", **recipe.video.encoder.model_dump()})
    speech = speech or SpeechPlan()
    if (kind == "audio" or has_audio) and recipe.audio.voice:
        turns = bool(speech.turns and recipe.audio.turns)
        steps.append({"step": "voice", **recipe.audio.voice.dump(), "speaker_turns": turns, "channel_speakers": recipe.audio.channel_speakers})
    if (kind == "audio" or has_audio) and (recipe.audio.redact or speech.spans):
        settings = recipe.audio.redact.dump() if recipe.audio.redact else {"name": "redact"}
        steps.append({"step": "redact", **settings, "transcribe": recipe.audio.redact is not None, "annotation_spans": len(speech.spans)})
    if kind != "other":
        steps.append({"step": "strip-metadata"})
    return steps


def anonymize_video(task: FileTask, tmp: Path, recipe: Recipe, seed: int, progress: Progress | None) -> dict[str, Any]:
    """A video processed whole: the one-segment run of the video pipeline (:func:`avanon.video.transcode.transcode_video`)."""
    info = probe(task.src)
    voice, plan = plan_voice(task, recipe) if info.audio is not None else (None, None)
    result = transcode_video(
        task.src,
        tmp,
        masker_factory=lambda w, h, fps: FaceMasker(recipe.video, width=w, height=h, fps=fps),
        voice=voice,
        seed=seed,
        speaker=recording_speaker(task),
        encoder=recipe.video.encoder,
        progress=progress,  # type: ignore[arg-type]
    )
    check_decoded(info, video_end_s=result.end_s, audio_samples=result.audio_samples_in if info.audio is not None else None)
    return video_entry(task, recipe, info, tmp, result, speech=speech_details(task, recipe, plan))


def video_entry(task: FileTask, recipe: Recipe, info: MediaInfo, written: Path, result: VideoResult, *, speech: dict[str, Any]) -> dict[str, Any]:
    """The manifest details of an anonymized video (whole or stitched from segments): checks the
    written file keeps the input's size, writes the derived feature tables the recipe asks for.

    Parameters
    ----------
    info : MediaInfo
        The probed input.
    written : Path
        The anonymized video, under its temporary name.
    result : VideoResult
        Frames and audio samples written, timestamps repaired, what the masking did.
    speech : dict
        :func:`speech_details` of the file's audio (redactions, transcripts, models).
    """
    out = probe(written)
    assert out.video is not None and info.video is not None
    if (out.video.width, out.video.height) != (info.video.width, info.video.height):
        raise MediaError(f"{task.src}: output size {out.video.width}x{out.video.height} differs from the input's.")
    speech = dict(speech)
    derived = _features(task, recipe) if recipe.video.features else []
    derived += speech.pop("derived", [])
    models = [m.record() for m in models_used(recipe.video)] + speech.pop("models", [])
    return {
        **({"derived": derived} if derived else {}),
        **speech,
        "media": {
            "input": info.to_dict() | {"path": task.rel},
            "output": out.to_dict() | {"path": task.output_rel},
            "frames": result.frames,
            "audio_samples": result.audio_samples,
            "repaired_timestamps": result.repaired_timestamps,
        },
        "masking": result.masking,
        "steps": steps_for(recipe, "video", info.audio is not None, task.speech),
        "models": models,
    }


def _features(task: FileTask, recipe: Recipe) -> list[dict[str, str]]:
    """Derived per-frame features of the original video, written beside its output."""
    from avanon.video.features import write_features

    stem = Path(task.output_rel).stem
    paths = write_features(task.src, task.dst.parent, stem=stem)
    root = task.out_root
    return [{"path": p.relative_to(root).as_posix(), "sha256": sha256_path(p)} for p in paths]


def transcode_audio(src: Path, dst: Path, *, fmt: str, voice: Voice, progress: Progress | None = None) -> AudioTranscoder:
    """Voice-transform the first audio stream of ``src`` into an audio-only ``dst`` of format ``fmt``.

    The one audio pass: an audio file, and the audio track of a video split into segments (a video
    processed whole carries its audio through the same coder in its frame loop). ``progress`` is
    called with the samples of each decoded frame. Returns the finished coder (samples in and out).
    """
    with open_input(src) as inp, av.open(str(dst), "w", format=fmt) as out:
        if not inp.streams.audio:
            raise MediaError(f"{src}: no audio stream.")
        ain = inp.streams.audio[0]
        codec = audio_codec_for(fmt, ain.codec_context.name)
        coder = AudioTranscoder(out, ain, codec=codec, voice=voice.voice, seed=voice.seed, speaker=voice.speaker, path=src)
        try:
            for packet in inp.demux(ain):
                for frame in packet.decode():
                    out.mux(coder.push(frame))
                    if progress:
                        progress(frame.samples)
        except av.error.FFmpegError as exc:
            raise MediaError(f"{src}: decoding failed ({exc}); the file is corrupt or truncated.") from None
        out.mux(coder.flush())
    if coder.samples_in == 0:
        raise MediaError(f"{src}: the audio stream has no decodable samples.")
    return coder


def anonymize_audio(task: FileTask, tmp: Path, recipe: Recipe, seed: int, progress: Progress | None) -> dict[str, Any]:
    info = probe(task.src)
    voice, plan = plan_voice(task, recipe)
    coder = transcode_audio(task.src, tmp, fmt=AUDIO_FORMATS[task.src.suffix.lower()], voice=Voice(voice, seed, recording_speaker(task)), progress=progress)  # type: ignore[arg-type]
    check_decoded(info, audio_samples=coder.samples_in)
    return {
        **speech_details(task, recipe, plan),
        "media": {"input": info.to_dict() | {"path": task.rel}, "output": probe(tmp).to_dict() | {"path": task.output_rel}, "audio_samples": coder.samples_out},
        "steps": steps_for(recipe, "audio", True, task.speech),
    }


def anonymize_image(task: FileTask, tmp: Path, recipe: Recipe, seed: int, progress: Progress | None) -> dict[str, Any]:
    check_image(task.src)  # the pixel limit before any pixel is decoded
    try:
        with Image.open(task.src) as img:
            img.load()
            upright = ImageOps.exif_transpose(img)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise MediaError(f"{task.src}: not a readable image ({exc}).") from None
    alpha = upright.getchannel("A") if upright.mode in ("RGBA", "LA") else None
    rgb = np.array(upright.convert("RGB"))
    masked, stats = mask_image(recipe.video, rgb)
    out = Image.fromarray(masked)
    if alpha is not None:
        out.putalpha(alpha)
    fmt = "JPEG" if task.src.suffix.lower() in (".jpg", ".jpeg") else "PNG"
    options = {"quality": 95, "subsampling": 0} if fmt == "JPEG" else {}
    out.save(tmp, format=fmt, **options)  # a new image: no EXIF, XMP, ICC comments or text chunks are carried over
    if progress:
        progress(1)
    return {
        "media": {
            "input": {"path": task.rel, "width": upright.width, "height": upright.height},
            "output": {"path": task.output_rel, "width": out.width, "height": out.height},
        },
        "masking": stats.to_dict(),
        "steps": steps_for(recipe, "image", False),
        "models": [m.record() for m in models_used(recipe.video)],
    }


HANDLERS: dict[str, Handler] = {
    "video": anonymize_video,
    "audio": anonymize_audio,
    "image": anonymize_image,
}


@dataclass(frozen=True)
class Written:
    """How a file's output is made when it is not made by its kind's handler (a video stitched from segments).

    ``handler`` writes the output to the temporary name it is given and returns the manifest details;
    ``input_sha256`` is the input's hash when already known (a long recording is not read again).
    """

    handler: Handler
    input_sha256: str | None = None


def process_file(
    task: FileTask, recipe: Recipe, seed: int | None, progress: Progress | None = None, *, voice_seed: int | None = None, written: Written | None = None
) -> dict[str, Any]:
    """Anonymize one file; always returns a manifest entry (``ok`` or ``failed`` with the reason).

    Every file's entry is made here, whether its kind's handler (:data:`HANDLERS`) writes it or,
    for a video stitched from segments, ``written.handler`` does.

    ``seed`` is the run's public seed (recorded in the manifest; ``None`` when the run uses a random
    study secret). ``voice_seed`` is derived from the study secret and keys the pseudo-voices; it is
    private and never recorded (knowing it would let an attacker rebuild every speaker's voice).
    """
    started = time.perf_counter()
    entry: dict[str, Any] = {"input": task.rel, "output": task.output_rel, "kind": task.kind, "seed": seed}
    tmp = temp_path(task.dst)
    try:
        if not os.access(task.src, os.R_OK):
            raise MediaError(f"{task.src}: permission denied (the file is not readable by this user).")
        if task.kind != "other" and task.src.stat().st_size == 0:
            raise MediaError(f"{task.src}: zero-byte file.")
        entry["input_sha256"] = written.input_sha256 if written and written.input_sha256 else sha256_path(task.src)
        task.dst.parent.mkdir(parents=True, exist_ok=True)
        keyed = voice_seed if voice_seed is not None else (seed or 0)
        handler = written.handler if written else HANDLERS[task.kind]
        details = handler(task, tmp, recipe, keyed, progress)
        entry.update(details)
        entry["output_sha256"] = sha256_path(tmp)
        os.replace(tmp, task.dst)
        entry["status"] = "ok"
    except AvanonError as exc:
        entry.update(status="failed", reason=str(exc))
    except Exception as exc:  # an unexpected failure still fails only this file, closed
        entry.update(status="failed", reason=f"{task.src}: unexpected {type(exc).__name__}: {exc}", traceback=traceback.format_exc(limit=6))
    finally:
        tmp.unlink(missing_ok=True)
    if entry["status"] == "failed":
        entry.pop("output_sha256", None)
        entry["output"] = None
        for item in entry.pop("derived", []):  # files written beside an output that did not come to be
            (task.out_root / item["path"]).unlink(missing_ok=True)
    entry["seconds"] = round(time.perf_counter() - started, 3)
    return entry


def process_annotation(task: FileTask, media_entries: dict[str, dict[str, Any]], secret: bytes, roster: Sequence[str] | None = None) -> dict[str, Any]:
    """Carry one annotation file into the output: relinked, re-aligned, pseudonymized (or failed).

    ``media_entries`` are the manifest entries of the run's media files, which say what each input
    became (output path, input and output durations).
    """
    from avanon.annotations import MediaInfo, TextKeys, carry_annotations
    from avanon.pii import recognizers_used

    started = time.perf_counter()
    entry: dict[str, Any] = {"input": task.rel, "output": None, "kind": "annotation", "input_sha256": None}
    media = {}
    for rel, e in media_entries.items():
        if e.get("status") != "ok" or e.get("kind") not in ("video", "audio"):
            continue
        info = e.get("media", {})
        media[rel] = MediaInfo(
            output=e["output"],
            input_duration=float(info.get("input", {}).get("duration_s") or 0.0),
            output_duration=float(info.get("output", {}).get("duration_s") or 0.0),
            redactions=tuple((float(r["start_s"]), float(r["end_s"]), str(r["category"])) for r in e.get("redactions") or ()),  # marked in the annotations
        )
    try:
        entry["input_sha256"] = sha256_path(task.src)
        result = carry_annotations(
            task.src,
            study_root=task.study_root,
            out_root=task.out_root,
            media=media,
            keys=TextKeys(secret, list(roster) if roster else None),
            output=task.out_rel,
        )
        entry.update(
            format=result.format,
            media=list(result.media),
            counts=dict(result.counts),
            steps=[{"step": "annotations", "relink": True, "align": True, "pseudonymize": True, "pii_recognizers": recognizers_used()}],
        )
        if result.status == "ok" and result.output:
            entry.update(status="ok", output=result.output, output_sha256=sha256_path(task.out_root / result.output))
        else:
            problems = result.problems or ["could not be carried"]
            more = f"; and {len(problems) - 3} more problems" if len(problems) > 3 else ""
            named = [p if p.startswith((str(task.src), task.rel)) else f"{task.src}: {p}" for p in problems[:3]]  # the file named once
            entry.update(status="failed", reason="; ".join(named) + more)
    except AvanonError as exc:
        entry.update(status="failed", reason=str(exc))
    except Exception as exc:  # a broken annotation file fails alone, closed
        entry.update(status="failed", reason=f"{task.src}: unexpected {type(exc).__name__}: {exc}")
    entry["seconds"] = round(time.perf_counter() - started, 3)
    return entry


def process_other(task: FileTask, recipe: Recipe, secret: bytes, roster: Sequence[str] | None = None, seed: int | None = None) -> dict[str, Any]:
    """Carry one file that is neither media nor annotation (a participants table, notes): anonymized or failed.

    With the recipe's ``other_files: anonymize`` (the default) text, tables, JSON, YAML and
    spreadsheets are written with roster names, participant columns and personal data replaced
    (:func:`avanon.annotations.documents.anonymize_other`); a binary format that cannot be checked
    fails closed. ``other_files: copy`` copies the file unchanged.
    """
    from avanon.annotations.documents import anonymize_other
    from avanon.pii import recognizers_used

    started = time.perf_counter()
    entry: dict[str, Any] = {"input": task.rel, "output": task.output_rel, "kind": "other", "seed": seed}
    tmp = temp_path(task.dst)
    try:
        if not os.access(task.src, os.R_OK):
            raise MediaError(f"{task.src}: permission denied (the file is not readable by this user).")
        entry["input_sha256"] = sha256_path(task.src)
        task.dst.parent.mkdir(parents=True, exist_ok=True)
        if recipe.other_files == "copy":
            shutil.copyfile(task.src, tmp)
            entry["steps"] = [{"step": "copy"}]
        else:
            counts = anonymize_other(task.src, tmp, secret=secret, roster=list(roster) if roster else None)
            entry["steps"] = [{"step": "anonymize-text", "replaced": dict(sorted(counts.items())), "pii_recognizers": recognizers_used()}]
        entry["output_sha256"] = sha256_path(tmp)
        os.replace(tmp, task.dst)
        entry["status"] = "ok"
    except AvanonError as exc:
        entry.update(status="failed", reason=str(exc) + " (recipe 'other_files: copy' copies such files unchanged)")
    except Exception as exc:  # one bad file fails alone, closed
        entry.update(status="failed", reason=f"{task.src}: unexpected {type(exc).__name__}: {exc}")
    finally:
        tmp.unlink(missing_ok=True)
    if entry["status"] == "failed":
        entry["output"] = None
    entry["seconds"] = round(time.perf_counter() - started, 3)
    return entry
