"""The tutorials in docs/tutorials run as written: each script is executed on data it regenerates.

Scripts call the ``avanon`` command of this environment (its ``bin`` folder is put first on PATH)
and fail on any command that fails or any check they make. The longer ones are marked slow.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TUTORIALS = Path(__file__).resolve().parents[1] / "docs" / "tutorials"
SCRIPTS = {  # script -> (what its output must show, marks)
    "01_interview_audio.py": ("# Methods: anonymization", []),
    "02_parent_infant_play.py": ("OK: release v1", []),
    "03_classroom_consent.py": ("share of faces still recognisable as faces after masking", [pytest.mark.slow]),
    "04_consortium_release.sh": ("OK: the audit trail verifies.", [pytest.mark.slow]),
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


@pytest.mark.parametrize("name", [pytest.param(name, marks=marks) for name, (_, marks) in SCRIPTS.items()])
def test_tutorial_script_runs(name: str, tmp_path: Path) -> None:
    result = _run(TUTORIALS / name, tmp_path / "work")
    assert result.returncode == 0, f"{name} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert SCRIPTS[name][0] in result.stdout
