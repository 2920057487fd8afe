"""``make demo``: the study is built, anonymized, evaluated, and its methods statement and red-team record written."""

from __future__ import annotations

from pathlib import Path

import pytest

from avanon import demo_cli
from avanon.cli import COMMAND_OWNERS


def test_demo_steps_evaluate_the_release_and_write_methods_and_redteam_from_that_evaluation(tmp_path: Path) -> None:
    steps = demo_cli.steps(tmp_path)
    assert [s[0] for s in steps] == ["run", "evaluate", "methods", "redteam"]
    assert all(s[0] in COMMAND_OWNERS for s in steps)
    metrics = str(tmp_path / "evaluation" / "metrics.json")
    assert steps[2][steps[2].index("--evaluation") + 1] == metrics and steps[3][steps[3].index("--metrics") + 1] == metrics
    assert steps[1][1:3] == [str(tmp_path / "study"), str(tmp_path / "out")]


def test_demo_prints_where_the_results_are_and_stops_on_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[str] = []

    def fake(command: list[str]) -> int:  # writes what each command would, so the summary has files to point at
        calls.append(command[0])
        root = tmp_path / "demo"
        made = {
            "run": [root / "out" / "avanon_manifest.json"],
            "evaluate": [root / "evaluation" / "metrics.json", root / "evaluation" / "report.html"],
            "methods": [root / "out" / "methods" / "methods_short.md"],
            "redteam": [root / "governance" / "redteam-2026-12-04.md"],
        }[command[0]]
        for path in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("x", encoding="utf-8")
        return 1 if command[0] == "run" else 0

    monkeypatch.setattr(demo_cli, "cli_main", fake)
    assert demo_cli.main([str(tmp_path / "demo")]) == 1  # some files failed in the run: still evaluated, status kept
    assert calls == ["run", "evaluate", "methods", "redteam"]
    printed = capsys.readouterr().out
    for label, rel in (
        ("evaluation report:", "evaluation/report.html"),
        ("methods statement:", "out/methods/methods_short.md"),
        ("red-team report:", "governance/redteam-2026-12-04.md"),
    ):
        assert any(line.startswith(label) and line.endswith(rel) for line in printed.splitlines()), label
    calls.clear()
    monkeypatch.setattr(demo_cli, "cli_main", lambda command: calls.append(command[0]) or (2 if command[0] == "evaluate" else 0))
    assert demo_cli.main([str(tmp_path / "demo2")]) == 2
    assert calls == ["run", "evaluate"]


@pytest.mark.slow
def test_make_demo_end_to_end(tmp_path: Path) -> None:
    """The whole demo on the dev recordings (several minutes)."""
    import json

    assert demo_cli.main([str(tmp_path / "demo")]) == 0
    root = tmp_path / "demo"
    metrics = json.loads((root / "evaluation" / "metrics.json").read_text(encoding="utf-8"))
    short = (root / "out" / "methods" / "methods_short.md").read_text(encoding="utf-8")
    assert "residual_faces" in metrics["summary"] and (root / "evaluation" / "report.html").is_file()
    assert f"n = {metrics['summary']['residual_faces']['detail']['faces_checked']}" in short  # the evaluation's figure in the statement
    records = list((root / "governance").glob("redteam-*.json"))
    assert len(records) == 1 and json.loads(records[0].read_text(encoding="utf-8"))["findings"]
