"""Anonymize a whole study folder: plan the files, run them on an executor, keep the manifest.

``run_study(STUDY, OUT)`` mirrors the study tree into ``OUT`` with every media file anonymized and
every other file copied, writing ``OUT/avanon_manifest.json`` as results arrive. Guarantees:

- inputs are never modified (read only); ``OUT`` may not be inside the study (or contain it), and an
  existing non-empty ``OUT`` is refused unless it holds a manifest of the same run (same recipe and
  seed), which is then resumed: files already ``ok`` with an intact output are skipped;
- every output is written under a temporary name and renamed when complete;
- a file that fails is recorded as ``failed`` with the reason and leaves no output; the other files
  still run and the summary lists the failures. Files that must not be opened at all (FIFOs and
  devices, symbolic links, names that are not UTF-8 or too long, names avanon reserves for its own
  output files, photos declaring too many pixels) are refused while planning (:mod:`avanon.intake`),
  and a file that breaks planning (an annotation no reader can parse) fails alone too.

Work runs on local worker processes, a Dask ``LocalCluster`` or a running Dask cluster
(:mod:`avanon.execute`); long videos are split at keyframes and stitched back. The outputs are the
same bytes whichever executor and how many workers run them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from avanon import __version__
from avanon.annotations import is_annotation
from avanon.audio.speech import SpeechPlan, plans_for_study
from avanon.audio.turns import speaker_for
from avanon.errors import AccessError, AvanonError, ParameterError
from avanon.execute.coordinator import Coordinator
from avanon.execute.executors import check_options, make_executor
from avanon.execute.tasks import WORK_DIR
from avanon.intake import refusal, shown_name
from avanon.media.probe import media_kind, probe
from avanon.media.video import format_for, output_name
from avanon.process import FileTask, process_annotation, process_other, temp_path
from avanon.provenance.bids_layout import bids_layout
from avanon.provenance.manifest import FORMAT_VERSION, MANIFEST_NAME, Manifest, now, sha256_path, software_versions
from avanon.provenance.naming import NameMapper
from avanon.recipe import Recipe
from avanon.studykeys import derive_seed, study_secret

# Progress events: ("start", rel, total_units, unit), ("advance", rel, n), ("done", rel, entry), ("skip", rel),
# and ("executor", info), ("segments", rel, n), ("retry", rel, step, error), ("whole", rel, why)
Event = tuple[Any, ...]
DEFAULT_SEGMENT_SECONDS = 300.0


@dataclass
class RunSummary:
    """What a run did; ``failed`` lists ``(input, reason)``."""

    out_root: Path
    ok: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


def plan(study: Path) -> list[str]:
    """Every file under ``study`` that is not a folder, as sorted POSIX relative paths.

    Symbolic links, FIFOs and devices are listed too (nothing is opened here): :func:`screen`
    refuses them, each as its own failure.
    """
    rels = []
    for dirpath, dirnames, filenames in os.walk(study, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            rels.append((Path(dirpath) / name).relative_to(study).as_posix())
    return rels


def check_roots(study: Path, out: Path) -> None:
    """Refuse unsafe input/output roots (see module docstring)."""
    if not study.is_dir():
        raise ParameterError(f"Study folder {study} does not exist or is not a folder.")
    s, o = study.resolve(), out.resolve()
    if o == s or s in o.parents:
        raise AccessError(f"Output root {out} is inside the study folder {study}; choose a new folder outside it.")
    if o in s.parents:
        raise AccessError(f"Output root {out} contains the study folder {study}; choose a new folder outside it.")


def steward_dir(out: Path) -> Path:
    """The data steward's private folder for a run (the study secret): beside the output, never in it."""
    return out.parent / f"{out.name}.steward"


def secret_fingerprint(secret: bytes) -> str:
    """A public fingerprint of the study secret (to refuse resuming with another secret)."""
    return hashlib.sha256(b"avanon-secret-fingerprint\x00" + secret).hexdigest()[:16]


