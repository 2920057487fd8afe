"""Releases: data dictionary, checksums, versions, and verification.

:func:`freeze_release` turns an output folder into a numbered release in place:

* ``datapackage.json`` (Frictionless Data Package): one resource per file with media type, bytes and
  SHA-256; media resources add duration, frame rate, sample rate, channels and codecs; annotation
  resources add their format, tiers, paired media and a table schema of their fields;
* ``DATA_DICTIONARY.md``: the same, for people;
* ``provenance.json``: the W3C PROV record of the run manifest, if there is a manifest;
* ``releases/vN.json``: the content hashes of version N; ``CHANGES.md`` lists, per version, the
  files added, removed and changed since the one before; ``RELEASE.json`` names the current version;
* ``SHA256SUMS``: every file of the release (``sha256sum -c`` format).

:func:`verify_release` re-hashes every file and checks that checksums, manifest, provenance and data
dictionary agree and that annotations lie within their media; it lists everything that does not match.
"""

from __future__ import annotations

import json
import mimetypes
import posixpath
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from avanon.annotations.alignment import check_within
from avanon.annotations.formats import detect_format, read_annotations
from avanon.annotations.pairing import pair_media
from avanon.errors import AvanonError, IntegrityError, ParameterError
from avanon.files import MEDIA_SUFFIXES, sha256_file, write_atomic
from avanon.provenance.prov import PROV_NAME, read_prov_outputs, write_prov

SUMS_NAME = "SHA256SUMS"
PACKAGE_NAME = "datapackage.json"
DICTIONARY_NAME = "DATA_DICTIONARY.md"
CHANGES_NAME = "CHANGES.md"
RELEASE_NAME = "RELEASE.json"
HISTORY_DIR = "releases"
MANIFEST_NAME = "avanon_manifest.json"
_RELEASE_FILES = {SUMS_NAME, CHANGES_NAME, RELEASE_NAME}
_GENERATED = {PACKAGE_NAME, DICTIONARY_NAME, PROV_NAME}


@dataclass
class Release:
    """A frozen release: its version number, and what changed since the previous one."""

    version: int
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: bool = False


@dataclass
class VerifyReport:
    """Everything :func:`verify_release` found wrong; ``ok`` when nothing."""

    root: Path
    version: int | None = None
    checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _files(root: Path) -> list[str]:
    """All regular files under ``root`` as sorted POSIX relative paths; temporary ``.part``/``.tmp`` excluded."""
    out = []
    for path in root.rglob("*"):
        if path.is_file() and not path.name.endswith((".part", ".tmp")):
            out.append(path.relative_to(root).as_posix())
    return sorted(out)


def _content(root: Path) -> list[str]:
    return [f for f in _files(root) if f not in _RELEASE_FILES and not f.startswith(HISTORY_DIR + "/")]


def _probe(path: Path) -> dict[str, Any]:
    from avanon.media.probe import probe

    info = probe(path)
    data: dict[str, Any] = {"duration": round(info.duration_s, 6)}
    if info.video is not None:
        rate = info.video.average_rate
        if rate:
            num, _, den = str(rate).partition("/")
            data["frameRate"] = round(float(num) / float(den or 1), 6)
        data.update({"width": info.video.width, "height": info.video.height, "videoCodec": info.video.codec})
    if info.audio is not None:
        data.update({"sampleRate": info.audio.sample_rate, "channels": info.audio.channels, "audioCodec": info.audio.codec})
    return data


def _resource_name(path: str, used: set[str]) -> str:
    base = re.sub(r"[^a-z0-9._-]+", "-", path.lower()).strip("-") or "file"
    name, n = base, 2
    while name in used:
        name, n = f"{base}-{n}", n + 1
    used.add(name)
    return name


