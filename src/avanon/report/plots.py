"""Plots for the reports, drawn with matplotlib's Agg backend and returned as PNG data URIs."""

from __future__ import annotations

import base64
import io
from typing import Any, Sequence

import numpy as np

TIME_STEP = 0.01  # [s] F0 frame step


def _figure(width: float = 6.0, height: float = 3.0) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    return fig, fig.add_subplot(1, 1, 1)


def data_uri(fig: Any) -> str:
    """A figure as a ``data:image/png;base64,...`` URI."""
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def image_uri(rgb: np.ndarray) -> str:
    """An RGB uint8 array as a PNG data URI."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(rgb, dtype=np.uint8)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def pitch_overlay(name: str, f0_original: np.ndarray, f0_anonymized: np.ndarray) -> str:
    """F0 contours of an original and its anonymized version over time (unvoiced frames left out)."""
    fig, ax = _figure(6.5, 2.4)
    for f0, label, style in ((f0_original, "original", "-"), (f0_anonymized, "anonymized", "--")):
        t = np.arange(len(f0)) * TIME_STEP
        ax.plot(t, np.where(f0 > 0, f0, np.nan), style, linewidth=1.2, label=label)
    ax.set_xlabel("time [s]")
    ax.set_ylabel("F0 [Hz]")
    ax.set_title(name, fontsize=9)
    ax.legend(fontsize=8, loc="upper right")
    return data_uri(fig)


def metric_bars(labels: Sequence[str], values: Sequence[float | None], *, title: str, thresholds: float | None = None) -> str:
    """One bar per recipe (or file) for one metric, with an optional threshold line."""
    fig, ax = _figure(4.2, 2.6)
    shown = [np.nan if v is None else v for v in values]
    bars = ax.bar(range(len(labels)), shown, color="#4472c4")
    ax.bar_label(bars, labels=["n/a" if v != v else f"{v:.3g}" for v in shown], fontsize=7, padding=2)
    ax.set_xticks(range(len(labels)), labels, rotation=20, fontsize=8)
    if thresholds is not None:
        ax.axhline(thresholds, color="#c00000", linestyle="--", linewidth=1, label="threshold")
        ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    return data_uri(fig)


def tradeoff(
    points: Sequence[tuple[str, float | None, float | None]],
    *,
    privacy: str,
    utility: str,
    threshold: float | None = None,
    highlight: str | None = None,
) -> str:
    """Privacy (x) against utility (y), one labelled point per level, joined in the order given.

    Parameters
    ----------
    points : sequence of (label, privacy value, utility value)
        Points with a missing value are left out.
    privacy, utility : str
        Axis labels.
    threshold : float, optional
        The privacy threshold, drawn as a vertical dashed line.
    highlight : str, optional
        Label of the recommended level, drawn as a larger ringed point.
    """
    fig, ax = _figure(5.2, 3.6)
    shown = [(label, x, y) for label, x, y in points if x is not None and y is not None]
    if len(shown) > 1:
        ax.plot([x for _, x, _ in shown], [y for _, _, y in shown], color="#999999", linewidth=1, zorder=1)
    for label, x, y in shown:
        chosen = label == highlight
        ax.scatter([x], [y], s=110 if chosen else 45, color="#2e7d32" if chosen else "#4472c4", edgecolors="black" if chosen else "none", zorder=2)
        ax.annotate(label + (" (recommended)" if chosen else ""), (x, y), textcoords="offset points", xytext=(6, 5), fontsize=8)
    if threshold is not None:
        ax.axvline(threshold, color="#c00000", linestyle="--", linewidth=1, label="threshold")
        ax.legend(fontsize=7, loc="lower right")
    ax.set_xlabel(privacy)
    ax.set_ylabel(utility)
    ax.set_title(f"privacy-utility trade-off: {privacy}", fontsize=9)
    ax.grid(alpha=0.3)
    return data_uri(fig)
