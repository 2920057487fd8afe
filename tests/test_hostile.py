"""A hostile-input corpus: more than 100 broken or malicious study files, each failing alone and clearly.

One study folder holds every case beside good files. One run must finish (no crash, no hang on a
FIFO or a device), give every case a ``failed`` entry whose reason names the file and the problem,
anonymize the good files, leave the inputs unchanged and leave no temporary file (issue 17).
"""

from __future__ import annotations

import json
import os
import stat
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from avanon import recipe
from avanon.intake import shown_name
from avanon.pipeline import run_study
from avanon.provenance.manifest import sha256_path
from synth import write_video, write_wav

FAST = recipe.parse("name: fast\nvideo:\n  detectors: [{name: blazeface, tiles: 1}]\n  encoder: {preset: ultrafast}\n")
NOT_REGULAR = "not a regular file"
Case = tuple[str, Callable[[Path], None], str]  # relative path, maker, a regular expression the reason must match


def _png(width: int, height: int) -> bytes:
    """A grey PNG declaring ``width`` x ``height`` pixels, all zero: a few hundred KB at most."""
    raw = zlib.compress(b"".join(b"\x00" + bytes(width) for _ in range(height)), 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def _special(kind: str) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        if kind == "fifo" or os.geteuid() != 0:  # devices need root; a FIFO is refused the same way
            os.mkfifo(path)
        else:
            os.mknod(path, 0o600 | (stat.S_IFCHR if kind == "chr" else stat.S_IFBLK), os.makedev(1, 5 if kind == "chr" else 0))

    return make


def _bytes(data: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data)


def _cut(source: Path, fraction: float) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(source.read_bytes()[: int(source.stat().st_size * fraction)])


def cases(media: Path) -> list[Case]:
    """The corpus; ``media`` holds the good synthetic files the broken ones are cut from."""
    wav, mkv, mp4, avi = media / "a.wav", media / "v.mkv", media / "v.mp4", media / "v.avi"
    jpeg = (media / "p.jpg").read_bytes()
    out: list[Case] = []
    exts = [".txt", ".eaf", ".csv", ".tsv", ".TextGrid", ".rttm", ".cha", ".json", ".wav", ".mp4", ".mkv", ".jpg", ".png", ".xlsx", ".yaml"]
    for ext in exts:  # 15 FIFOs, 15 character devices, 4 block devices
        out.append((f"special/fifo{ext}", _special("fifo"), NOT_REGULAR))
        out.append((f"special/chr{ext}", _special("chr"), NOT_REGULAR))
    for ext in [".txt", ".wav", ".eaf", ".csv"]:
        out.append((f"special/blk{ext}", _special("blk"), NOT_REGULAR))
    for ext in [".wav", ".txt", ".csv", ".eaf", ".jpg", ".mp4"]:  # names: not UTF-8, too long, reserved
        out.append((f"names/\udcff\udcfebad{ext}", _bytes(wav.read_bytes()), "not valid UTF-8"))
        out.append((f"names/{'a' * 246}{ext}", _bytes(wav.read_bytes()), "bytes long; at most 200"))
        out.append((f"names/x.avanon-partial{ext}", _bytes(wav.read_bytes()), "reserved for avanon's temporary outputs"))
    for name in ("line\nbreak.wav", "esc\x1b[2Jape.txt", "tab\there.csv", "bell\x07.eaf"):
        out.append((f"names/{name}", _bytes(wav.read_bytes()), "holds control characters"))
    out.append(("names/[/x].wav", _bytes(b"not audio" * 10), "not a readable|cannot be opened"))  # rich markup in a name
    out.append(("avanon_manifest.json", _bytes(b"{}"), "reserved at the top of the study"))
    out.append((".avanon_manifest.json.x1", _bytes(b"{}"), "reserved at the top of the study"))
    out.append((".avanon-work/sub/a.wav", _bytes(wav.read_bytes()), "reserved for avanon's work files"))
    out.append((".avanon-work/notes.txt", _bytes(b"hello"), "reserved for avanon's work files"))
    out.append(("links/to-wav.wav", lambda p: os.symlink(wav, p), "symbolic link not followed"))
    out.append(("links/to-null.txt", lambda p: os.symlink("/dev/null", p), "symbolic link not followed"))
    for fraction in (0.1, 0.3, 0.5, 0.7, 0.8):  # cut media
        out.append((f"cut/wav{int(fraction * 100)}.wav", _cut(wav, fraction), "truncated"))
        out.append((f"cut/mkv{int(fraction * 100)}.mkv", _cut(mkv, fraction), "truncated|not a readable|corrupt|no video|frame size"))
        out.append((f"cut/mp4{int(fraction * 100)}.mp4", _cut(mp4, fraction), "truncated|not a readable|cannot be opened"))
    out.append(("cut/avi50.avi", _cut(avi, 0.5), "truncated"))
    for ext in [".mp4", ".mkv", ".mov", ".avi", ".webm", ".wav", ".mp3", ".flac", ".m4a", ".ogg"]:  # wrong content
        out.append((f"wrong/jpeg{ext}", _bytes(jpeg), "still image|not a readable|cannot be opened|no video|no audio"))
        out.append((f"wrong/empty{ext}", _bytes(b""), "zero-byte"))
        out.append((f"wrong/text{ext}", _bytes(b"just some text, not media\n" * 20), "not a readable|cannot be opened|corrupt"))
    out.append(("wrong/wav-as-video.mp4", _bytes(wav.read_bytes()), "no video stream"))
    out.append(("wrong/video-as-audio.wav", _bytes(mp4.read_bytes()), "video stream|not a readable|cannot be opened"))
    for side in (8000, 12000):  # decompression bombs
        out.append((f"bombs/png{side}.png", _bytes(_png(side, side)), "more than the limit"))
    out.append(("bombs/wide.png", _bytes(_png(70000, 600)), "more than the limit"))
    out.append(("bombs/garbage.jpg", _bytes(b"\xff\xd8\xff garbage"), "not a readable image"))
    entity = '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e "x"><!ENTITY f "&e;&e;&e;">]><ANNOTATION_DOCUMENT>&f;</ANNOTATION_DOCUMENT>'
    annotations = {  # broken annotation files
        "ann/entities.eaf": (entity, "unsafe XML|DTD|entit"),
        "ann/broken.eaf": ("<ANNOTATION_DOCUMENT><TIER>", "broken XML"),
        "ann/deep.eaf": ("<a>" * 100 + "</a>" * 100, "nesting deeper"),
        "ann/notelan.eaf": ("<html></html>", ""),
        "ann/broken.TextGrid": ('File type = "ooTextFile"\nObject class = "TextGrid"\nxmin = x\n', ""),
        "ann/empty.TextGrid": ("", ""),
        "ann/fields.rttm": ("SPEAKER f 1 1.0\n", "RTTM fields"),
        "ann/time.rttm": ("SPEAKER f 1 abc 0.5 <NA> <NA> spk <NA> <NA>\n", "not a number"),
        "ann/bigcell.csv": ("onset,offset,label\n0.01,0.1," + "x" * 1_100_000 + "\n", "a cell longer than"),
        "ann/badtime.csv": ("onset,offset,label\n0.01,inf,a\n", "not finite"),
        "ann/short.csv": ("onset,offset,label\n0.01,0.1,hi\n0.1,0.2,\ryo\n", "cells, the header has"),
        "ann/status.tsv": ("Time\tSubject\tBehavior\tStatus\n0.1\ts\tb\tSTART\r\n0.2\ts\tb\r\tSTOP\n", "Status|cells|START"),
        "ann/bigcell.tsv": ("Time\tSubject\tBehavior\tStatus\n0.1\ts\t" + "b" * 1_100_000 + "\tPOINT\n", "a cell longer than"),
        "ann/latin1.csv": (None, "not valid UTF-8"),
        "ann/broken.cha": ("@Begin\n*CHI:\thello\n", ""),
    }
    for rel, (text, pattern) in annotations.items():
        data = "onset,offset,label\n0.1,0.2,caf\xe9\n".encode("latin-1") if text is None else text.encode("utf-8")
        out.append((rel, _bytes(data), pattern))
    for rel, data in {
        "other/doc.pdf": b"%PDF-1.4 binary",
        "other/archive.zip": b"PK\x03\x04 rest",
        "other/binary.dat": bytes(range(256)) * 8,
        "other/broken.json": b"{not json",
        "other/broken.xlsx": b"PK\x03\x04 not a workbook",
    }.items():
        out.append((rel, _bytes(data), "cannot check|binary|broken JSON|not a readable .xlsx"))
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Case]]:
    base = tmp_path_factory.mktemp("hostile")
    media = base / "media"
    write_wav(media / "a.wav", seconds=0.6)
    for ext in ("mkv", "mp4", "avi"):
        write_video(media / f"v.{ext}", frames=26, fps=25)
    from PIL import Image

    Image.new("RGB", (32, 24), "red").save(media / "p.jpg")
    study = base / "study"
    listed = cases(media)
    for rel, make, _ in listed:
        path = study / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        make(path)
    write_wav(study / "good" / "sub-01_read.wav", seconds=0.4)
    (study / "good" / "notes.txt").write_text("coder notes\n")
    (study / "good" / "p.jpg").write_bytes((media / "p.jpg").read_bytes())
    return study, listed


