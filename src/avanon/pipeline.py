"""Anonymize a whole study folder: plan the files, run them on local worker processes, keep the manifest.

``run_study(STUDY, OUT)`` mirrors the study tree into ``OUT`` with every media file anonymized and
every other file copied, writing ``OUT/avanon_manifest.json`` as results arrive. Guarantees:

- inputs are never modified (read only); ``OUT`` may not be inside the study (or contain it), and an
  existing non-empty ``OUT`` is refused unless it holds a manifest of the same run (same recipe and
  seed), which is then resumed: files already ``ok`` with an intact output are skipped;
- every output is written under a temporary name and renamed when complete;
- a file that fails is recorded as ``failed`` with the reason and leaves no output; the other files
  still run and the summary lists the failures.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from avanon import __version__
from avanon.errors import AccessError, ParameterError
from avanon.process import FileTask, process_file, temp_path
from avanon.provenance.manifest import MANIFEST_NAME, FORMAT_VERSION, Manifest, now, sha256_path, software_versions
from avanon.recipe import Recipe

# Progress events: ("start", rel, total_units, unit), ("advance", rel, n), ("done", rel, entry)
Event = tuple[Any, ...]


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
    """Every regular file under ``study``, as sorted POSIX relative paths (symbolic links included)."""
    rels = []
    for dirpath, dirnames, filenames in os.walk(study, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            rels.append((Path(dirpath) / name).relative_to(study).as_posix())
    return rels


def _recipe_hash(recipe: Recipe) -> str:
    return hashlib.sha256(json.dumps(recipe.dump(), sort_keys=True).encode()).hexdigest()


def check_roots(study: Path, out: Path) -> None:
    """Refuse unsafe input/output roots (see module docstring)."""
    if not study.is_dir():
        raise ParameterError(f"Study folder {study} does not exist or is not a folder.")
    s, o = study.resolve(), out.resolve()
    if o == s or s in o.parents:
        raise AccessError(f"Output root {out} is inside the study folder {study}; choose a new folder outside it.")
    if o in s.parents:
        raise AccessError(f"Output root {out} contains the study folder {study}; choose a new folder outside it.")


def open_manifest(study: Path, out: Path, recipe: Recipe, seed: int) -> Manifest:
    """A new manifest for an empty ``out``, or the existing one when resuming the same run."""
    header = {
        "avanon_manifest": FORMAT_VERSION,
        "tool": {"name": "avanon", "version": __version__},
        "recipe": recipe.dump(),
        "recipe_sha256": _recipe_hash(recipe),
        "seed": seed,
        "versions": software_versions(),
        "started": now(),
    }
    if out.exists() and not out.is_dir():
        raise ParameterError(f"Output root {out} exists and is not a folder.")
    existing = Manifest.load(out) if out.is_dir() else None
    if existing is not None:
        same = existing.header.get("recipe_sha256") == header["recipe_sha256"] and existing.header.get("seed") == seed
        if not same:
            raise AccessError(
                f"Output root {out} holds a different run (other recipe or seed); refusing to mix runs. "
                "Choose a new output folder."
            )
        existing.header["resumed"] = now()
        existing.header["versions"] = header["versions"]
        return existing
    if out.is_dir() and any(out.iterdir()):
        raise AccessError(f"Output root {out} exists and is not empty (and holds no avanon manifest); choose a new folder.")
    out.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(out, header)
    manifest.save()
    return manifest


def _work_units(task: FileTask) -> tuple[int, str]:
    """How progress is counted for a file: frames for video, samples for audio, 1 otherwise."""
    from avanon.media.probe import probe

    try:
        info = probe(task.src) if task.kind in ("video", "audio") else None
    except Exception:
        return 1, "file"
    if task.kind == "video" and info and info.video:
        return max(1, info.video.frames or int(info.duration_s * 25)), "frames"
    if task.kind == "audio" and info and info.audio:
        return max(1, int(info.duration_s * info.audio.sample_rate)), "samples"
    return 1, "file"


def _worker(task: FileTask, recipe: Recipe, seed: int, events: Any) -> dict[str, Any]:
    total, unit = _work_units(task)
    events.put(("start", task.rel, total, unit))
    entry = process_file(task, recipe, seed, progress=lambda n: events.put(("advance", task.rel, n)))
    return entry


class _Local:
    """Put events straight into a callback (single-process runs)."""

    def __init__(self, callback: Callable[[Event], None] | None):
        self.callback = callback

    def put(self, event: Event) -> None:
        if self.callback:
            self.callback(event)


def run_study(study: str | Path, out: str | Path, *, recipe: Recipe, seed: int | None = None, workers: int = 1,
              on_event: Callable[[Event], None] | None = None) -> RunSummary:
    """Anonymize ``study`` into ``out``; see the module docstring. Returns the run summary."""
    study, out = Path(study), Path(out)
    check_roots(study, out)
    if workers < 1:
        raise ParameterError(f"The 'workers' option must be an int >= 1. Got {workers} instead.")
    seed = recipe.seed if seed is None else seed
    manifest = open_manifest(study, out, recipe, seed)
    summary = RunSummary(out_root=out)
    todo: list[FileTask] = []
    for rel in plan(study):
        task = FileTask(study, out, rel)
        if task.src.is_symlink():
            manifest.record({"input": rel, "output": None, "kind": task.kind, "status": "failed", "seed": seed,
                             "reason": f"{task.src}: symbolic link not followed (copy the file into the study instead)."})
            summary.failed.append((rel, "symbolic link not followed"))
            continue
        try:
            done = manifest.completed(rel, sha256_path(task.src))
        except OSError:
            done = False  # unreadable: processing records the reason
        if done:
            summary.skipped += 1
            if on_event:
                on_event(("skip", rel))
            continue
        task.dst.unlink(missing_ok=True)  # an output of an older, different input must not survive
        temp_path(task.dst).unlink(missing_ok=True)
        todo.append(task)

    def finish(entry: dict[str, Any]) -> None:
        manifest.record(entry)
        summary.entries.append(entry)
        if entry["status"] == "ok":
            summary.ok += 1
        else:
            summary.failed.append((entry["input"], entry.get("reason", "")))
        if on_event:
            on_event(("done", entry["input"], entry))

    if workers == 1 or len(todo) <= 1:
        local = _Local(on_event)
        for task in todo:
            finish(_worker(task, recipe, seed, local))
    else:
        _run_pool(todo, recipe, seed, workers, on_event, finish)
    manifest.header["finished"] = now()
    manifest.save()
    return summary


def _run_pool(todo: list[FileTask], recipe: Recipe, seed: int, workers: int,
              on_event: Callable[[Event], None] | None, finish: Callable[[dict[str, Any]], None]) -> None:
    ctx = mp.get_context("spawn")  # no fork: model runtimes and threads do not survive fork safely
    with ctx.Manager() as manager:
        events = manager.Queue()
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            pending: dict[Future, FileTask] = {pool.submit(_worker, t, recipe, seed, events): t for t in todo}
            while pending:
                done, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                _drain(events, on_event)
                for fut in done:
                    task = pending.pop(fut)
                    try:
                        entry = fut.result()
                    except Exception as exc:  # a crashed worker fails its file, closed
                        entry = {"input": task.rel, "output": None, "kind": task.kind, "seed": seed, "status": "failed",
                                 "reason": f"{task.src}: worker crashed ({type(exc).__name__}: {exc})"}
                        temp_path(task.dst).unlink(missing_ok=True)
                    finish(entry)
            _drain(events, on_event)


def _drain(events: Any, on_event: Callable[[Event], None] | None) -> None:
    while True:
        try:
            event = events.get_nowait()
        except Exception:
            return
        if on_event:
            on_event(event)


__all__: Iterable[str] = ["run_study", "plan", "RunSummary", "MANIFEST_NAME"]
