"""The study run: tree mirroring, manifest, resume, refusal of unsafe roots, fail-closed failures."""

from __future__ import annotations

import json
import os

import pytest

from avanon import recipe
from avanon.errors import AccessError, ParameterError
from avanon.pipeline import Execution, People, run_study
from avanon.provenance.manifest import sha256_path
from synth import decoded_samples, decoded_video, write_video, write_wav

FAST = recipe.parse("name: fast\nvideo:\n  detectors: [{name: blazeface, tiles: 1}]\n  encoder: {preset: ultrafast}\n")


@pytest.fixture()
def study(tmp_path):
    root = tmp_path / "study"
    write_video(root / "sub-01" / "video" / "sub-01_play.mp4", frames=12, start_pts=2)
    write_wav(root / "sub-01" / "audio" / "sub-01_read.wav", seconds=0.8)
    write_wav(root / "sub-02" / "audio" / "sub-02_read.flac", seconds=0.5, rate=48000, channels=2, codec="flac")
    (root / "sub-01" / "notes").mkdir(parents=True)
    (root / "sub-01" / "notes" / "session.eaf.txt").write_text("coder notes\n")
    return root


def _modes(root):
    return {p: (p.stat().st_mode, p.stat().st_mtime_ns, sha256_path(p)) for p in root.rglob("*") if p.is_file()}


def test_run_mirrors_tree_and_writes_manifest(study, tmp_path):
    before = _modes(study)
    out = tmp_path / "out"
    summary = run_study(study, out, recipe=FAST, seed=7)
    assert summary.exit_code == 0 and summary.ok == 4 and not summary.failed
    assert _modes(study) == before  # inputs untouched
    manifest = json.loads((out / "avanon_manifest.json").read_text())
    assert manifest["seed"] == 7 and manifest["summary"] == {"ok": 4, "failed": 0}
    entries = {e["input"]: e for e in manifest["entries"]}
    assert set(entries) == {"sub-01/video/sub-01_play.mp4", "sub-01/audio/sub-01_read.wav", "sub-02/audio/sub-02_read.flac", "sub-01/notes/session.eaf.txt"}
    for rel, e in entries.items():
        assert e["status"] == "ok" and e["output"] == rel
        assert e["input_sha256"] == sha256_path(study / rel)
        assert e["output_sha256"] == sha256_path(out / rel)
        assert e["steps"] and "seconds" in e
    assert {s["step"] for s in entries["sub-01/video/sub-01_play.mp4"]["steps"]} >= {"detect", "track", "obfuscate", "voice", "strip-metadata"}
    assert entries["sub-01/video/sub-01_play.mp4"]["models"][0]["sha256"]
    assert manifest["versions"]["avanon"] and manifest["versions"]["av"]
    assert not any(str(tmp_path) in json.dumps(e) for e in manifest["entries"])  # relative paths only
    # media kept their shape
    assert decoded_video(out / "sub-01/video/sub-01_play.mp4")[0] == decoded_video(study / "sub-01/video/sub-01_play.mp4")[0]
    assert decoded_samples(out / "sub-01/audio/sub-01_read.wav") == decoded_samples(study / "sub-01/audio/sub-01_read.wav")
    assert decoded_samples(out / "sub-02/audio/sub-02_read.flac") == decoded_samples(study / "sub-02/audio/sub-02_read.flac")
    assert sha256_path(out / "sub-01/audio/sub-01_read.wav") != sha256_path(study / "sub-01/audio/sub-01_read.wav")
    assert not list(out.rglob("*avanon-partial*"))