def open_manifest(study: Path, out: Path, recipe: Recipe, seed: int | None, *, segment_seconds: float = DEFAULT_SEGMENT_SECONDS) -> Manifest:
    """A new manifest for an empty ``out``, or the existing one when resuming the same run.

    Segmented videos differ in their bytes around segment joins, so the segment length is part of
    the run's identity: resuming with another value is refused like another recipe or seed.
    """
    header = {
        "avanon_manifest": FORMAT_VERSION,
        "tool": {"name": "avanon", "version": __version__},
        "recipe": recipe.dump(),
        "recipe_sha256": recipe.sha256(),
        "seed": seed,
        "segment_seconds": segment_seconds,
        "versions": software_versions(),
        "started": now(),
    }
    if out.exists() and not out.is_dir():
        raise ParameterError(f"Output root {out} exists and is not a folder.")
    existing = Manifest.load(out) if out.is_dir() else None
    if existing is not None:
        for stale in out.glob(f".{MANIFEST_NAME}.*"):  # a manifest write cut short by a kill: never a complete file
            stale.unlink(missing_ok=True)
    if existing is not None:
        same = existing.header.get("recipe_sha256") == header["recipe_sha256"] and existing.header.get("seed") == seed
        if not same:
            raise AccessError(f"Output root {out} holds a different run (other recipe or seed); refusing to mix runs. Choose a new output folder.")
        previous = existing.header.get("segment_seconds", DEFAULT_SEGMENT_SECONDS)
        if previous != segment_seconds:
            raise AccessError(
                f"Output root {out} was run with segment_seconds={previous}, not {segment_seconds}; resume with the same value or choose a new output folder."
            )
        existing.header["resumed"] = now()
        existing.header["versions"] = header["versions"]
        existing.header["segment_seconds"] = segment_seconds
        return existing
    if out.is_dir() and any(out.iterdir()):
        raise AccessError(f"Output root {out} exists and is not empty (and holds no avanon manifest); choose a new folder.")
    out.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(out, header)
    manifest.save()
    return manifest


@dataclass(frozen=True)
class Execution:
    """Where and how the tasks of a run execute.

    Attributes
    ----------
    workers : int >= 1
        Worker processes for ``executor="local"`` (1 runs in this process) and ``"dask-local"``.
    executor : {"local", "dask-local", "dask"}
        Where tasks run (:mod:`avanon.execute.executors`); outputs are byte-identical whichever is used.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``), for ``executor="dask"``.
    segment_seconds : float >= 0 [s]
        Videos at least two segments long are split at keyframes about this long and processed in
        parallel (:mod:`avanon.execute.segments`); 0 processes every file whole. Recorded in the
        manifest: a resumed run must use the same value.
    """

    workers: int = 1
    executor: str = "local"
    scheduler: str | None = None
    segment_seconds: float = DEFAULT_SEGMENT_SECONDS


@dataclass(frozen=True)
class People:
    """Who is in the study.

    Attributes
    ----------
    roster : sequence of str, optional
        Participant names: folder and file names holding one are given keyed pseudonyms (recipe
        ``naming``), spoken and written ones are redacted; the mapping is kept in the steward
        folder, never in the output.
    speakers : mapping of str to str, optional
        Speaker mapping (relative path or file name or stem -> speaker key, see
        :func:`avanon.audio.turns.read_speaker_map`): recordings of the same speaker get the same
        pseudo-voice; unmapped recordings are keyed by ``sub-XX`` in their path, else their name.
    """

    roster: Sequence[str] | None = None
    speakers: Mapping[str, str] | None = None


