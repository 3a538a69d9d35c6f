"""Calibration and coverage of probabilistic surrogates as figures."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from edtjax._typing import ArrayLike
from edtjax.report._figure import array, color, new_figure, nonempty

__all__ = ["plot_calibration_curve", "plot_coverage"]


def plot_calibration_curve(expected: ArrayLike, observed: Mapping[str, ArrayLike]) -> Figure:
    r"""Calibration curve: observed vs expected frequency of the probability integral transform.

    For each level :math:`p` the observed frequency is :math:`\hat F(p) = \frac1m\sum_k
    \mathbb 1[F_k(y_k) \le p]`, with :math:`F_k` the predictive CDF at test point :math:`k`;
    a calibrated surrogate follows the diagonal :math:`\hat F(p) = p`. A curve below the
    diagonal at small :math:`p` and above at large :math:`p` means over-dispersed (too wide)
    predictions; an S the other way means over-confident ones. One line per method; cost
    :math:`O(L)` per method.

    Args:
        expected: ``(L,)`` levels :math:`p`.
        observed: ``{method: (L,) observed frequencies}``.

    Returns:
        A ``Figure`` with one axis.

    Raises:
        ValueError: on an empty mapping, mismatched lengths or non-finite values.

    Example:
        >>> import numpy as np
        >>> p = np.linspace(0.0, 1.0, 11)
        >>> fig = plot_calibration_curve(p, {"ensemble": p ** 1.2, "bnn": p})
        >>> len(fig.axes[0].lines)
        3

    References:
        Kuleshov, V., Fenner, N. and Ermon, S. (2018). Accurate uncertainties for deep learning
        using calibrated regression. ICML, PMLR 80, 2796-2804.
        Gneiting, T., Balabdaoui, F. and Raftery, A. E. (2007). Probabilistic forecasts,
        calibration and sharpness. J. R. Stat. Soc. B 69(2), 243-268.
    """
    p = array("expected", expected, 1)
    curves = nonempty("observed", observed)
    fig = new_figure(4.6, 4.2)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([0.0, 1.0], [0.0, 1.0], color="grey", linestyle=":", label="ideal")
    for i, (method, values) in enumerate(curves.items()):
        v = array(f"observed[{method!r}]", values, 1, shape=(p.shape[0],))
        ax.plot(p, v, marker="o", markersize=3, color=color(i), label=method)
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.0)
    ax.set_aspect("equal")
    ax.set_xlabel("expected frequency (PIT level)")
    ax.set_ylabel("observed frequency")
    ax.set_title("calibration curve")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize="small")
    return fig


def plot_coverage(
    nominal: ArrayLike,
    raw: Mapping[str, ArrayLike],
    conformal: Mapping[str, ArrayLike] | None = None,
) -> Figure:
    r"""Empirical vs nominal coverage of central predictive intervals, raw and conformal.

    For a nominal level :math:`1-\alpha` the empirical coverage is the fraction of test outputs
    inside the central :math:`1-\alpha` interval; the ideal is the diagonal. Solid lines are the
    surrogate's own intervals, dashed lines the same method after split-conformal calibration,
    which guarantees coverage :math:`\ge 1-\alpha` on exchangeable data. Cost :math:`O(K)` per
    curve.

    Args:
        nominal: ``(K,)`` nominal levels in ``[0, 1]``.
        raw: ``{method: (K,) empirical coverage}`` of the raw intervals.
        conformal: ``{method: (K,)}`` after conformal calibration, or ``None``.

    Returns:
        A ``Figure`` with one axis.

    Raises:
        ValueError: on an empty ``raw``, mismatched lengths or non-finite values.

    Example:
        >>> import numpy as np
        >>> q = np.linspace(0.1, 0.9, 9)
        >>> fig = plot_coverage(q, {"ensemble": q - 0.1}, {"ensemble": q + 0.02})
        >>> len(fig.axes[0].lines)
        3

    References:
        Vovk, V., Gammerman, A. and Shafer, G. (2005). Algorithmic Learning in a Random World.
        Springer. Lei, J. et al. (2018). Distribution-free predictive inference for regression.
        J. Am. Stat. Assoc. 113(523), 1094-1111.
    """
    q = array("nominal", nominal, 1)
    curves = nonempty("raw", raw)
    conformal = {} if conformal is None else dict(conformal)
    unknown = sorted(set(conformal) - set(curves))
    if unknown:
        raise ValueError(f"conformal has methods {unknown} that raw lacks")
    fig = new_figure(4.6, 4.2)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([0.0, 1.0], [0.0, 1.0], color="grey", linestyle=":", label="ideal")
    for i, (method, values) in enumerate(curves.items()):
        v = array(f"raw[{method!r}]", values, 1, shape=(q.shape[0],))
        ax.plot(q, v, marker="o", markersize=3, color=color(i), label=f"{method} (raw)")
        if method in conformal:
            c = array(f"conformal[{method!r}]", conformal[method], 1, shape=(q.shape[0],))
            ax.plot(
                q,
                c,
                linestyle="--",
                marker="s",
                markersize=3,
                color=color(i),
                label=f"{method} (conformal)",
            )
    lo = float(min(0.0, np.min(q)))
    ax.set_xlim(lo, 1.0)
    ax.set_ylim(lo, 1.0)
    ax.set_aspect("equal")
    ax.set_xlabel("nominal coverage")
    ax.set_ylabel("empirical coverage")
    ax.set_title("coverage of central intervals")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize="small")
    return fig