def test_same_seed_same_bytes_and_resume(study, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    run_study(study, a, recipe=FAST, seed=1)
    run_study(study, b, recipe=FAST, seed=1)
    for p in a.rglob("*"):
        if p.is_file() and p.name != "avanon_manifest.json":
            assert sha256_path(p) == sha256_path(b / p.relative_to(a)), p
    again = run_study(study, a, recipe=FAST, seed=1)
    assert again.skipped == 4 and again.ok == 0
    # a damaged output is redone; the others are skipped
    (a / "sub-01/audio/sub-01_read.wav").write_bytes(b"broken")
    third = run_study(study, a, recipe=FAST, seed=1)
    assert third.ok == 1 and third.skipped == 3
    assert sha256_path(a / "sub-01/audio/sub-01_read.wav") == sha256_path(b / "sub-01/audio/sub-01_read.wav")


def test_unsafe_roots_are_refused(study, tmp_path):
    with pytest.raises(AccessError, match="inside the study"):
        run_study(study, study / "anon", recipe=FAST)
    with pytest.raises(AccessError, match="contains the study"):
        run_study(study, tmp_path, recipe=FAST)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("precious")
    with pytest.raises(AccessError, match="not empty"):
        run_study(study, busy, recipe=FAST)
    assert (busy / "keep.txt").read_text() == "precious"
    done = tmp_path / "done"
    run_study(study, done, recipe=FAST, seed=1)
    with pytest.raises(AccessError, match="different run"):
        run_study(study, done, recipe=FAST, seed=2)
    with pytest.raises(ParameterError, match="does not exist"):
        run_study(tmp_path / "nope", tmp_path / "o", recipe=FAST)


def test_failures_are_closed_and_named(study, tmp_path, monkeypatch):
    good = write_video(tmp_path / "tmpv" / "v.mp4", frames=30)
    (study / "bad").mkdir()
    (study / "bad" / "empty.mp4").write_bytes(b"")
    (study / "bad" / "truncated.mp4").write_bytes(good.read_bytes()[: len(good.read_bytes()) // 3])
    (study / "bad" / "text.wav").write_text("not audio")
    (study / "bad" / "voice.mp4").write_bytes((study / "sub-01/audio/sub-01_read.wav").read_bytes())
    (study / "bad" / "photo.jpg").write_bytes(b"\xff\xd8\xff garbage")
    os.symlink(study / "sub-01/audio/sub-01_read.wav", study / "bad" / "link.wav")
    out = tmp_path / "out"
    summary = run_study(study, out, recipe=FAST)
    assert summary.exit_code == 1 and summary.ok == 4
    failed = dict(summary.failed)
    assert set(failed) == {"bad/empty.mp4", "bad/truncated.mp4", "bad/text.wav", "bad/voice.mp4", "bad/photo.jpg", "bad/link.wav"}
    assert "zero-byte" in failed["bad/empty.mp4"]
    assert "no video stream" in failed["bad/voice.mp4"]
    assert "symbolic link" in failed["bad/link.wav"]
    for rel in failed:
        assert not (out / rel).exists()  # nothing copied through
    assert not list(out.rglob("*avanon-partial*"))
    manifest = json.loads((out / "avanon_manifest.json").read_text())
    bad = [e for e in manifest["entries"] if e["status"] == "failed"]
    assert len(bad) == 6 and all(e["reason"] and e["output"] is None for e in bad)


def test_unreadable_file_is_named(study, tmp_path, monkeypatch):
    import avanon.process as process

    target = str(study / "sub-01/audio/sub-01_read.wav")
    real = os.access
    monkeypatch.setattr(process.os, "access", lambda p, m: False if str(p) == target else real(p, m))
    summary = run_study(study, tmp_path / "out", recipe=FAST)
    assert dict(summary.failed)["sub-01/audio/sub-01_read.wav"].endswith("permission denied (the file is not readable by this user).")


def test_detector_failure_fails_the_file(study, tmp_path, monkeypatch):
    from avanon.detect import faces

    def broken(self, image):
        raise RuntimeError("model crashed")

    monkeypatch.setattr(faces.BlazeFace, "detect", broken)
    summary = run_study(study, tmp_path / "out", recipe=FAST)
    reasons = dict(summary.failed)
    assert "detector 'blazeface' failed" in reasons["sub-01/video/sub-01_play.mp4"]
    assert not (tmp_path / "out/sub-01/video/sub-01_play.mp4").exists()


def test_parallel_workers_give_the_same_bytes(study, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    run_study(study, one, recipe=FAST, seed=3, execution=Execution(workers=1))
    summary = run_study(study, two, recipe=FAST, seed=3, execution=Execution(workers=2))
    assert summary.ok == 4
    for p in one.rglob("*"):
        if p.is_file() and p.name != "avanon_manifest.json":
            assert sha256_path(p) == sha256_path(two / p.relative_to(one))


def test_image_metadata_removed_and_size_kept(tmp_path):
    from PIL import Image

    root = tmp_path / "study"
    root.mkdir()
    img = Image.new("RGB", (64, 48), (120, 130, 140))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0131] = "Camera firmware 1.0"  # Software
    exif[0x9286] = "Jane Doe"  # UserComment
    img.save(root / "p.jpg", exif=exif.tobytes())
    png = Image.new("RGB", (33, 21), (10, 20, 30))
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Author", "Jane Doe")
    png.save(root / "q.png", pnginfo=info)
    out = tmp_path / "out"
    assert run_study(root, out, recipe=FAST).ok == 2
    with Image.open(out / "p.jpg") as a, Image.open(out / "q.png") as b:
        assert a.size == (64, 48) and b.size == (33, 21)
        assert not a.getexif() and "Author" not in b.info
    assert b"Jane" not in (out / "p.jpg").read_bytes() + (out / "q.png").read_bytes()


def test_derived_features_are_written_and_recorded(tmp_path):
    root = tmp_path / "study"
    write_video(root / "sub-01" / "v.mp4", frames=6, audio_rate=None)
    with_features = recipe.parse("name: f\nextends: default\nvideo: {features: true, detectors: [{name: blazeface, tiles: 1}]}\n")
    out = tmp_path / "out"
    assert run_study(root, out, recipe=with_features).ok == 1
    entry = json.loads((out / "avanon_manifest.json").read_text())["entries"][0]
    names = sorted(d["path"] for d in entry["derived"])
    assert names == ["sub-01/v_channels.tsv", "sub-01/v_features.parquet", "sub-01/v_motion.json", "sub-01/v_motion.tsv"]
    for d in entry["derived"]:
        assert sha256_path(out / d["path"]) == d["sha256"]


def test_study_secret_is_kept_by_the_steward_not_in_the_release(study, tmp_path):
    out = tmp_path / "out"
    run_study(study, out, recipe=FAST)  # no seed: a random study secret
    steward = tmp_path / "out.steward"
    secret_files = list(steward.iterdir())
    assert len(secret_files) == 1 and (secret_files[0].stat().st_mode & 0o077) == 0
    secret = secret_files[0].read_text().strip()
    for p in out.rglob("*"):
        if p.is_file():
            assert secret.encode() not in p.read_bytes()
    manifest = json.loads((out / "avanon_manifest.json").read_text())
    assert manifest["seed"] is None and "steward" in manifest["secret"] and len(manifest["secret_fingerprint"]) == 16
    assert run_study(study, out, recipe=FAST).skipped == 4  # resumes with the kept secret
    # another secret gives another voice; the same seed gives the same one
    keyed = recipe.parse("name: keyed\nvideo: {detectors: []}\naudio: {voice: {name: pseudo-speaker}}\n")
    a, b, c, d = tmp_path / "a", tmp_path / "b", tmp_path / "c", tmp_path / "d"
    for root, seed in ((a, 5), (b, 6), (c, 5), (d, None)):
        run_study(study, root, recipe=keyed, seed=seed)
    wav = "sub-01/audio/sub-01_read.wav"
    assert sha256_path(a / wav) == sha256_path(c / wav) != sha256_path(b / wav)
    assert sha256_path(d / wav) not in {sha256_path(a / wav), sha256_path(b / wav)}


def test_annotations_are_carried_after_their_media(tmp_path, dev_data):
    root = tmp_path / "study"
    files = dev_data / "praatio/examples/files"
    (root / "sub-01").mkdir(parents=True)
    for name in ("bobby.wav", "bobby_words.TextGrid"):
        (root / "sub-01" / name).write_bytes((files / name).read_bytes())
    (root / "sub-01" / "orphan.TextGrid").write_bytes((files / "bobby_words.TextGrid").read_bytes())
    out = tmp_path / "out"
    summary = run_study(root, out, recipe=FAST, seed=1)
    entries = {e["input"]: e for e in json.loads((out / "avanon_manifest.json").read_text())["entries"]}
    grid = entries["sub-01/bobby_words.TextGrid"]
    assert grid["status"] == "ok" and grid["kind"] == "annotation" and grid["media"] == ["sub-01/bobby.wav"]
    assert sha256_path(out / grid["output"]) == grid["output_sha256"]
    assert "no media file of the study pairs with it" in dict(summary.failed)["sub-01/orphan.TextGrid"]
    assert not (out / "sub-01/orphan.TextGrid").exists()  # never copied through


def test_identifying_names_are_pseudonymized_and_the_map_kept_by_the_steward(tmp_path):
    root = tmp_path / "study"
    write_wav(root / "Jane_Doe" / "2024-05-01_jane_doe_reading.wav", seconds=0.3)
    write_wav(root / "sub-02" / "reading.wav", seconds=0.3)
    out = tmp_path / "out"
    summary = run_study(root, out, recipe=FAST, seed=4, people=People(roster=["Jane Doe", "Jane_Doe"]))
    assert summary.ok == 2
    outputs = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.wav"))
    assert "sub-02/reading.wav" in outputs
    assert not any("jane" in o.lower() or "2024" in o for o in outputs)
    mapping = json.loads((tmp_path / "out.steward" / "name_map.json").read_text())
    assert mapping["Jane_Doe/2024-05-01_jane_doe_reading.wav"] in outputs
    manifest_text = (out / "avanon_manifest.json").read_text()
    assert "jane" not in manifest_text.lower() and "2024-05-01" not in manifest_text  # the release names nobody
    entries = {e["input"]: e for e in json.loads(manifest_text)["entries"]}
    pseudonymous = mapping["Jane_Doe/2024-05-01_jane_doe_reading.wav"]
    assert entries[pseudonymous]["output"] == pseudonymous and entries[pseudonymous]["status"] == "ok"
    assert run_study(root, out, recipe=FAST, seed=4, people=People(roster=["Jane Doe", "Jane_Doe"])).skipped == 2


def test_bids_layout_with_sidecars(tmp_path):
    root = tmp_path / "study"
    write_wav(root / "Jane_Doe" / "reading_1.wav", seconds=0.3)
    write_wav(root / "Jane_Doe" / "reading_2.wav", seconds=0.3)
    write_video(root / "sub-07" / "ses-02" / "sub-07_ses-02_task-play.mp4", frames=4, audio_rate=None)
    (root / "notes.txt").write_text("x")
    bids = recipe.parse("name: b\nextends: default\nvideo: {detectors: []}\nnaming: {bids: true}\n")
    out = tmp_path / "out"
    assert run_study(root, out, recipe=bids, seed=2).ok == 4
    entries = {e["input"]: e for e in json.loads((out / "avanon_manifest.json").read_text())["entries"]}
    mapping = json.loads((tmp_path / "out.steward" / "name_map.json").read_text()) if (tmp_path / "out.steward" / "name_map.json").exists() else {}
    entries = {next((k for k, v in mapping.items() if v == i), i): e for i, e in entries.items()}
    video = entries["sub-07/ses-02/sub-07_ses-02_task-play.mp4"]
    assert video["output"] == "sub-07/ses-02/beh/sub-07_ses-02_task-play_video.mp4"
    sidecar = json.loads((out / video["sidecar"]).read_text())
    assert sidecar["FrameRate"] == 25 and sidecar["Width"] == 160 and sidecar["Anonymization"]["steps"]
    first, second = entries["Jane_Doe/reading_1.wav"]["output"], entries["Jane_Doe/reading_2.wav"]["output"]
    assert first.endswith("_run-01_audio.wav") and second.endswith("_run-02_audio.wav")
    assert "jane" not in (first + second).lower() and first.split("/")[0] == second.split("/")[0]
    assert entries["notes.txt"]["output"] == "notes.txt"
    assert run_study(root, out, recipe=bids, seed=2).skipped == 4


def test_other_files_are_anonymized_or_fail_closed(tmp_path):
    study = tmp_path / "study"
    (study / "docs").mkdir(parents=True)
    (study / "docs" / "participants.tsv").write_text("participant_id\tname\temail\nsub-01\tAnna Miller\tanna@example.org\n", encoding="utf-8")
    (study / "docs" / "notes.txt").write_text("Anna Miller came late; call 555-867-5309.\n", encoding="utf-8")
    (study / "docs" / "consent.pdf").write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n")
    summary = run_study(study, tmp_path / "out", recipe=recipe.load("default"), seed=3, people=People(roster=["Anna Miller"]))
    assert [rel for rel, _ in summary.failed] == ["docs/consent.pdf"]
    assert "cannot check it" in summary.failed[0][1] and "other_files: copy" in summary.failed[0][1]
    out = tmp_path / "out"
    assert not (out / "docs" / "consent.pdf").exists()
    table = (out / "docs" / "participants.tsv").read_text(encoding="utf-8")
    notes = (out / "docs" / "notes.txt").read_text(encoding="utf-8")
    for text in (table, notes):
        assert "Anna" not in text and "Miller" not in text and "anna@" not in text
    assert "sub-01" in table and "867-5309" not in notes and "came late" in notes
    entries = {e["input"]: e for e in json.loads((out / "avanon_manifest.json").read_text())["entries"]}
    assert entries["docs/notes.txt"]["steps"][0]["step"] == "anonymize-text"

    copied = run_study(study, tmp_path / "out2", recipe=recipe.parse("extends: default\nother_files: copy"), seed=3)
    assert not copied.failed
    assert (tmp_path / "out2" / "docs" / "consent.pdf").read_bytes() == (study / "docs" / "consent.pdf").read_bytes()


def test_an_annotation_that_breaks_planning_fails_alone(study, tmp_path, monkeypatch):
    """An unexpected error while planning speech from one annotation fails that file, not the run (issue 17)."""
    from avanon.annotations import formats

    (study / "sub-01" / "audio" / "broken.csv").write_text("onset,offset,label\n0.1,0.2,hi\n")
    (study / "sub-01" / "audio" / "sub-01_read.csv").write_text("onset,offset,label\n0.1,0.2,ok\n")
    real = formats.READERS["csv"]

    def broken(path):
        if path.name == "broken.csv":
            raise RuntimeError("reader bug")
        return real(path)

    monkeypatch.setitem(formats.READERS, "csv", broken)
    summary = run_study(study, tmp_path / "out", recipe=FAST, seed=7)
    failed = dict(summary.failed)
    assert set(failed) == {"sub-01/audio/broken.csv"}, failed
    assert failed["sub-01/audio/broken.csv"] == ("sub-01/audio/broken.csv: cannot be read while planning (RuntimeError: reader bug).")
    assert summary.ok == 5 and (tmp_path / "out" / "sub-01/audio/sub-01_read.csv").is_file()


def test_a_study_file_named_like_a_derived_output_does_not_replace_it(tmp_path):
    """'v_motion.tsv' beside 'v.mp4' would overwrite (or, resuming, delete) the motion table derived from it (issue 17)."""
    root = tmp_path / "study"
    write_video(root / "sub-01" / "v.mp4", frames=6, audio_rate=None)
    (root / "sub-01" / "v_motion.tsv").write_text("onset\tnote\n0\tcoder's own table\n")
    with_features = recipe.parse("name: f\nextends: default\nvideo: {features: true, detectors: [{name: blazeface, tiles: 1}]}\n")
    out = tmp_path / "out"
    for _ in range(2):  # a fresh run, then a resumed one
        summary = run_study(root, out, recipe=with_features, seed=4)
        failed = dict(summary.failed)
        assert list(failed) == ["sub-01/v_motion.tsv"]
        assert "its output name sub-01/v_motion.tsv is taken by a file the run derived from sub-01/v.mp4" in failed["sub-01/v_motion.tsv"]
        entry = json.loads((out / "avanon_manifest.json").read_text())["entries"]
        video = next(e for e in entry if e["input"] == "sub-01/v.mp4")
        table = next(d for d in video["derived"] if d["path"] == "sub-01/v_motion.tsv")
        assert sha256_path(out / "sub-01/v_motion.tsv") == table["sha256"]


def test_a_lone_video_runs_in_this_process_whatever_workers_says(tmp_path):
    """Two workers for one short video would leave one idle and cut the other's threads (issue 18)."""
    study = tmp_path / "study"
    study.mkdir()
    write_video(study / "v.mp4", frames=10)
    out = tmp_path / "out"
    assert run_study(study, out, recipe=recipe.load("default"), seed=1, execution=Execution(workers=2)).exit_code == 0
    header = json.loads((out / "avanon_manifest.json").read_text())
    assert header["execution"] == {"executor": "local", "workers": 1}
    write_wav(study / "a.wav", seconds=1.0)
    out2 = tmp_path / "out2"
    assert run_study(study, out2, recipe=recipe.load("default"), seed=1, execution=Execution(workers=2)).exit_code == 0
    assert json.loads((out2 / "avanon_manifest.json").read_text())["execution"] == {"executor": "local", "workers": 2}


def test_a_video_keeps_its_real_container_and_timing_whatever_its_extension(tmp_path):
    """An MP4 with AAC named ``.avi`` (the openpose clip) comes out as MP4 named ``.mp4``: re-muxed as
    AVI with MP3, its first frame moved from 0.000 s to 0.020 s and its audio grew (issue 17)."""
    import av

    root = tmp_path / "study"
    (root / "sub-01").mkdir(parents=True)
    write_video(tmp_path / "clip.mp4", frames=25, audio_rate=16000).rename(root / "sub-01" / "clip.avi")
    (root / "sub-01" / "other.mp4").write_bytes((root / "sub-01" / "clip.avi").read_bytes())
    (root / "sub-01" / "other.avi").write_bytes((root / "sub-01" / "clip.avi").read_bytes())  # its .mp4 name is taken
    out = tmp_path / "out"
    assert run_study(root, out, recipe=FAST, seed=1).ok == 3
    entries = {e["input"]: e for e in json.loads((out / "avanon_manifest.json").read_text())["entries"]}
    assert {rel: e["output"] for rel, e in entries.items()} == {
        "sub-01/clip.avi": "sub-01/clip.mp4",
        "sub-01/other.mp4": "sub-01/other.mp4",
        "sub-01/other.avi": "sub-01/other.avi.mp4",
    }
    entry = entries["sub-01/clip.avi"]
    assert entry["media"]["output"]["path"] == "sub-01/clip.mp4" and entry["output_sha256"] == sha256_path(out / "sub-01/clip.mp4")
    assert not (out / "sub-01" / "clip.avi").exists()
    src, dst = root / "sub-01" / "clip.avi", out / "sub-01" / "clip.mp4"
    with av.open(str(dst)) as c:
        assert c.format.name.startswith("mov,mp4") and c.streams.audio[0].codec_context.name == "aac"
    pts_in, tb_in, _ = decoded_video(src)
    pts_out, tb_out, _ = decoded_video(dst)
    assert [p * tb_in for p in pts_in] == [p * tb_out for p in pts_out]  # the first frame stays at 0.000 s, every frame in place
    assert decoded_samples(dst) == decoded_samples(src)  # the audio neither grows nor shrinks