def run_study(
    study: str | Path,
    out: str | Path,
    *,
    recipe: Recipe,
    seed: int | None = None,
    on_event: Callable[[Event], None] | None = None,
    execution: Execution = Execution(),
    people: People = People(),
) -> RunSummary:
    """Anonymize ``study`` into ``out``; see the module docstring. Returns the run summary.

    Parameters
    ----------
    study, out : path
        The study folder (read only) and a new output folder.
    recipe : Recipe
    seed : int, optional
        Derives the study secret (reproducible); default the recipe's seed, else a random secret.
    on_event : callable, optional
        Progress events.
    execution : Execution
        Workers, executor, Dask scheduler and video segment length.
    people : People
        Roster names and the speaker mapping.
    """
    workers, executor, scheduler, segment_seconds = execution.workers, execution.executor, execution.scheduler, execution.segment_seconds
    roster, speakers = people.roster, people.speakers
    study, out = Path(study), Path(out)
    check_roots(study, out)
    if workers < 1:
        raise ParameterError(f"The 'workers' option must be an int >= 1. Got {workers} instead.")
    if segment_seconds < 0:
        raise ParameterError(f"The 'segment_seconds' option must be a float >= 0 [s]. Got {segment_seconds} instead.")
    check_options(executor, workers=workers, scheduler=scheduler)
    seed = recipe.seed if seed is None else seed
    manifest = open_manifest(study, out, recipe, seed, segment_seconds=segment_seconds)
    secret = study_secret(steward_dir(out), seed)  # random unless a seed is given; never inside the output
    fingerprint = secret_fingerprint(secret)
    if manifest.header.get("secret_fingerprint", fingerprint) != fingerprint:
        raise AccessError(f"Output root {out} was made with another study secret (see {steward_dir(out).name}); refusing to mix runs.")
    manifest.header["secret_fingerprint"] = fingerprint
    names = NameMapper(secret, roster, dates=recipe.naming.dates) if recipe.naming.pseudonymize else None
    rels = plan(study)  # walked once
    refused, annotation_rels = screen(study, rels)  # nothing opened that must not be
    accepted = [rel for rel in rels if rel not in refused]
    keys = {rel: names.map_path(rel) for rel in accepted} if names else {}  # identifying components pseudonymized
    keys.update({rel: _refused_key(names, rel) for rel in refused})
    layout = bids_layout(accepted, secret) if recipe.naming.bids else {}
    manifest.header["secret"] = (
        "derived from the seed" if seed is not None else f"random, kept by the data steward in {steward_dir(out).name}/ (not in the release)"
    )
    manifest.save()
    if executor == "local" and workers > 1:  # a lone file gets the whole machine in this process (threaded detectors), not one worker's share
        workers = useful_workers(study, accepted, segment_seconds=segment_seconds, at_most=workers)
    with make_executor(executor, workers=workers, scheduler=scheduler) as runner:
        manifest.header["execution"] = runner.describe()
        summary = RunSummary(out_root=out)
        if on_event:
            on_event(("executor", runner.describe() | {"dashboard": getattr(runner, "dashboard", None)}))

        def key(rel: str) -> str:
            """How an input path is written in the manifest: identifying components pseudonymized."""
            return keys.get(rel, rel)

        def finish(entry: dict[str, Any]) -> None:
            real = entry["input"]
            if entry.get("reason"):  # the manifest holds relative, pseudonymized paths only
                for root in {f"{study.resolve()}/", f"{study}/", f"{out.resolve()}/", f"{out}/"}:
                    entry["reason"] = entry["reason"].replace(root, "")
                entry["reason"] = entry["reason"].replace(real, key(real))
            entry.pop("traceback", None)
            if layout and entry.get("status") == "ok" and real in layout:
                entry["sidecar"] = write_media_sidecar(out, entry)
            entry["input"] = key(real)
            media = entry.get("media")
            if isinstance(media, dict) and isinstance(media.get("input"), dict):
                media["input"]["path"] = key(real)
            elif isinstance(media, list):  # an annotation's paired media, as input paths
                entry["media"] = [key(m) for m in media]
            manifest.record(entry)
            summary.entries.append(entry)
            if entry["status"] == "ok":
                summary.ok += 1
            else:
                summary.failed.append((shown_name(real), entry.get("reason", "")))
            if on_event:
                on_event(("done", real, entry))

        def taken(task: FileTask, written: Mapping[str, str]) -> bool:
            """Fail ``task`` if its output name is a file the run wrote for another input (a transcript, a sidecar)."""
            owner = written.get(task.output_rel)
            if owner is not None and owner != key(task.rel):
                finish(
                    {
                        "input": task.rel,
                        "output": None,
                        "kind": task.kind,
                        "status": "failed",
                        "seed": seed,
                        "reason": f"{task.rel}: its output name {task.output_rel} is taken by a file the run derived from {owner}; rename the file.",
                    }
                )
            return owner is not None and owner != key(task.rel)

        coordinator = Coordinator(
            runner, recipe=recipe, seed=seed, segment_seconds=segment_seconds, finish=finish, on_event=on_event, voice_seed=derive_seed(secret, "voice")
        )
        todo: list[FileTask] = []
        annotations: list[FileTask] = []
        others: list[FileTask] = []  # neither media nor annotations: anonymized here, where the study secret is
        recordings = [r for r in accepted if media_kind(r) in ("audio", "video")]
        speech = speech_plans(study, annotation_rels, recordings, refused, roster=roster, recording_key=lambda rel: speaker_for(rel, speakers))
        names_heard = tuple(n for n in (roster or ()) if n.strip())
        written = outputs_written(manifest)  # when resuming
        names_out = {layout.get(rel) or keys.get(rel) or rel for rel in accepted}  # output names before videos follow their containers
        for rel in rels:
            if rel in refused:
                finish({"input": rel, "output": None, "kind": media_kind(rel) or "other", "status": "failed", "seed": seed, "reason": f"{rel}: {refused[rel]}"})
                continue
            plan_ = speech.get(rel) or SpeechPlan(names=names_heard)
            if speakers:
                plan_ = dataclasses.replace(plan_, speaker=speaker_for(rel, speakers))
            out_rel = layout.get(rel) or keys.get(rel)
            if media_kind(rel) == "video":
                out_rel = container_name(study / rel, out_rel or rel, taken=names_out)
                names_out.add(out_rel)
            task = FileTask(study, out, rel, out_rel, speech=plan_)
            if taken(task, written):  # a file the run derived from another input (resumed run): not deleted, not overwritten
                continue
            if _completed(manifest, key(rel), task):
                summary.skipped += 1
                if on_event:
                    on_event(("skip", rel))
                continue
            task.dst.unlink(missing_ok=True)  # an output of an older, different input must not survive
            temp_path(task.dst).unlink(missing_ok=True)
            if rel in annotation_rels:
                annotations.append(task)
            elif task.kind == "other":
                others.append(task)
            else:
                todo.append(task)
        for task in sorted(todo, key=_size, reverse=True):  # largest first: the last tasks of the run are short ones
            coordinator.add(task)
        coordinator.run()
        # annotations last: they are re-linked and re-aligned to what their media became
        real_of = {key(rel): rel for rel in rels}
        media_entries = {real_of.get(k, k): e for k, e in manifest.entries.items() if e.get("kind") in ("video", "audio")}
        written = outputs_written(manifest)
        for task in annotations:
            if on_event:
                on_event(("start", task.rel, 1, "file"))
            if not taken(task, written):
                finish(process_annotation(task, media_entries, secret, roster=roster))
        for task in others:
            if on_event:
                on_event(("start", task.rel, 1, "file"))
            if not taken(task, written):
                finish(process_other(task, recipe, secret, roster=roster, seed=seed))
    if names is not None and names.mapping:
        names.save(steward_dir(out), release_root=out)  # the steward's key from output names back to input names
    shutil.rmtree(out / WORK_DIR, ignore_errors=True)  # every file has its entry: what is left there is stale
    manifest.header["finished"] = now()
    manifest.save()
    return summary


