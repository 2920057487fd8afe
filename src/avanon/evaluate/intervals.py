"""Confidence intervals of success rates: the Wilson score interval of a binomial proportion.

Attack success rates (top-1 identification, linkage, residual faces) are proportions of trials;
the Wilson interval keeps within [0, 1] and behaves at 0 and at n successes, where the normal
approximation does not.
"""

from __future__ import annotations

import math

from avanon.errors import ParameterError

Z95 = 1.959963984540054  # the standard normal quantile of 0.975


def wilson_interval(successes: int, trials: int, *, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of ``successes`` out of ``trials`` (95 % by default).

    Parameters
    ----------
    successes : int >= 0
    trials : int > 0
    z : float > 0
        Standard normal quantile of the interval (1.96 for 95 %).

    Returns
    -------
    (low, high) : tuple of float in [0, 1]
    """
    if trials <= 0 or successes < 0 or successes > trials:
        raise ParameterError(f"wilson_interval needs 0 <= successes <= trials and trials > 0; got {successes} of {trials}.")
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)
