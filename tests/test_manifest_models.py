"""What the manifest records about the speech work: model files, PII recognizers, software versions."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from avanon import recipe as recipes
from avanon.audio.mcadams import McAdams
from avanon.audio.resynth import Resynth
from avanon.audio.speech import speech_models
from avanon.pipeline import People, run_study
from avanon.provenance.manifest import software_versions


def test_versions_name_the_speech_packages():
    versions = software_versions()
    assert {"pyworld", "faster-whisper", "ctranslate2", "piper-tts", "spacy", "presidio-analyzer"} <= set(versions)


def test_voice_models_are_recorded():
    assert speech_models(McAdams(), None) == []
    names = [m["name"] for m in speech_models(Resynth(), None)]
    assert "piper-en_US-joe-medium" in names and any(n.startswith("whisper") for n in names)
    assert all(len(m["sha256"]) == 64 and m["version"] != "not installed" for m in speech_models(Resynth(), None))


def _audio_entry(study: Path, out: Path, recipe_text: str, roster=None):  # type: ignore[no-untyped-def]
    summary = run_study(study, out, recipe=recipes.parse(recipe_text), seed=1, people=People(roster=roster))
    assert not summary.failed
    manifest = json.loads((out / "avanon_manifest.json").read_text())
    return next(e for e in manifest["entries"] if e["kind"] == "audio")


def test_audio_entries_list_whisper_spacy_and_the_recognizers_that_ran(dev_data: Path, tmp_path: Path):
    study = tmp_path / "study"
    (study / "sub-01").mkdir(parents=True)
    shutil.copyfile(dev_data / "fsdd/recordings/0_george_0.wav", study / "sub-01" / "digit.wav")
    plain = _audio_entry(study, tmp_path / "plain", "extends: default\naudio: {voice: {name: mcadams}}")
    assert plain["models"] == [] and "pii_recognizers" not in plain
    entry = _audio_entry(study, tmp_path / "out", "extends: default\naudio: {redact: {name: redact}}", roster=["George"])
    assert entry["pii_recognizers"] == ["roster", "regex", "spacy", "presidio"]
    names = {m["name"] for m in entry["models"]}
    assert any(n.startswith("whisper") for n in names)
    assert {"spacy-en_core_web_sm/ner", "spacy-en_core_web_sm/tok2vec"} <= names


def test_without_spacy_the_manifest_says_so(dev_data: Path, tmp_path: Path):
    study = tmp_path / "study"
    (study / "sub-01").mkdir(parents=True)
    shutil.copyfile(dev_data / "fsdd/recordings/0_george_0.wav", study / "sub-01" / "digit.wav")
    entry = _audio_entry(study, tmp_path / "out", "extends: default\naudio: {redact: {name: redact, use_spacy: false}}")
    assert entry["pii_recognizers"] == ["roster", "regex", "presidio"]
    assert not any(m["name"].startswith("spacy") for m in entry["models"])


def test_annotation_and_text_entries_name_the_recognizers(dev_data: Path, tmp_path: Path):
    study = tmp_path / "study"
    (study / "sub-01").mkdir(parents=True)
    shutil.copyfile(dev_data / "fsdd/recordings/0_george_0.wav", study / "sub-01" / "digit.wav")
    (study / "sub-01" / "digit.TextGrid").write_text(
        'File type = "ooTextFile"\nObject class = "TextGrid"\n\nxmin = 0\nxmax = 0.25\ntiers? <exists>\nsize = 1\nitem []:\n'
        '    item [1]:\n        class = "IntervalTier"\n        name = "words"\n        xmin = 0\n        xmax = 0.25\n'
        '        intervals: size = 1\n        intervals [1]:\n            xmin = 0\n            xmax = 0.25\n            text = "zero"\n',
        encoding="utf-8",
    )
    (study / "notes.txt").write_text("Call Anna on 555 867 5309.\n", encoding="utf-8")
    summary = run_study(study, tmp_path / "out", recipe=recipes.parse("extends: default\naudio: {voice: {name: mcadams}}"), seed=1)
    assert not summary.failed
    entries = {e["kind"]: e for e in json.loads((tmp_path / "out" / "avanon_manifest.json").read_text())["entries"]}
    for kind in ("annotation", "other"):
        assert entries[kind]["steps"][0]["pii_recognizers"] == ["roster", "regex", "spacy", "presidio"], kind
