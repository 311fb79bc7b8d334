"""Wilson score intervals for the bench's pass rates: how far a rate from n judged facts can move.

    wilson_interval(8, 10)        # (0.490, 0.943)
    rate_with_interval(27, 46)    # "58.7% [44.3, 71.7]"

The Wilson interval (Wilson 1927) stays inside [0, 1] and is not degenerate at 0/n or n/n, where the
textbook p ± z·sqrt(p(1-p)/n) collapses to a point. Two models whose intervals overlap are not told apart
by that run. The facts of one video are not independent (a video that misses its object fails its colour,
shape and size together), so the true uncertainty is wider than this interval, never narrower.
"""

from __future__ import annotations

import math

Z95 = 1.96  # two-sided 95 % normal quantile


def wilson_interval(passed: int, judged: int, z: float = Z95) -> tuple[float, float] | None:
    """(low, high) of the Wilson score interval for passed/judged; None when nothing was judged."""
    if judged == 0:
        return None
    if not 0 <= passed <= judged:
        raise ValueError(f"passed = {passed} must lie in [0, judged = {judged}]")
    p, n, z2 = passed / judged, judged, z * z
    center = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, center - half), min(1.0, center + half)


def interval_text(passed: int, judged: int) -> str:
    """'[44.3, 71.7]': the 95 % interval in percent; 'n/a' when nothing was judged."""
    interval = wilson_interval(passed, judged)
    if interval is None:
        return "n/a"
    low, high = interval
    return f"[{100 * low:.1f}, {100 * high:.1f}]"


def rate_with_interval(passed: int, judged: int) -> str:
    """'58.7% [44.3, 71.7]': the pass rate and its 95 % interval in percent; 'n/a' when nothing was judged."""
    if judged == 0:
        return "n/a"
    return f"{100 * passed / judged:.1f}% {interval_text(passed, judged)}"


__all__ = ["wilson_interval", "interval_text", "rate_with_interval", "Z95"]
