"""What every metric shares: a registered :class:`Metric` with a direction, and a :class:`Score`.

A metric is a :class:`~avanon.registry.Method` of kind ``"metric"``. Besides its name and declared
parameters it states its ``direction`` (``"higher"`` or ``"lower"`` is better), its ``unit`` and
whether it measures privacy or utility, so that reports and the pilot can rank recipes without
knowing the metric. What a metric takes as input differs (a pair of files, a set of trials), so
each subclass has one working method with its own signature; its results reduce to :class:`Score`
values.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from avanon.registry import Method

DIRECTIONS = ("higher", "lower")
ASPECTS = ("privacy", "utility")


class Metric(Method):
    """Base class of metrics (kind ``"metric"``).

    Attributes
    ----------
    direction : {"higher", "lower"}
        Which way is better for the anonymization (for a privacy metric: more private).
    aspect : {"privacy", "utility"}
        What the metric measures.
    unit : str
        Unit of the metric's headline value, for reports (``""`` for a ratio in [0, 1]).
    """

    kind: ClassVar[str] = "metric"
    direction: ClassVar[str] = "higher"
    aspect: ClassVar[str] = "utility"
    unit: ClassVar[str] = ""

    def better(self, a: float, b: float) -> bool:
        """Whether value ``a`` is strictly better than ``b`` in this metric's direction."""
        return a > b if self.direction == "higher" else a < b

    def meets(self, value: float, threshold: float) -> bool:
        """Whether ``value`` satisfies ``threshold`` (at least it for "higher", at most for "lower")."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        return value >= threshold if self.direction == "higher" else value <= threshold


@dataclass
class Score:
    """One headline value of a metric for one file pair or one set of files.

    Parameters
    ----------
    metric : str
        Registered metric name.
    value : float
        The value (``nan`` when it could not be computed; ``detail`` says why).
    direction : {"higher", "lower"}
    aspect : {"privacy", "utility"}
    unit : str
    n : int
        Number of observations behind the value (faces, frames, trials, voiced frames).
    detail : dict
        Extra numbers and notes (plain JSON data).
    """

    metric: str
    value: float
    direction: str
    aspect: str
    unit: str = ""
    n: int = 0
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["value"] = json_number(self.value)
        return data


def score_of(metric: Metric, value: float, *, n: int = 0, **detail: Any) -> Score:
    """A :class:`Score` carrying ``metric``'s name, direction, aspect and unit."""
    return Score(
        metric=metric.name,
        value=float(value),
        direction=metric.direction,
        aspect=metric.aspect,
        unit=metric.unit,
        n=int(n),
        detail=detail,
    )


def json_number(value: float | None) -> float | None:
    """A float for JSON: ``nan`` and infinities become ``None`` (JSON has no NaN)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None
