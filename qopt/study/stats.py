r"""Confidence intervals over seeds: one-sample, paired and unpaired (Welch) Student t.

For values :math:`x_1..x_n` (one per seed), :math:`\bar x = \frac1n\sum x_i`,
:math:`s^2 = \frac1{n-1}\sum(x_i-\bar x)^2`, the two-sided level-:math:`1-a` interval is

.. math::

    \bar x \pm t_{1-a/2,\,n-1}\, s/\sqrt n .

* **paired** (methods that share an initialisation, e.g. runs started from the same float model
  of a seed): the one-sample interval of the per-seed differences :math:`d_i = a_i - b_i`;
* **unpaired** (Welch): :math:`\bar a - \bar b \pm t_{1-a/2,\nu}\sqrt{s_a^2/n_a + s_b^2/n_b}`
  with the Welch-Satterthwaite degrees of freedom
  :math:`\nu = (s_a^2/n_a + s_b^2/n_b)^2 / \big(\frac{(s_a^2/n_a)^2}{n_a-1}
  + \frac{(s_b^2/n_b)^2}{n_b-1}\big)`.

Conventions (explicit, tested):

* fewer values than an interval needs (n = 1; Welch: n_a or n_b = 1) gives the **unbounded**
  interval (−∞, +∞) with ``degenerate = "n=1"``: nothing can be concluded from one seed;
* n ≥ 2 values with zero spread give the **zero-width** interval [x̄, x̄] (the t interval's
  limit) with ``degenerate = "zero spread"`` — reported as such, never hidden. Spread at the
  rounding level counts as zero: :math:`s \le 64\,\epsilon\max_i|x_i|` (ε = 2⁻⁵², so that
  e.g. the differences 0.9 − 0.8 and 0.8 − 0.7, equal in exact arithmetic, are equal here);
* no values, NaN or ±inf values raise ``ValueError`` (a failed run must be reported as failed,
  not averaged away); paired samples of different lengths raise ``ValueError``.

SOURCE: Student's t interval and Welch (1947); textbook statistics (the tests compare with
``scipy.stats.ttest_rel`` / ``ttest_ind(equal_var=False)`` confidence intervals).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

__all__ = ["ACCURACY", "LEVEL", "Interval", "paired_interval", "t_interval", "welch_interval"]

#: the confidence level of every interval in the report
LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """A confidence interval for a mean (or a difference of means).

    Attributes:
        method: ``"t"``, ``"paired t"`` or ``"Welch t"``.
        n: number of values (pairs for ``paired t``; ``n_a + n_b`` for Welch).
        mean: the estimate. std: sample std (ddof = 1) of the values (of the differences when
            paired); NaN when n = 1 and for Welch (two samples). se: standard error of ``mean``.
        lo, hi: the interval (±inf when degenerate = "n=1"). level: its confidence level.
        df: degrees of freedom (NaN when undefined). degenerate: ``""``, ``"n=1"`` or
            ``"zero spread"``.
    """

    method: str
    n: int
    mean: float
    std: float
    se: float
    lo: float
    hi: float
    level: float
    df: float
    degenerate: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    def fmt(self, scale: float = 1.0, digits: int = 2,
            bounds: tuple[float, float] | None = None) -> str:
        """``mean [lo, hi]`` scaled (e.g. ×100 for percentages). ``bounds`` (unscaled): the
        range the quantity cannot leave (an accuracy: ``ACCURACY = (0, 1)``); the interval's
        ends are shown clipped to it — a t interval of few seeds can reach past 100%, which is
        a statement about the spread, not a possible accuracy. Verdicts use the unclipped
        interval."""
        f = f"{{:.{digits}f}}"
        m = f.format(self.mean * scale)
        if self.degenerate == "n=1":
            return f"{m} (n=1: no interval)"
        lo, hi = self.lo, self.hi
        if bounds is not None:
            lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
        return f"{m} [{f.format(lo * scale)}, {f.format(hi * scale)}]"


#: the range of an accuracy (a fraction): ``Interval.fmt(100, d, ACCURACY)``
ACCURACY = (0.0, 1.0)


def _values(xs: Sequence[float], name: str) -> list[float]:
    try:
        vals = [float(x) for x in xs]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a sequence of numbers, got {xs!r}") from exc
    if not vals:
        raise ValueError(f"{name} is empty: an interval needs at least one value")
    bad = [x for x in vals if not math.isfinite(x)]
    if bad:
        raise ValueError(f"{name} holds non-finite values {bad} (a failed run must be reported, "
                         "not averaged)")
    return vals


def _check_level(level: float) -> float:
    if not isinstance(level, (int, float)) or isinstance(level, bool) or not 0 < level < 1:
        raise ValueError(f"level must be a number in (0, 1), got {level!r}")
    return float(level)


def _tq(level: float, df: float) -> float:
    from scipy.stats import t

    return float(t.ppf(0.5 + level / 2.0, df))


_ROUND = 64 * 2.0**-52


def _mean_sd(v: list[float]) -> tuple[float, float]:
    m = math.fsum(v) / len(v)
    if len(v) == 1:
        return m, math.nan
    sd = math.sqrt(math.fsum((x - m) ** 2 for x in v) / (len(v) - 1))
    return m, (0.0 if sd <= _ROUND * max(abs(x) for x in v) else sd)


def t_interval(xs: Sequence[float], level: float = LEVEL, *, method: str = "t") -> Interval:
    """Student t interval for the mean of ``xs`` (conventions in the module docstring)."""
    level = _check_level(level)
    v = _values(xs, "values")
    n = len(v)
    m, sd = _mean_sd(v)
    if n == 1:
        return Interval(method, 1, m, math.nan, math.inf, -math.inf, math.inf, level, math.nan,
                        "n=1")
    se = sd / math.sqrt(n)
    if se == 0.0:
        return Interval(method, n, m, 0.0, 0.0, m, m, level, n - 1.0, "zero spread")
    h = _tq(level, n - 1) * se
    return Interval(method, n, m, sd, se, m - h, m + h, level, n - 1.0)


def paired_interval(a: Sequence[float], b: Sequence[float], level: float = LEVEL) -> Interval:
    """Interval for mean(a − b) from per-seed pairs (a_i, b_i) (same seed = same position)."""
    va, vb = _values(a, "a"), _values(b, "b")
    if len(va) != len(vb):
        raise ValueError(f"paired samples must have the same length (one value per seed), got "
                         f"{len(va)} and {len(vb)}")
    return t_interval([x - y for x, y in zip(va, vb)], level, method="paired t")


def welch_interval(a: Sequence[float], b: Sequence[float], level: float = LEVEL) -> Interval:
    """Welch interval for mean(a) − mean(b) from independent samples."""
    level = _check_level(level)
    va, vb = _values(a, "a"), _values(b, "b")
    (ma, sa), (mb, sb) = _mean_sd(va), _mean_sd(vb)
    na, nb, d = len(va), len(vb), ma - mb
    if na == 1 or nb == 1:
        return Interval("Welch t", na + nb, d, math.nan, math.inf, -math.inf, math.inf, level,
                        math.nan, "n=1")
    qa, qb = sa * sa / na, sb * sb / nb
    se = math.sqrt(qa + qb)
    if se == 0.0:
        return Interval("Welch t", na + nb, d, math.nan, 0.0, d, d, level, na + nb - 2.0,
                        "zero spread")
    df = (qa + qb) ** 2 / (qa * qa / (na - 1) + qb * qb / (nb - 1))
    h = _tq(level, df) * se
    return Interval("Welch t", na + nb, d, math.nan, se, d - h, d + h, level, df)