def build_datapackage(root: Path, *, version: int, files: list[str]) -> dict[str, Any]:
    """The Frictionless descriptor of ``files`` under ``root``."""
    resources = []
    used: set[str] = set()
    media_files = [f for f in files if posixpath.splitext(f)[1].lower() in MEDIA_SUFFIXES]
    for rel in files:
        if rel in _GENERATED:
            continue
        path = root / rel
        suffix = posixpath.splitext(rel)[1].lower()
        res: dict[str, Any] = {
            "name": _resource_name(rel, used),
            "path": rel,
            "bytes": path.stat().st_size,
            "hash": "sha256:" + sha256_file(path),
            "mediatype": mimetypes.guess_type(rel)[0] or "application/octet-stream",
        }
        if suffix in MEDIA_SUFFIXES:
            res["type"] = "media"
            try:
                res.update(_probe(path))
            except AvanonError as exc:
                raise IntegrityError(f"{rel}: released media cannot be probed ({exc})") from exc
        elif (fmt := detect_format(path)) is not None:
            doc = read_annotations(path, format=fmt)
            pairing = pair_media(rel, doc, media_files)
            fields = [
                {"name": "tier", "type": "string"},
                {"name": "onset", "type": "number", "description": "seconds"},
                {"name": "offset", "type": "number", "description": "seconds"},
                {"name": "value", "type": "string"},
            ]
            extra = sorted({k for _, a in doc.annotations() for k in a.fields if not k.startswith("_")})
            fields += [{"name": k, "type": "string"} for k in extra]
            res.update(
                {
                    "type": "annotation",
                    "format": fmt,
                    "media": pairing.media,
                    "tiers": [{"name": t.name, "kind": t.kind, "annotations": len(t.annotations)} for t in doc.tiers],
                    "schema": {"fields": fields},
                }
            )
        resources.append(res)
    return {
        "name": re.sub(r"[^a-z0-9._-]+", "-", root.name.lower()).strip("-") or "avanon-release",
        "version": f"{version}.0.0",
        "created": _now(),
        "profile": "data-package",
        "description": "Anonymized with avanon; see DATA_DICTIONARY.md, provenance.json and CHANGES.md.",
        "resources": resources,
    }


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def data_dictionary(package: dict[str, Any]) -> str:
    """DATA_DICTIONARY.md from a datapackage descriptor."""
    lines = [
        f"# Data dictionary: {package['name']} (version {package['version']})",
        "",
        f"Created {package['created']}. {len(package['resources'])} files.",
        "",
        "## Media",
        "",
        "| file | duration [s] | frame rate [Hz] | sample rate [Hz] | channels | codecs |",
        "|---|---|---|---|---|---|",
    ]
    for r in package["resources"]:
        if r.get("type") == "media":
            codecs = ", ".join(c for c in (r.get("videoCodec"), r.get("audioCodec")) if c)
            lines.append(
                f"| {r['path']} | {r.get('duration', '')} | {r.get('frameRate', '')} | {r.get('sampleRate', '')} | {r.get('channels', '')} | {codecs} |"
            )
    lines += ["", "## Annotations", "", "Times are in seconds from the start of the media.", ""]
    for r in package["resources"]:
        if r.get("type") == "annotation":
            lines.append(f"### {r['path']}")
            lines.append(f"Format {r['format']}; media: {', '.join(r['media']) or 'none found'}.")
            lines.append("")
            lines.append("| tier | kind | annotations |")
            lines.append("|---|---|---|")
            lines += [f"| {t['name']} | {t['kind']} | {t['annotations']} |" for t in r["tiers"]]
            lines.append("")
            lines.append("Fields: " + ", ".join(f"`{f['name']}` ({f['type']})" for f in r["schema"]["fields"]))
            lines.append("")
    lines += ["## Other files", "", "| file | media type | bytes |", "|---|---|---|"]
    lines += [f"| {r['path']} | {r['mediatype']} | {r['bytes']} |" for r in package["resources"] if "type" not in r]
    return "\n".join(lines) + "\n"


