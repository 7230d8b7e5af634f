"""Statistics of a paired question study (scipy): estimates, paired tests, the level x stratum interaction.

The data of one stratum is a matrix ``Y[repeat, level]`` (NaN where a cell is missing or failed). Per level:
the mean and its 95% Student-t confidence interval over repeats, and the fraction of repeats in which the
level was best. Against the reference level: the paired differences per repeat, their mean and 95% CI, the
paired t-test and the Wilcoxon signed-rank test (two-sided), each Holm-corrected over the levels compared.
A difference is called significant when the Holm-corrected paired t-test gives p < 0.05; the Wilcoxon test is
reported as the distribution-free check (with 5 repeats its smallest two-sided p is 0.0625, so it cannot
reach 0.05 alone). Per stratum, the Friedman test asks whether the levels differ at all.

Across strata, the level x stratum interaction is the split-plot (mixed) ANOVA F test: strata are the
between-repeat factor, levels the within-repeat factor, the error term the level x repeat(stratum)
interaction; it is computed from complete repeats only. scipy has no mixed ANOVA and statsmodels is not a
dependency, so the sums of squares are written out here (``interaction_test``); scipy gives the F
distribution. Holm's step-down correction is written out for the same reason (scipy has only
Benjamini-Hochberg).
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
from scipy import stats

__all__ = [
    "ALPHA",
    "Interaction",
    "LevelEstimate",
    "PairedTest",
    "StratumStats",
    "holm",
    "interaction_test",
    "mean_ci",
    "stratum_stats",
]

ALPHA = 0.05


@dataclasses.dataclass(frozen=True)
class LevelEstimate:
    label: str
    n: int  # repeats with a value
    mean: float
    ci_low: float
    ci_high: float
    best_fraction: float  # of the complete repeats, the share in which this level was best (ties shared)


@dataclasses.dataclass(frozen=True)
class PairedTest:
    """``label`` minus the reference level, paired by repeat."""

    label: str
    n: int  # repeats with both values
    mean_diff: float
    ci_low: float
    ci_high: float
    t_p: float
    t_p_holm: float
    wilcoxon_p: float
    wilcoxon_p_holm: float

    @property
    def significant(self) -> bool:
        return self.t_p_holm < ALPHA


@dataclasses.dataclass(frozen=True)
class StratumStats:
    levels: list[LevelEstimate]
    reference: str
    best: str  # the level with the best mean
    tests: list[PairedTest]  # every level but the reference, in level order
    friedman_p: float  # any difference among the levels (complete repeats); NaN with fewer than 2 of them
    complete_repeats: int


@dataclasses.dataclass(frozen=True)
class Interaction:
    """Split-plot ANOVA test of level x stratum: does the effect of the level depend on the stratum?"""

    f: float
    df1: int
    df2: int
    p: float
    strata: int
    repeats: int  # complete repeats used, over all strata

    @property
    def significant(self) -> bool:
        return self.p < ALPHA


def mean_ci(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t confidence interval of the finite values (NaN bounds with fewer than 2)."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if x.size < 2:
        return mean, math.nan, math.nan
    sem = float(stats.sem(x))
    if sem == 0.0:
        return mean, mean, mean
    low, high = stats.t.interval(confidence, x.size - 1, loc=mean, scale=sem)
    return mean, float(low), float(high)


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (NaN stays NaN and does not count)."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full_like(p, math.nan)
    idx = [i for i in np.argsort(p) if np.isfinite(p[i])]
    m, running = len(idx), 0.0
    for rank, i in enumerate(idx):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return [float(v) for v in out]


def _paired_p(d: np.ndarray) -> tuple[float, float]:
    """Two-sided p of the paired t-test and of the Wilcoxon signed-rank test on the differences ``d``."""
    if d.size < 2:
        return math.nan, math.nan
    if np.all(d == 0):
        return 1.0, 1.0
    if np.std(d) == 0:  # every repeat moved by the same non-zero amount: t is infinite
        t_p = 0.0
    else:
        t_p = float(stats.ttest_rel(d, np.zeros_like(d)).pvalue)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w_p = float(stats.wilcoxon(d).pvalue)
    return t_p, w_p


def _best_fractions(complete: np.ndarray, maximize: bool) -> np.ndarray:
    if complete.shape[0] == 0:
        return np.full(complete.shape[1], math.nan)
    best = complete.max(axis=1) if maximize else complete.min(axis=1)
    winners = (complete == best[:, None]).astype(float)
    return (winners / winners.sum(axis=1, keepdims=True)).mean(axis=0)


def stratum_stats(y: np.ndarray, labels: list[str], reference: int, maximize: bool) -> StratumStats:
    """Estimates, best level, paired tests against ``reference`` (Holm over levels) and Friedman for one
    stratum's ``y[repeat, level]`` (NaN: missing)."""
    y = np.asarray(y, dtype=float)
    complete = y[np.all(np.isfinite(y), axis=1)]
    fractions = _best_fractions(complete, maximize)
    levels = [
        LevelEstimate(lab, int(np.isfinite(y[:, j]).sum()), *mean_ci(y[:, j]), float(fractions[j]))
        for j, lab in enumerate(labels)
    ]
    means = np.array([e.mean if math.isfinite(e.mean) else (-math.inf if maximize else math.inf) for e in levels])
    best = labels[int(np.argmax(means) if maximize else np.argmin(means))]
    raw = []
    for j, lab in enumerate(labels):
        if j == reference:
            continue
        both = np.isfinite(y[:, j]) & np.isfinite(y[:, reference])
        d = y[both, j] - y[both, reference]
        raw.append((lab, d, *_paired_p(d)))
    t_holm, w_holm = holm([r[2] for r in raw]), holm([r[3] for r in raw])
    tests = [
        PairedTest(lab, int(d.size), *mean_ci(d), t_p, th, w_p, wh)
        for (lab, d, t_p, w_p), th, wh in zip(raw, t_holm, w_holm)
    ]
    friedman = math.nan
    if complete.shape[0] >= 2 and len(labels) >= 3 and np.ptp(complete) > 0:
        friedman = float(stats.friedmanchisquare(*complete.T).pvalue)
    return StratumStats(levels, labels[reference], best, tests, friedman, int(complete.shape[0]))


