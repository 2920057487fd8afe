"""What every metric shares: a registered :class:`Metric` with a direction, and a :class:`Score`.

A metric is a :class:`~avanon.registry.Method` of kind ``"metric"``. Besides its name and declared
parameters it states its ``direction`` (``"higher"`` or ``"lower"`` is better), its ``unit`` and
whether it measures privacy or utility, so that reports and the pilot can rank recipes without
knowing the metric. Its results are :class:`Score` values.

A study evaluation (:func:`avanon.evaluate.study.evaluate_study`) runs every registered metric
through the same three calls, so registering a metric is enough for it to run in ``avanon
evaluate``:

1. :meth:`Metric.prepare` for each file pair of a kind in ``kinds``, before the pair is decoded: a
   metric that reads video frames asks the pair (:class:`~avanon.evaluate.media.PairMedia`) for a
   frame analysis, and the pair's one decoding pass feeds them all;
2. :meth:`Metric.measure_pair`: the metric's scores of that pair, from the decoded frames'
   analyses or the audio read once (``media.audio``); the study reports their mean over files;
3. :meth:`Metric.measure_study` once at the end (:class:`~avanon.evaluate.media.StudyMedia`):
   study-level scores (attacks over all files, pooled counts), which replace the means.

In a study, video frames are sampled every ``--every`` frames for all metrics (one decoding pass);
a metric's own ``every`` parameter applies when it is used alone, and where it is a floor
(``face_reid_rank1``). Each metric class may also keep a direct method (``measure`` or
``compute``) for use outside a study.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from avanon.registry import Method

if TYPE_CHECKING:
    from avanon.evaluate.media import PairMedia, StudyMedia

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
    kinds : tuple of {"video", "image", "audio"}
        Kinds of file pairs the study hands to :meth:`prepare` and :meth:`measure_pair` (none: a
        study-level metric).
    """

    kind: ClassVar[str] = "metric"
    direction: ClassVar[str] = "higher"
    aspect: ClassVar[str] = "utility"
    unit: ClassVar[str] = ""
    kinds: ClassVar[tuple[str, ...]] = ()

    def prepare(self, media: PairMedia) -> None:
        """Before ``media`` is decoded: ask it for the frame analyses this metric reads (none by default)."""

    def measure_pair(self, media: PairMedia) -> list[Score]:
        """This metric's scores of one file pair of a study (none by default)."""
        return []

    def measure_study(self, study: StudyMedia) -> list[Score]:
        """Study-level scores once every pair was measured; they replace the means over files (none by default)."""
        return []

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
