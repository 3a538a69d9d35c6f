"""Distribution-shift tests, reliability-indicator scores and stage timings as figures."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from edtjax._checks import check_probability, check_real
from edtjax._typing import ArrayLike
from edtjax.report._figure import array, color, new_figure, nonempty

__all__ = ["plot_indicator_scores", "plot_shift_tests", "plot_stage_timings"]


def _shape(count: int) -> tuple[int, int]:
    cols = 2 if count == 4 else min(count, 3)
    return -(-count // cols), cols


def _size(count: int) -> tuple[float, float]:
    rows, cols = _shape(count)
    return 4.0 * cols, 3.3 * rows


def _grid(fig: Figure, count: int):
    rows, cols = _shape(count)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[count:]:
        ax.set_visible(False)
    return axes[:count]


def plot_shift_tests(
    nulls: Mapping[str, ArrayLike],
    statistics: Mapping[str, float],
    p_values: Mapping[str, float],
) -> Figure:
    r"""Permutation null distributions of two-sample shift tests with the observed statistics.

    For each test, the histogram of the statistic :math:`T^{(b)}` over :math:`B` random
    relabellings of the pooled sample, the observed :math:`T` as a vertical line and the
    permutation p-value :math:`p = (1 + \#\{b: T^{(b)} \ge T\})/(B + 1)` in the title. An
    observed statistic far in the right tail means the two samples (e.g. training inputs and
    new queries) differ in distribution. Cost :math:`O(B)` per test.

    Args:
        nulls: ``{test: (B,) permutation statistics}``.
        statistics: ``{test: observed statistic}``.
        p_values: ``{test: p-value}``.

    Returns:
        A ``Figure`` with one panel per test.

    Raises:
        ValueError: on missing tests, empty nulls or non-finite values.

    Example:
        >>> import numpy as np
        >>> null = np.random.default_rng(0).gamma(2.0, size=200)
        >>> fig = plot_shift_tests({"sinkhorn": null}, {"sinkhorn": 9.0}, {"sinkhorn": 0.005})
        >>> len(fig.axes)
        1

    References:
        Feydy, J. et al. (2019). Interpolating between optimal transport and MMD using Sinkhorn
        divergences. AISTATS, PMLR 89, 2681-2690. Good, P. (2005). Permutation, Parametric and
        Bootstrap Tests of Hypotheses. Springer.
    """
    tests = nonempty("nulls", nulls)
    fig = new_figure(*_size(len(tests)))
    for i, (ax, (name, null)) in enumerate(zip(_grid(fig, len(tests)), tests.items(), strict=True)):
        b = array(f"nulls[{name!r}]", null, 1)
        if b.shape[0] == 0:
            raise ValueError(f"nulls[{name!r}] must hold at least one permutation statistic")
        if name not in statistics or name not in p_values:
            raise ValueError(f"statistics and p_values must hold the test {name!r}")
        t = check_real(f"statistics[{name!r}]", statistics[name])
        p = check_probability(f"p_values[{name!r}]", p_values[name], open_interval=False)
        ax.hist(
            b,
            bins=max(10, min(40, b.shape[0] // 10)),
            color=color(i),
            alpha=0.75,
            label="permutation null",
        )
        ax.axvline(t, color="#C00000", linewidth=2.0, label=f"observed = {t:.3g}")
        ax.set_title(f"{name}: p = {p:.3g}", fontsize="medium")
        ax.set_xlabel("statistic")
        ax.set_ylabel("count")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))  # long tick labels must not collide
        ax.legend(fontsize="x-small")
    return fig


def plot_indicator_scores(
    scores_in: Mapping[str, ArrayLike],
    scores_shifted: Mapping[str, ArrayLike],
    thresholds: Mapping[str, float],
    *,
    labels: tuple[str, str] = ("in-domain", "shifted"),
) -> Figure:
    r"""Score distributions of in-domain and shifted queries, per reliability indicator.

    A query is declared outside the domain of validity when its score exceeds the indicator's
    conformal threshold :math:`t` (calibrated so that an in-domain point is flagged with
    probability at most :math:`\alpha`). A good indicator puts the in-domain histogram left of
    the threshold and the shifted one right of it. Histograms share bins per indicator; cost
    :math:`O(m_1 + m_2)` per indicator.

    Args:
        scores_in: ``{indicator: (m1,) scores of in-domain queries}``.
        scores_shifted: ``{indicator: (m2,) scores of shifted queries}`` (may be empty arrays).
        thresholds: ``{indicator: threshold}``.
        labels: legend labels of the two samples (e.g. ``("in-domain test split", "your
            queries")`` when the second sample is not known to be shifted).

    Returns:
        A ``Figure`` with one panel per indicator.

    Raises:
        ValueError: on missing indicators or non-finite values.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> fig = plot_indicator_scores({"lens": rng.uniform(size=50)},
        ...                             {"lens": 1.0 + rng.uniform(size=50)}, {"lens": 0.95})
        >>> len(fig.axes)
        1

    References:
        Angelopoulos, A. N. and Bates, S. (2023). Conformal prediction: a gentle introduction.
        Found. Trends Mach. Learn. 16(4), 494-591.
    """
    inds = nonempty("scores_in", scores_in)
    fig = new_figure(*_size(len(inds)))
    for ax, (name, s_in) in zip(_grid(fig, len(inds)), inds.items(), strict=True):
        if name not in scores_shifted or name not in thresholds:
            raise ValueError(f"scores_shifted and thresholds must hold the indicator {name!r}")
        a = array(f"scores_in[{name!r}]", s_in, 1)
        b = array(f"scores_shifted[{name!r}]", scores_shifted[name], 1)
        t = check_real(f"thresholds[{name!r}]", thresholds[name])
        both = np.concatenate([a, b, [t]])
        lo, hi = float(np.min(both)), float(np.max(both))
        bins = np.linspace(lo, hi if hi > lo else lo + 1.0, 25)
        if a.size:
            ax.hist(a, bins=bins, color=color(0), alpha=0.6, label=f"{labels[0]} ({a.size})")
        if b.size:
            ax.hist(b, bins=bins, color="#D55E00", alpha=0.6, label=f"{labels[1]} ({b.size})")
        ax.axvline(t, color="#C00000", linewidth=2.0, linestyle="--", label=f"threshold {t:.3g}")
        ax.set_title(name, fontsize="medium")
        ax.set_xlabel("score (larger = less like the training data)", fontsize="small")
        ax.set_ylabel("queries")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))  # long tick labels must not collide
        ax.legend(fontsize="x-small")
    return fig


def plot_stage_timings(timings: Mapping[str, float]) -> Figure:
    r"""Horizontal bars of the wall time of each audit stage, in the order the stages ran.

    Args:
        timings: ``{stage: seconds}``, each non-negative.

    Returns:
        A ``Figure`` with one axis; the total is in the title. Cost :math:`O(\#\text{stages})`.

    Raises:
        ValueError: on an empty mapping or negative or non-finite seconds.

    Example:
        >>> fig = plot_stage_timings({"simulate": 1.5, "train": 12.0, "sobol": 3.2})
        >>> len(fig.axes[0].patches)
        3

    References:
        Cleveland, W. S. and McGill, R. (1984). Graphical perception. J. Am. Stat. Assoc.
        79(387), 531-554 (why bars on a common scale).
    """
    stages = nonempty("timings", timings)
    seconds = np.array(
        [check_real(f"timings[{k!r}]", v, minimum=0.0) for k, v in stages.items()], dtype=float
    )
    fig = new_figure(6.4, 0.35 * len(stages) + 1.4)
    ax = fig.add_subplot(1, 1, 1)
    pos = np.arange(len(stages))
    ax.barh(pos, seconds, color=color(0))
    for y, s in zip(pos, seconds, strict=True):
        ax.text(s, y, f" {s:.2f} s", va="center", fontsize="small")
    ax.set_yticks(pos)
    ax.set_yticklabels(list(stages))
    ax.invert_yaxis()
    ax.set_xlim(0.0, 1.18 * max(float(seconds.max()), 1e-3))
    ax.set_xlabel("wall time (s)")
    ax.set_title(f"stage timings (total {seconds.sum():.1f} s)", fontsize="medium")
    return fig
