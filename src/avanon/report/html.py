"""The HTML report: a jinja2 template filled from evaluation data, plots embedded as data URIs.

The page is one self-contained file (no scripts, no external resources), so it opens offline and
can be attached to an ethics application.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from avanon import __version__
from avanon.evaluate.study import StudyEvaluation
from avanon.report import plots

ATTACKERS = ("original", "ignorant", "lazy_informed", "semi_informed")


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        if value != value:
            return "n/a"
        return f"{value:.3f}"
    return str(value)


def evaluation_view(heading: str, evaluation: StudyEvaluation, *, max_thumbnails: int = 24, max_sheets: int = 8) -> dict[str, Any]:
    """What the template shows of one :class:`StudyEvaluation`."""
    summary = [
        {"metric": s.metric, "aspect": s.aspect, "value": _fmt(s.value) + (f" {s.unit}" if s.unit else ""), "direction": s.direction, "n": s.n}
        for s in sorted(evaluation.summary.values(), key=lambda s: (s.aspect, s.metric))
    ]
    voice = []
    for attacker in ATTACKERS:
        entry = evaluation.voice.get(attacker)
        if entry:
            ci = entry.get("ci95")
            voice.append(
                {
                    "attacker": attacker.replace("_", "-") + (" (no anonymization)" if attacker == "original" else ""),
                    "eer": _fmt(entry.get("eer")),
                    "ci": f"{_fmt(ci[0])}-{_fmt(ci[1])}" if ci else "n/a",
                    "trials": entry.get("trials", "n/a"),
                    "note": entry.get("note", ""),
                }
            )
    leaks, thumbnails = [], []
    for report in evaluation.residual:
        leaks.append(
            {
                "file": Path(report.original).name,
                "faces": report.faces_checked,
                "leaks": report.leaks,
                "times": ", ".join(f"{t:.2f}" for t in report.leak_times[:20]),
            }
        )
        for _, thumb in report.thumbnails:
            if len(thumbnails) < max_thumbnails:
                thumbnails.append(plots.image_uri(thumb))
    pitch = [plots.pitch_overlay(name, a, b) for name, a, b in evaluation.f0[:4]]
    sheets = [{"file": name, "images": [plots.image_uri(row) for row in rows]} for name, rows in evaluation.collateral[:max_sheets]]
    linkage = [
        {
            "metric": s.metric,
            "attack": s.detail.get("attack", ""),
            "rate": _fmt(s.value),
            "chance": _fmt(s.detail.get("chance")),
            "ci": "-".join(_fmt(v) for v in s.detail["ci95"]) if s.detail.get("ci95") else "n/a",
            "trials": s.n,
            "intended": s.aspect == "utility",
            "note": s.detail.get("note", ""),
        }
        for s in sorted(evaluation.summary.values(), key=lambda s: s.metric)
        if s.metric.startswith("linkage_")
    ]
    return {
        "heading": heading,
        "files": len(evaluation.files),
        "seconds": f"{evaluation.seconds:.1f}",
        "summary": summary,
        "voice": voice,
        "leaks": leaks,
        "thumbnails": thumbnails,
        "sheets": sheets,
        "pitch": pitch,
        "linkage": linkage,
        "metadata": evaluation.metadata.get("items", [])[:100],
        "errors": evaluation.errors[:50],
    }


def render(
    evaluations: Sequence[tuple[str, StudyEvaluation]],
    *,
    title: str = "avanon evaluation",
    recommendation: dict[str, Any] | None = None,
    levels: Sequence[dict[str, Any]] = (),
    level_metrics: Sequence[str] = (),
    level_plots: Sequence[str] = (),
    tradeoffs: Sequence[str] = (),
) -> str:
    """The report page as a string."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("avanon.report", "templates"), autoescape=select_autoescape(["html"]))
    template = env.get_template("report.html")
    return template.render(
        title=title,
        version=__version__,
        evaluations=[evaluation_view(h, e) for h, e in evaluations],
        recommendation=recommendation,
        levels=[{**row, "utility": _fmt(row.get("utility")), "cells": [_fmt(row["values"].get(m)) for m in level_metrics]} for row in levels],
        level_metrics=list(level_metrics),
        level_plots=list(level_plots),
        tradeoffs=list(tradeoffs),
    )


def write_report(out_dir: Path, html: str) -> Path:
    """Write ``report.html`` into ``out_dir`` through a temporary name; returns its path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "report.html"
    temp = path.with_suffix(".html.tmp")
    temp.write_text(html, encoding="utf-8")
    temp.replace(path)
    return path
