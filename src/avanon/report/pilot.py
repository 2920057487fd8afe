"""The pilot's report: ``metrics.json`` and ``report.html`` from a :class:`~avanon.pilot.PilotResult`.

The pilot (:mod:`avanon.pilot`) runs and judges the levels and returns a data object; this
module only writes it out, so evaluation does not depend on the report templates.
"""

from __future__ import annotations

import json
from pathlib import Path

from avanon.evaluate.study import plain
from avanon.pilot import PRIVACY_AXES, UTILITY_SHARES, PilotResult
from avanon.report import plots
from avanon.report.html import render, write_report


def write_pilot(result: PilotResult, pilot_dir: Path) -> tuple[Path, Path]:
    """``metrics.json`` and ``report.html`` of a pilot; returns both paths.

    The report shows the recommendation and why, one privacy-utility trade-off plot per privacy
    metric measured (privacy on x, utility index on y, the threshold as a line, the recommended
    level marked), a bar plot per metric across levels, and each level's full evaluation.
    """
    pilot_dir = Path(pilot_dir)
    pilot_dir.mkdir(parents=True, exist_ok=True)
    metrics = pilot_dir / "metrics.json"
    temp = metrics.with_suffix(".json.tmp")
    temp.write_text(json.dumps(result.to_json(), indent=2, sort_keys=True, allow_nan=False), encoding="utf-8")
    temp.replace(metrics)
    shown = [
        m
        for m in (
            "residual_faces",
            "face_reid_rank1",
            "eer_ignorant",
            "eer_lazy_informed",
            "eer_semi_informed",
            "metadata_residue",
            *UTILITY_SHARES,
            "turn_boundary_shift",
            "wer",
        )
        if any(r.evaluation.value(m) == r.evaluation.value(m) for r in result.levels)
    ]
    rows = [
        {
            "level": r.level,
            "meets": r.meets,
            "failed": r.failed + [f"{i}: {why}" for i, why in r.files_failed],
            "utility": r.utility,
            "values": {m: r.evaluation.value(m) for m in shown},
        }
        for r in result.levels
    ]
    labels = [r.level for r in result.levels]
    level_plots = []
    for m in shown:
        limit = result.thresholds.get(m, (None, None))[1]
        level_plots.append(plots.metric_bars(labels, [plain(r.evaluation.value(m)) for r in result.levels], title=m, thresholds=limit))
    tradeoffs = []
    for privacy in PRIVACY_AXES:
        points = [(r.level, plain(r.evaluation.value(privacy)), plain(r.utility)) for r in result.levels]
        if any(x is not None and y is not None for _, x, y in points):
            bound = result.thresholds.get(privacy)
            tradeoffs.append(
                plots.tradeoff(
                    points, privacy=privacy, utility="utility index (higher keeps more)", threshold=bound[1] if bound else None, highlight=result.recommended
                )
            )
    html = render(
        [(f"level {r.level}", r.evaluation) for r in result.levels],
        title="avanon pilot",
        recommendation={
            "level": result.recommended,
            "reason": result.reason,
            "thresholds": [f"{m} {'>=' if b == 'min' else '<='} {v}" for m, (b, v) in result.thresholds.items()],
            "sample": len(result.sample),
        },
        levels=rows,
        level_metrics=shown,
        level_plots=level_plots,
        tradeoffs=tradeoffs,
    )
    return metrics, write_report(pilot_dir, html)
