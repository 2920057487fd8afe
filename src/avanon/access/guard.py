"""The export guard: only verified, anonymized, QA-passed files leave the lab.

A file may be released or downloaded below the private tier only when

* it is listed in its run's manifest (``OUT/avanon_manifest.json``, entries with ``input``,
  ``output``, ``status``, ``input_sha256``, ``output_sha256``) with status ``ok``;
* its bytes on disk still hash to the manifest's ``output_sha256`` (provenance verifies);
* its SHA-256 differs from every original's (the manifest's ``input_sha256`` values and, when a
  vault is known, every stored original), so a copied-through original is caught;
* its QA, when recorded, passed: ``qa.passed`` is not false, ``qa.residual_faces`` is 0 and
  ``qa.identifying_metadata`` is false; and it declares no ``unmasked_segments``.

Anything else (a path outside the run, a file not in the manifest, a failed file) is refused with
a reason naming the file and the rule.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from avanon.errors import AccessError, IntegrityError, ParameterError
from avanon.files import sha256_file as _sha256

MANIFEST = "avanon_manifest.json"
READ_BLOCK = 1024 * 1024


class ExportRefused(AccessError):
    """The export guard refused a file; ``reason`` says which rule failed."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"Export of {path} refused: {reason}.")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class Cleared:
    """A file the guard cleared, with the manifest facts it was checked against."""

    path: str
    input: str
    input_sha256: str
    output_sha256: str
    size: int
    entry: dict[str, object]


_HASH_CACHE: dict[tuple[str, int, int], str] = {}


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, cached on (path, size, modification time)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    cached = _HASH_CACHE.get(key)
    if cached is None:
        cached = _sha256(path, READ_BLOCK)
        if len(_HASH_CACHE) > 10_000:
            _HASH_CACHE.clear()
        _HASH_CACHE[key] = cached
    return cached


def load_manifest(out_dir: Path) -> tuple[list[dict[str, object]], str]:
    """Read ``OUT/avanon_manifest.json``; returns its entries and the manifest's SHA-256."""
    path = Path(out_dir) / MANIFEST
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ParameterError(f"No manifest at {path}: only the output of `avanon run` can be released.") from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise IntegrityError(f"Manifest {path} is not valid JSON: {exc}.") from exc
    entries = data.get("entries") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise IntegrityError(f"Manifest {path} has no 'entries' list.")
    return entries, hashlib.sha256(raw).hexdigest()


class ExportGuard:
    """Decide whether files of one anonymization run may leave the lab.

    Parameters
    ----------
    out_dir : Path
        The run's output root (holding ``avanon_manifest.json``).
    originals : iterable of str, optional
        Extra SHA-256 values of originals (e.g. every file in the vault).
    """

    def __init__(self, out_dir: Path, *, originals: Iterable[str] = ()) -> None:
        self.root = Path(out_dir).resolve()
        self.entries, self.manifest_sha256 = load_manifest(self.root)
        self._by_output = {str(e.get("output", "")): e for e in self.entries}
        self.originals = {str(e["input_sha256"]) for e in self.entries if e.get("input_sha256")} | set(originals)

    def relative(self, path: Path | str) -> str:
        """The path relative to the run root; refuses paths outside it."""
        candidate = Path(path)
        resolved = (candidate if candidate.is_absolute() else self.root / candidate).resolve()
        try:
            return resolved.relative_to(self.root).as_posix()
        except ValueError:
            raise ExportRefused(str(path), "it lies outside the anonymized output") from None

    def check_entry(self, entry: dict[str, object]) -> None:
        """Check the manifest facts of one entry (not the bytes on disk)."""
        name = str(entry.get("output") or entry.get("input") or "?")
        status = entry.get("status")
        if status != "ok":
            reason = entry.get("reason")
            raise ExportRefused(name, f"its manifest status is {status!r}, not 'ok'" + (f" ({reason})" if reason else ""))
        for field in ("output", "input_sha256", "output_sha256"):
            if not entry.get(field):
                raise ExportRefused(name, f"its manifest entry has no {field!r}")
        if entry["output_sha256"] in self.originals:
            raise ExportRefused(name, "it is byte-identical to an original (raw material)")
        unmasked = entry.get("unmasked_segments")
        if unmasked:
            raise ExportRefused(name, f"it has {len(unmasked) if isinstance(unmasked, list) else 'some'} unmasked segments")
        qa = entry.get("qa")
        if isinstance(qa, dict):
            if qa.get("passed") is False:
                raise ExportRefused(name, "its QA did not pass")
            faces = qa.get("residual_faces")
            if isinstance(faces, (int, float)) and faces > 0:
                raise ExportRefused(name, f"QA found {faces} residual faces")
            if qa.get("identifying_metadata"):
                raise ExportRefused(name, "QA found identifying metadata")

    def check(self, path: Path | str) -> Cleared:
        """Clear one file for export, or raise :class:`ExportRefused`.

        Parameters
        ----------
        path : Path or str
            File under the run root (absolute, or relative to the root).
        """
        relpath = self.relative(path)
        entry = self._by_output.get(relpath)
        if entry is None:
            raise ExportRefused(relpath, "it is not an anonymized output listed in the manifest")
        self.check_entry(entry)
        target = self.root / relpath
        if not target.is_file() or target.is_symlink():
            raise ExportRefused(relpath, "the file is missing or is not a regular file")
        actual = sha256_file(target)
        if actual in self.originals:
            raise ExportRefused(relpath, "it is byte-identical to an original (raw material)")
        if actual != entry["output_sha256"]:
            raise ExportRefused(
                relpath, f"its SHA-256 {actual[:12]}... differs from the manifest's {str(entry['output_sha256'])[:12]}... (provenance does not verify)"
            )
        return Cleared(relpath, str(entry.get("input", "")), str(entry["input_sha256"]), actual, os.path.getsize(target), entry)

    def sweep(self) -> tuple[list[Cleared], list[ExportRefused]]:
        """Check every manifest entry; returns the cleared files and the refusals."""
        cleared, refused = [], []
        for entry in self.entries:
            name = str(entry.get("output") or entry.get("input") or "?")
            try:
                if entry.get("status") != "ok" or not entry.get("output"):
                    self.check_entry(entry)
                cleared.append(self.check(name))
            except ExportRefused as exc:
                refused.append(exc)
        return cleared, refused
