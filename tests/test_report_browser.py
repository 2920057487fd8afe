"""The pilot and evaluation reports (avanon.report) rendered by a real browser: Debian's headless Chromium,
driven by Playwright (the browser is /usr/bin/chromium, never downloaded by a test tool)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from avanon.evaluate.base import Score
from avanon.evaluate.study import StudyEvaluation
from avanon.pilot import LevelResult, PilotResult, check_thresholds, recommend, utility_index
from avanon.report.html import render, write_report
from avanon.report.pilot import write_pilot

CHROMIUM = Path(os.environ.get("AVANON_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("AVANON_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "build" / "test-artifacts")) / "browser"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
THRESHOLDS = {"residual_faces": ("max", 0.0), "eer_lazy_informed": ("min", 0.3), "metadata_residue": ("max", 0.0)}


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A Chromium context with a fresh --user-data-dir."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.is_file():
        raise FileNotFoundError(f"{CHROMIUM} is missing: install Debian's chromium (`make test` does: scripts/test-services.sh).")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=FLAGS, viewport={"width": 1280, "height": 900}
        )
        try:
            yield context
        finally:
            context.close()


def contour(seed: int, shift: float) -> np.ndarray:
    """A 3 s F0 contour [Hz] with unvoiced gaps (0)."""
    t = np.arange(300) * 0.01
    f0 = 120 + 25 * np.sin(2 * np.pi * 0.7 * t + seed) + shift
    f0[(t > 1.2) & (t < 1.5)] = 0.0
    return f0


def level_evaluation(name: str, *, leaks: float, eer: float, f0: float, pck: float, shift: float) -> StudyEvaluation:
    ev = StudyEvaluation("study", f"runs/{name}", recipe=name, seconds=3.2)
    for metric, value, direction, aspect in (
        ("residual_faces", leaks, "lower", "privacy"),
        ("eer_lazy_informed", eer, "higher", "privacy"),
        ("metadata_residue", 0.0, "lower", "privacy"),
        ("f0_correlation", f0, "higher", "utility"),
        ("pose_pck", pck, "higher", "utility"),
    ):
        ev.summary[metric] = Score(metric, value, direction, aspect, n=12)
    ev.voice = {"lazy_informed": {"eer": eer, "ci95": [eer - 0.05, eer + 0.05], "trials": 56}}
    ev.f0 = [("sub-01/sub-01_task-read.wav", contour(1, 0.0), contour(1, shift))]
    return ev


@pytest.fixture(scope="module")
def pilot_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pilot report over three levels: light leaks, medium and strong are safe, medium keeps more."""
    results = []
    for name, values in (
        ("light", dict(leaks=0.2, eer=0.21, f0=0.97, pck=0.95, shift=3.0)),
        ("medium", dict(leaks=0.0, eer=0.34, f0=0.93, pck=0.9, shift=8.0)),
        ("strong", dict(leaks=0.0, eer=0.48, f0=0.1, pck=0.85, shift=40.0)),
    ):
        ev = level_evaluation(name, **values)
        failed, unjudged = check_thresholds(ev, THRESHOLDS)
        results.append(LevelResult(name, ev, not failed, failed, utility_index(ev), unjudged))
    chosen, reason = recommend(results)
    out = tmp_path_factory.mktemp("pilot")
    write_pilot(PilotResult(["sub-01/sub-01_task-read.wav"], results, THRESHOLDS, chosen, reason), out)
    return out / "report.html"


def open_offline(browser, path: Path):  # type: ignore[no-untyped-def]
    """A page showing ``path``; every request it makes is recorded (a self-contained page makes none but itself)."""
    page = browser.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, requests


def loaded(page, selector: str) -> list[bool]:  # type: ignore[no-untyped-def]
    """For each image matching ``selector``: decoded with a real size."""
    return page.eval_on_selector_all(selector, "els => els.map(e => e.complete && e.naturalWidth > 100 && e.naturalHeight > 100)")


def test_pilot_report_shows_the_recommendation_and_the_tradeoff(browser, pilot_report: Path) -> None:  # type: ignore[no-untyped-def]
    page, requests = open_offline(browser, pilot_report)
    try:
        recommended = page.locator("#recommended-level")
        assert recommended.is_visible() and recommended.inner_text() == "medium"
        reason = page.locator("#recommendation-reason").inner_text()
        assert reason.startswith("medium meets every threshold") and "utility index" in reason
        plots = page.locator("img.tradeoff-plot")
        assert plots.count() == 2  # lazy-informed EER and residual faces against utility
        assert loaded(page, "img.tradeoff-plot") == [True, True]
        for i in range(plots.count()):
            plots.nth(i).scroll_into_view_if_needed()
            assert plots.nth(i).is_visible()
            box = plots.nth(i).bounding_box()
            assert box is not None and box["width"] > 300 and box["height"] > 200
        assert all(loaded(page, "img.level-plot")) and len(loaded(page, "img.level-plot")) == 5
        assert all(loaded(page, 'img[alt="pitch contour overlay"]'))
        rows = page.locator("#levels tr")
        assert rows.count() == 4
        header = rows.nth(0).locator("th").all_inner_texts()
        light = rows.nth(1).locator("td").all_inner_texts()
        assert header[:3] == ["level", "residual_faces", "eer_lazy_informed"]
        assert light[:3] == ["light", "0.200", "0.210"] and light[header.index("utility index")] == "0.960"
        assert "no: residual_faces 0.200 > 0.0" in rows.nth(1).inner_text()
        assert rows.nth(2).inner_text().rstrip().endswith("yes")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "pilot-report.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 50_000  # the plots are in the picture, not blank boxes
        assert requests == [pilot_report.as_uri()]
    finally:
        page.close()


def test_evaluation_report_renders_offline(browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ev = level_evaluation("medium", leaks=0.0, eer=0.34, f0=0.93, pck=0.9, shift=8.0)
    ev.errors = [{"file": "sub-02/sub-02_task-talk.wav", "metric": "wer", "error": "no recognizer"}]
    report = write_report(tmp_path, render([("evaluation", ev)], title="avanon evaluation of out"))
    page, requests = open_offline(browser, report)
    try:
        assert page.locator("h1#title").inner_text() == "avanon evaluation of out"
        assert page.locator("#recommendation").count() == 0  # no pilot, no recommendation
        assert page.locator("table.summary tr").count() == 6
        assert loaded(page, 'img[alt="pitch contour overlay"]') == [True]
        assert "no recognizer" in page.locator("section.evaluation").inner_text()
        assert requests == [report.as_uri()]
    finally:
        page.close()