def screen(study: Path, rels: Sequence[str]) -> tuple[dict[str, str], set[str]]:
    """Refuse what must not be opened, and find the annotation files among the rest.

    Returns ``(refused, annotations)``: relative path -> reason (one sentence, see
    :func:`avanon.intake.refusal`), and the relative paths of annotation files. A file whose format
    cannot be sniffed is refused with the reason instead of stopping the run.
    """
    refused: dict[str, str] = {}
    annotations: set[str] = set()
    for rel in rels:
        why = refusal(study, rel)
        if why is None:
            try:
                if is_annotation(study / rel):
                    annotations.add(rel)
            except Exception as exc:  # noqa: BLE001 - one unreadable file fails alone
                why = f"cannot be read ({type(exc).__name__}: {exc})."
        if why is not None:
            refused[rel] = why
    return refused, annotations


def speech_plans(
    study: Path,
    annotation_rels: set[str],
    recordings: Sequence[str],
    refused: dict[str, str],
    *,
    roster: Sequence[str] | None,
    recording_key: Callable[[str], str],
) -> dict[str, SpeechPlan]:
    """:func:`~avanon.audio.speech.plans_for_study` over the annotations, isolating any that breaks it.

    An annotation file that raises an unexpected error while planning is added to ``refused`` with
    the reason and left out; the plans are made from the others.
    """
    rels = sorted(annotation_rels)
    try:
        return plans_for_study(study, rels, recordings, roster=roster, recording_key=recording_key)
    except Exception:  # noqa: BLE001 - find the file that breaks it; the rest still plan
        pass
    for rel in rels:
        try:
            plans_for_study(study, [rel], recordings, roster=roster, recording_key=recording_key)
        except Exception as exc:  # noqa: BLE001
            reason = str(exc) if isinstance(exc, AvanonError) else f"{type(exc).__name__}: {exc}"
            refused[rel] = f"cannot be read while planning ({reason.replace(str(study / rel) + ': ', '')})."
            annotation_rels.discard(rel)
    return plans_for_study(study, sorted(annotation_rels), recordings, roster=roster, recording_key=recording_key)


