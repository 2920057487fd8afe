"""``avanon run --executor/--scheduler/--segment-seconds``: options reach the library, bad values are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from avanon.cli import main
from execute_support import LIGHT_RECIPE, face_crop, make_video


@pytest.fixture()
def study(tmp_path: Path, dev_data: Path) -> Path:
    root = tmp_path / "study"
    root.mkdir()
    make_video(root / "long.mp4", seconds=4, size=(96, 64), face=face_crop(dev_data, 32), audio=False)
    return root


def test_run_with_segments_on_the_local_executor(study: Path, tmp_path: Path) -> None:
    recipe = tmp_path / "light.yaml"
    recipe.write_text(LIGHT_RECIPE, encoding="utf-8")
    out = tmp_path / "out"
    code = main(["run", str(study), "-o", str(out), "-r", str(recipe), "--executor", "local", "--workers", "1", "--segment-seconds", "1.5", "--quiet"])
    assert code == 0
    manifest = json.loads((out / "avanon_manifest.json").read_text())
    assert manifest["segment_seconds"] == 1.5 and manifest["execution"] == {"executor": "local", "workers": 1}
    (entry,) = manifest["entries"]
    assert entry["status"] == "ok" and entry["segments"]["count"] == 2


def test_bad_executor_options_are_refused_before_any_work(study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["run", str(study), "-o", str(out), "--executor", "spark", "-q"]) == 2
    assert "must be one of local, dask-local, dask. Got 'spark'" in capsys.readouterr().err
    assert main(["run", str(study), "-o", str(out), "--executor", "dask", "-q"]) == 2
    assert "needs the scheduler address" in capsys.readouterr().err
    assert not out.exists()
    assert main(["run", "--help"]) == 0
    assert "--scheduler" in capsys.readouterr().out