def _history(root: Path) -> dict[int, dict[str, Any]]:
    out = {}
    folder = root / HISTORY_DIR
    if folder.is_dir():
        for path in folder.glob("v*.json"):
            if re.fullmatch(r"v\d+\.json", path.name):
                out[int(path.stem[1:])] = json.loads(path.read_text(encoding="utf-8"))
    return out


def freeze_release(root: Path, *, notes: str = "") -> Release:
    """Freeze ``root`` (an avanon output folder) as the next release version.

    Parameters
    ----------
    root : Path
    notes : str
        A line for CHANGES.md.

    Returns
    -------
    Release
        The new version and what changed; ``unchanged=True`` (and the current version) when the
        content is the same as the last release, which is then left as it is.
    """
    root = Path(root)
    if not root.is_dir():
        raise ParameterError(f"{root}: not a folder; give the output folder of 'avanon run'")
    history = _history(root)
    previous = max(history) if history else 0
    manifest_path = root / MANIFEST_NAME
    if manifest_path.is_file():
        write_prov(json.loads(manifest_path.read_text(encoding="utf-8")), root / PROV_NAME)
    content = [f for f in _content(root) if f not in (PACKAGE_NAME, DICTIONARY_NAME)]
    hashes = {f: sha256_file(root / f) for f in content if f != PROV_NAME}
    if previous:
        old = {k: v for k, v in history[previous]["files"].items() if k not in _GENERATED}
        if old == hashes:
            return Release(version=previous, unchanged=True)
    version = previous + 1
    package = build_datapackage(root, version=version, files=content)
    write_atomic(root / PACKAGE_NAME, (json.dumps(package, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))
    write_atomic(root / DICTIONARY_NAME, data_dictionary(package).encode("utf-8"))
    files = {f: sha256_file(root / f) for f in _content(root)}
    old_files = {k: v for k, v in history[previous]["files"].items()} if previous else {}
    release = Release(
        version=version,
        added=sorted(set(files) - set(old_files) - _GENERATED),
        removed=sorted(set(old_files) - set(files) - _GENERATED),
        changed=sorted(f for f in files if f in old_files and old_files[f] != files[f] and f not in _GENERATED),
    )
    created = package["created"]
    record = {"version": version, "created": created, "previous": previous or None, "notes": notes, "files": files}
    write_atomic(root / HISTORY_DIR / f"v{version}.json", (json.dumps(record, indent=1, sort_keys=True) + "\n").encode("utf-8"))
    section = [f"## v{version} ({created})", ""]
    if notes:
        section += [notes, ""]
    for label, items in (("Added", release.added), ("Removed", release.removed), ("Changed", release.changed)):
        section.append(f"{label}: {len(items)}")
        section += [f"- {item}" for item in items]
        section.append("")
    old_changes = (root / CHANGES_NAME).read_text(encoding="utf-8").split("\n", 2)[-1] if (root / CHANGES_NAME).is_file() else ""
    write_atomic(root / CHANGES_NAME, ("# Changes\n\n" + "\n".join(section) + "\n" + old_changes.lstrip("\n")).encode("utf-8"))
    write_atomic(root / RELEASE_NAME, (json.dumps({"version": version, "created": created, "files": len(files)}, indent=1) + "\n").encode("utf-8"))
    sums = "".join(f"{sha256_file(root / f)}  {f}\n" for f in _files(root) if f != SUMS_NAME)
    write_atomic(root / SUMS_NAME, sums.encode("utf-8"))
    return release


def verify_release(root: Path) -> VerifyReport:
    """Re-check a release: hashes, missing and extra files, manifest, provenance, data dictionary, alignment.

    Returns
    -------
    VerifyReport
        ``problems`` names every file that does not match and why; empty when the release is intact.
    """
    root = Path(root)
    report = VerifyReport(root=root)
    sums_path = root / SUMS_NAME
    if not sums_path.is_file():
        report.problems.append(f"{SUMS_NAME} is missing: {root} is not a frozen release (run 'avanon release')")
        return report
    listed: dict[str, str] = {}
    for number, line in enumerate(sums_path.read_text(encoding="utf-8").splitlines(), start=1):
        digest, sep, rel = line.partition("  ")
        if not sep or not re.fullmatch(r"[0-9a-f]{64}", digest):
            report.problems.append(f"{SUMS_NAME} line {number}: not '<sha256>  <path>'")
            continue
        listed[rel] = digest
    present = set(_files(root)) - {SUMS_NAME}
    actual: dict[str, str] = {}
    for rel in sorted(listed):
        if rel not in present:
            report.problems.append(f"{rel}: missing (listed in {SUMS_NAME})")
            continue
        actual[rel] = sha256_file(root / rel)
        if actual[rel] != listed[rel]:
            report.problems.append(f"{rel}: content changed (SHA-256 {actual[rel][:12]}..., {SUMS_NAME} says {listed[rel][:12]}...)")
    for rel in sorted(present - set(listed)):
        report.problems.append(f"{rel}: extra file, not in {SUMS_NAME}")
    report.checked = len(actual)

    if (root / RELEASE_NAME).is_file():
        report.version = json.loads((root / RELEASE_NAME).read_text(encoding="utf-8")).get("version")
        record = _history(root).get(report.version or 0)
        if record is None:
            report.problems.append(f"{RELEASE_NAME}: version {report.version} has no {HISTORY_DIR}/v{report.version}.json")
        else:
            for rel, digest in record["files"].items():
                if rel in actual and actual[rel] != digest:
                    report.problems.append(f"{rel}: differs from release v{report.version} record")

    manifest_path = root / MANIFEST_NAME
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        for entry in manifest.get("entries", []):
            out = entry.get("output")
            if entry.get("status") == "ok" and out:
                if out not in actual and out not in listed:
                    report.problems.append(f"{out}: in the manifest but not in the release")
                elif out in actual and entry.get("output_sha256") and entry["output_sha256"] != actual[out]:
                    report.problems.append(f"{out}: SHA-256 differs from the manifest")
    if (root / PROV_NAME).is_file():
        for out, digest in read_prov_outputs(root / PROV_NAME).items():
            if out not in listed:
                report.problems.append(f"{out}: in {PROV_NAME} but not in the release")
            elif digest and out in actual and digest != actual[out]:
                report.problems.append(f"{out}: SHA-256 differs from {PROV_NAME}")

    package_path = root / PACKAGE_NAME
    if not package_path.is_file():
        report.problems.append(f"{PACKAGE_NAME} is missing")
        return report
    package = json.loads(package_path.read_text(encoding="utf-8"))
    durations = {r["path"]: r["duration"] for r in package.get("resources", []) if r.get("type") == "media" and "duration" in r}
    described = set()
    for res in package.get("resources", []):
        rel = res.get("path", "")
        described.add(rel)
        if rel not in listed:
            report.problems.append(f"{rel}: described in {PACKAGE_NAME} but not in the release")
            continue
        if rel in actual and res.get("hash") != "sha256:" + actual[rel]:
            report.problems.append(f"{rel}: SHA-256 differs from {PACKAGE_NAME}")
        if res.get("type") == "annotation" and rel in actual:
            try:
                doc = read_annotations(root / rel, format=res.get("format"))
            except AvanonError as exc:
                report.problems.append(f"{rel}: annotation unreadable ({exc})")
                continue
            media = [m for m in res.get("media", []) if m in durations]
            if media:
                for problem in check_within(doc, sum(durations[m] for m in media)):
                    report.problems.append(f"{rel}: {problem}")
    content = set(_content(root)) - _GENERATED
    for rel in sorted(content - described):
        if rel in listed:
            report.problems.append(f"{rel}: not described in {PACKAGE_NAME}")
    return report
