"""Import-time settings of the package: nothing is written outside the output by the libraries it loads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# ONNX Runtime turns its telemetry off by itself when one of these is set (strings in libonnxruntime):
# the control run below must not inherit them from a CI machine, or it would see nothing to stop.
CI_MARKERS = {
    "CI",
    "TF_BUILD",
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "CIRCLECI",
    "TRAVIS",
    "JENKINS_URL",
    "CODEBUILD_BUILD_ID",
    "BUILDKITE",
    "TEAMCITY_VERSION",
    "APPVEYOR",
    "BITBUCKET_BUILD_NUMBER",
}


def test_onnxruntime_writes_no_telemetry_under_home(tmp_path: Path) -> None:
    """Importing avanon first stops ONNX Runtime's device id and telemetry database in ~/.cache (issue 17)."""
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY" and k not in CI_MARKERS}
    env.update(HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / ".cache"))
    code = "import avanon, onnxruntime; onnxruntime.SessionOptions()"
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
    assert not list(tmp_path.rglob("*")), "files written under HOME"
    subprocess.run([sys.executable, "-c", "import onnxruntime"], env=env, check=True, timeout=120)
    assert list(tmp_path.rglob("onnxruntime.db")), "the check must see what onnxruntime writes without avanon"
