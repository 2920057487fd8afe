"""The tutorials in docs/tutorials run as written: each script is executed on data it regenerates.

Scripts call the ``avanon`` command of this environment (its ``bin`` folder is put first on PATH)
and fail on any command that fails or any check they make. The longer ones are marked slow.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

TUTORIALS = Path(__file__).resolve().parents[1] / "docs" / "tutorials"
P02_AUDIO = "sub-02/ses-01/audio/sub-02_ses-01_task-reading_run-1.wav"


def _check_consortium(work: Path, stdout: str) -> None:
    """Tutorial 4: a clean consent audit, then the file it made a mismatch on purpose; a red-team record; a checkpoint that verifies."""
    from avanon.evaluate.redteam import VERDICTS

    clean = json.loads((work / "consent-audit-clean.json").read_text(encoding="utf-8"))
    assert clean["mismatches"] == 0 and [f["status"] for f in clean["files"]] == ["ok", "ok"], clean
    assert "OK: every file of release 1 matches its participants' consent." in stdout

    after = json.loads((work / "consent-audit-after.json").read_text(encoding="utf-8"))
    flagged = [f for f in after["files"] if f["status"] == "mismatch"]
    assert after["mismatches"] == 1 and [f["path"] for f in flagged] == [P02_AUDIO], after
    assert flagged[0]["problems"] == ["P02 did not consent to sharing audio"] and flagged[0]["tier"] == "private"
    with open(work / "consent-audit-after.csv", encoding="utf-8", newline="") as handle:
        rows = {row["path"]: row for row in csv.DictReader(handle)}
    assert rows[P02_AUDIO]["status"] == "mismatch" and rows[P02_AUDIO.replace("sub-02", "sub-01")]["status"] == "ok"
    assert "audit-consent exit status: 1" in stdout  # the script checks it is 1, not a crash (2)
    assert f"flagged by the consent audit: {P02_AUDIO} (P02 not covered)" in stdout

    records = sorted((work / "governance").glob("redteam-*"))
    assert [p.suffix for p in records] == [".json", ".md"] and records[0].stem == records[1].stem, records
    record = json.loads(records[0].read_text(encoding="utf-8"))
    manifest = hashlib.sha256((work / "release" / "avanon_manifest.json").read_bytes()).hexdigest()
    assert record["release"] == "release version 1" and record["manifest_sha256"] == manifest
    verdicts = {f["attack"]: f["verdict"] for f in record["findings"]}
    assert set(verdicts.values()) <= set(VERDICTS) and verdicts["metadata_residue"] == "held", verdicts
    assert "## Sign-off" in records[1].read_text(encoding="utf-8")

    assert "Checkpoint 1 of " in stdout and "OK: the audit trail verifies. Signed checkpoints: 1." in stdout
    assert len((work / "home" / "audit.checkpoints").read_text(encoding="ascii").splitlines()) == 1
    assert "was edited: its keyed hash does not match its content" in stdout  # the edited copy is caught
    assert "audit verify of the edited copy: exit status 1" in stdout


SCRIPTS: dict[str, tuple[str, list[pytest.MarkDecorator], Callable[[Path, str], None] | None]] = {
    # script -> (what its output must show, marks, a check of the files it wrote)
    "01_interview_audio.py": ("# Methods: anonymization", [], None),
    "02_parent_infant_play.py": ("OK: release v1", [], None),
    "03_classroom_consent.py": ("share of faces still recognisable as faces after masking", [pytest.mark.slow], None),
    "04_consortium_release.sh": ("OK: the audit trail verifies.", [pytest.mark.slow], _check_consortium),
}


def _run(script: Path, work: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    command = ["bash", str(script), str(work)] if script.suffix == ".sh" else [sys.executable, str(script), str(work)]
    return subprocess.run(command, cwd=work.parent, env=env, capture_output=True, text=True, timeout=900)


def test_every_tutorial_has_a_page_and_a_script() -> None:
    pages = sorted(p.stem for p in TUTORIALS.glob("[0-9][0-9]_*.md"))
    scripts = sorted(p.stem for p in TUTORIALS.iterdir() if p.suffix in (".py", ".sh"))
    assert pages == scripts == sorted(Path(s).stem for s in SCRIPTS)
    for page in TUTORIALS.glob("[0-9][0-9]_*.md"):
        script = next(p.name for p in TUTORIALS.iterdir() if p.stem == page.stem and p.suffix in (".py", ".sh"))
        assert script in page.read_text(encoding="utf-8"), f"{page.name} does not name its script {script}"


@pytest.mark.parametrize("name", [pytest.param(name, marks=marks) for name, (_, marks, _) in SCRIPTS.items()])
def test_tutorial_script_runs(name: str, tmp_path: Path) -> None:
    work = tmp_path / "work"
    result = _run(TUTORIALS / name, work)
    assert result.returncode == 0, f"{name} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    expected, _, check = SCRIPTS[name]
    assert expected in result.stdout
    if check is not None:
        check(work, result.stdout)