def outputs_written(manifest: Manifest) -> dict[str, str]:
    """Every file the ``ok`` entries wrote (outputs, derived files, BIDS sidecars) -> the input's manifest key.

    Derived files (transcripts, redaction lists, feature tables) and sidecars are written beside a
    media file's output under names made from its stem; a study file with such a name would
    overwrite them (or, when resuming, delete them), so the run refuses it instead.
    """
    written: dict[str, str] = {}
    for entry in manifest.entries.values():
        if entry.get("status") != "ok":
            continue
        paths = [d.get("path") for d in entry.get("derived", []) if isinstance(d, dict)] + [entry.get("sidecar"), entry.get("output")]
        written.update({path: str(entry["input"]) for path in paths if isinstance(path, str)})
    return written


def _refused_key(names: NameMapper | None, rel: str) -> str:
    """How a refused file is named in the manifest: printable, and pseudonymized like the others."""
    shown = shown_name(rel)
    if names is None:
        return shown
    try:
        return names.map_path(shown)
    except AvanonError:
        return shown


def useful_workers(study: Path, rels: Sequence[str], *, segment_seconds: float, at_most: int) -> int:
    """How many worker processes, up to ``at_most``, the media files among ``rels`` can keep busy (at least 1).

    Each audio file and photo is one task; a video is one task per planned segment (a video shorter
    than two segments is processed whole). More workers than that would leave processes idle and
    cut the threads of the one that works: a lone 720p video ran in 16.1 s with two workers and in
    9.0 s in one process whose detectors run on their own threads.
    """
    kinds = [media_kind(rel) for rel in rels]
    units = sum(kind in ("audio", "image") for kind in kinds)  # one task each, no need to open them
    for rel, kind in zip(rels, kinds):
        if units >= at_most:  # enough work for every worker: the remaining videos are not probed
            break
        if kind != "video":
            continue
        duration = 0.0
        if segment_seconds > 0:
            try:
                duration = probe(study / rel).duration_s or 0.0
            except AvanonError:
                pass  # fails later with its own message; counts as one task here
        units += max(1, int(duration // segment_seconds)) if segment_seconds > 0 else 1
    return max(1, min(units, at_most))


def container_name(src: Path, rel: str, *, taken: set[str]) -> str:
    """The output name of a video: ``rel`` with the extension of the container it is written in.

    That is the input's own container, read from the file, not the one its name says: an MP4
    named ``.avi`` comes out as ``.mp4`` (re-muxed as AVI, its first frame and audio would move).
    When that name is ``taken`` (another file's output), the old extension stays in the name
    (``clip.avi.mp4``). A file that cannot be opened keeps its name; processing it records why.
    """
    try:
        name = output_name(rel, format_for(src, rel))
    except Exception:  # noqa: BLE001 - any reason is reported when the file is processed
        return rel
    if name != rel and name in taken:
        name = rel + Path(name).suffix
    return name


def write_media_sidecar(out: Path, entry: dict[str, Any]) -> str:
    """The BIDS JSON sidecar of one anonymized media file; returns its path relative to ``out``."""
    from avanon.media.probe import probe
    from avanon.provenance.naming import media_sidecar, sidecar_path, write_sidecar

    rel = sidecar_path(entry["output"])
    anonymization = {"software": "avanon", "steps": entry.get("steps", [])}
    if entry.get("kind") == "image":
        data = {"Width": entry["media"]["output"]["width"], "Height": entry["media"]["output"]["height"], "Anonymization": anonymization}
    else:
        data = media_sidecar(probe(out / entry["output"]), anonymization=anonymization)
    write_sidecar(out / rel, data)
    return rel


def _size(task: FileTask) -> int:
    try:
        return task.src.stat().st_size
    except OSError:
        return 0


def _completed(manifest: Manifest, rel: str, task: FileTask) -> bool:
    """Whether ``rel`` is already done (hashing the input only when there is an ``ok`` entry to compare with)."""
    entry = manifest.entries.get(rel)
    if not entry or entry.get("status") != "ok":
        return False
    try:
        return manifest.completed(rel, sha256_path(task.src))
    except OSError:
        return False  # unreadable: processing records the reason


__all__: Iterable[str] = ["run_study", "plan", "RunSummary", "MANIFEST_NAME"]