def _state(root: Path) -> dict[str, tuple[int, int, str | None]]:
    state = {}
    for path in root.rglob("*"):
        info = path.lstat()
        digest = sha256_path(path) if stat.S_ISREG(info.st_mode) else None
        state[str(path)] = (info.st_mode, info.st_mtime_ns, digest)
    return state


def test_every_hostile_file_fails_alone(corpus: tuple[Path, list[Case]], tmp_path: Path) -> None:
    study, listed = corpus
    assert len(listed) >= 100
    before = _state(study)
    out = tmp_path / "out"
    summary = run_study(study, out, recipe=FAST, seed=7)
    assert summary.exit_code == 1
    failed = dict(summary.failed)
    for rel, _, pattern in listed:
        shown = shown_name(rel)
        assert shown in failed, f"{shown} was not recorded as failed"
        assert pattern == "" or __import__("re").search(pattern, failed[shown]), f"{shown}: {failed[shown]!r} !~ {pattern!r}"
    assert summary.ok == 3 and set(failed) == {shown_name(rel) for rel, _, _ in listed}
    for rel in ("good/sub-01_read.wav", "good/notes.txt", "good/p.jpg"):
        assert (out / rel).is_file()
    manifest = json.loads((out / "avanon_manifest.json").read_text(encoding="utf-8"))  # the run's own manifest survived
    assert manifest["summary"] == {"ok": 3, "failed": len(listed)}
    for entry in manifest["entries"]:
        if entry["status"] == "failed":
            assert entry["output"] is None and entry["reason"].startswith(entry["input"])
    assert _state(study) == before  # inputs untouched (FIFOs and devices too)
    assert not [p for p in out.rglob("*") if "avanon-partial" in p.name or p.name.endswith(".part")]
    assert not (out / ".avanon-work").exists()