def interaction_test(ys: list[np.ndarray]) -> Interaction | None:
    """Split-plot ANOVA F test of level x stratum on the complete repeats of each stratum's ``y[repeat, level]``
    (module docstring); None with fewer than 2 strata of at least 2 complete repeats each."""
    blocks = [y[np.all(np.isfinite(y), axis=1)] for y in (np.asarray(v, dtype=float) for v in ys)]
    blocks = [b for b in blocks if b.shape[0] >= 2]
    if len(blocks) < 2:
        return None
    n_levels = blocks[0].shape[1]
    centered = [b - b.mean(axis=1, keepdims=True) for b in blocks]  # removes repeat and stratum main effects
    grand = np.concatenate(centered).mean(axis=0)
    ss_int = sum(c.shape[0] * float(((c.mean(axis=0) - grand) ** 2).sum()) for c in centered)
    ss_err = sum(float(((c - c.mean(axis=0)) ** 2).sum()) for c in centered)
    n = sum(c.shape[0] for c in centered)
    df1, df2 = (len(centered) - 1) * (n_levels - 1), (n - len(centered)) * (n_levels - 1)
    if ss_err == 0.0:
        f, p = (math.inf, 0.0) if ss_int > 0 else (math.nan, 1.0)
    else:
        f = (ss_int / df1) / (ss_err / df2)
        p = float(stats.f.sf(f, df1, df2))
    return Interaction(float(f), df1, df2, p, len(centered), n)
