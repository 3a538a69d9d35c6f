"""Sobol' indices as figures: bars with confidence intervals, simulator vs surrogate bars,
the heat map of a parameter (layer-group) sensitivity analysis, and index trajectories of a
time-series output."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from edtjax._typing import ArrayLike
from edtjax.report._figure import array, color, names, new_figure
from edtjax.sensitivity.estimators import IndexEstimates
from edtjax.sensitivity.functional import IndexTrajectories

__all__ = [
    "plot_index_trajectories",
    "plot_parameter_gsa",
    "plot_sobol_comparison",
    "plot_sobol_indices",
]


def _flatten(tree):
    """Leaves of an index pytree flattened to scalars, with readable labels."""
    flat, _ = jax.tree_util.tree_flatten_with_path(tree)
    labels, values = [], []
    for path, leaf in flat:
        name = jax.tree_util.keystr(path) or "x"
        arr = np.asarray(leaf, dtype=float)
        if arr.ndim == 0:
            labels.append(name)
            values.append(float(arr))
        else:
            for idx in np.ndindex(arr.shape):
                labels.append(f"{name}{list(idx)}")
                values.append(float(arr[idx]))
    return labels, np.asarray(values)


def plot_sobol_indices(result: IndexEstimates, *, title: str | None = None) -> Figure:
    """Grouped bars of first-order and total indices with their confidence intervals.

    Uses the bootstrap intervals when present, the asymptotic ones otherwise. Works with the
    result of :func:`edtjax.sensitivity.sobol_indices` or
    :func:`edtjax.sensitivity.parameter_sensitivity` for a scalar output (every leaf element is
    one bar). Draws with the Agg canvas only (no pyplot, no global backend change).

    Args:
        result: an :class:`edtjax.sensitivity.IndexEstimates`.
        title: optional figure title.

    Returns:
        The matplotlib ``Figure`` (save it with ``fig.savefig(path)``).

    Example:
        >>> import jax, numpyro.distributions as dist
        >>> from edtjax.sensitivity import sobol_indices
        >>> r = sobol_indices(jax.random.key(0), lambda v: v["a"] + 0.5 * v["b"],
        ...                   {"a": dist.Normal(0., 1.), "b": dist.Normal(0., 1.)}, 256)
        >>> fig = plot_sobol_indices(r)
        >>> len(fig.axes)
        1

    References:
        Saltelli, A. et al. (2008). Global Sensitivity Analysis: The Primer. Wiley.
    """
    labels, s1 = _flatten(result.first_order)
    _, st = _flatten(result.total_order)
    if len(labels) != len(s1) or len(st) != len(s1):
        raise ValueError("result must hold first- and total-order indices of the same structure")
    s1_ci = result.first_order_bootstrap or result.first_order_interval
    st_ci = result.total_order_bootstrap or result.total_order_interval
    lo1, hi1 = _flatten(s1_ci.low)[1], _flatten(s1_ci.high)[1]
    lot, hit = _flatten(st_ci.low)[1], _flatten(st_ci.high)[1]
    fig = Figure(figsize=(max(4.0, 0.6 * len(labels) + 2.0), 3.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    pos = np.arange(len(labels))
    width = 0.38
    ax.bar(
        pos - width / 2,
        s1,
        width,
        label="first order",
        yerr=np.stack([s1 - lo1, hi1 - s1]).clip(min=0),
        capsize=3,
    )
    ax.bar(
        pos + width / 2,
        st,
        width,
        label="total",
        yerr=np.stack([st - lot, hit - st]).clip(min=0),
        capsize=3,
    )
    ax.set_xticks(pos)
    ax.set_xticklabels(labels, rotation=45 if len(labels) > 6 else 0, ha="right")
    ax.set_ylabel("Sobol' index")
    ax.axhline(0.0, color="black", linewidth=0.5)
    ax.legend()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def _indices(name: str, s: Mapping[str, ArrayLike | None], d: int, o: int) -> dict[str, np.ndarray]:
    if not isinstance(s, Mapping):
        raise ValueError(f"{name} must be a mapping with first, first_ci, total, total_ci")
    out = {}
    for k in ("first", "total"):
        if k == "total" and s.get("total") is None:
            continue  # first-order indices only (e.g. on an empirical input law)
        if k not in s or f"{k}_ci" not in s:
            raise ValueError(f"{name} must hold {k!r} and {k + '_ci'!r}")
        out[k] = array(f"{name}[{k!r}]", s[k], 2, shape=(d, o))
        if s[f"{k}_ci"] is None:  # no interval: a zero-width bar
            out[f"{k}_ci"] = np.stack([out[k], out[k]], -1)
        else:
            out[f"{k}_ci"] = array(f"{name}[{k!r}_ci]", s[f"{k}_ci"], 3, shape=(d, o, 2))
    return out


def plot_sobol_comparison(
    surrogate: Mapping[str, ArrayLike | None],
    simulator: Mapping[str, ArrayLike | None] | None = None,
    *,
    input_names: Sequence[str],
    output_names: Sequence[str],
    reference_label: str = "simulator",
) -> Figure:
    r"""Sobol' indices of the simulator and of the surrogate side by side, per output.

    One row of panels per output, first-order indices :math:`S_i = V[E(Y|X_i)]/V(Y)` on the
    left and total indices :math:`S_{Ti} = E[V(Y|X_{\sim i})]/V(Y)` on the right; in each
    panel one pair of bars per input (simulator, surrogate) with its confidence interval as an
    error bar. Where the surrogate learned what matters, the pairs match within their
    intervals. Drawing cost grows as :math:`O(d\,o)`.

    Args:
        surrogate: ``{"first": (d, o), "first_ci": (d, o, 2), "total": (d, o),
            "total_ci": (d, o, 2)}`` indexed by input then output; ``*_ci[..., 0]`` is the
            lower and ``*_ci[..., 1]`` the upper end of the interval (``None``: no error
            bar). Without ``"total"`` (or ``None``, first-order indices only, as on an
            empirical input law) only first-order panels are drawn.
        simulator: the same for the exact model (or the reference, such as the indices of
            the labelled outputs), or ``None`` (bars of the surrogate only).
        input_names: ``d`` input names.
        output_names: ``o`` output names.
        reference_label: the legend's name of ``simulator`` (e.g. ``"labelled outputs"``).

    Returns:
        A ``Figure`` with ``2 o`` axes (``o`` with first-order indices only).

    Raises:
        ValueError: on shapes that disagree with the names or non-finite values.

    Example:
        >>> import numpy as np
        >>> s = {"first": np.array([[0.6], [0.3]]), "total": np.array([[0.65], [0.35]])}
        >>> s["first_ci"] = np.stack([s["first"] - 0.05, s["first"] + 0.05], -1)
        >>> s["total_ci"] = np.stack([s["total"] - 0.05, s["total"] + 0.05], -1)
        >>> fig = plot_sobol_comparison(s, s, input_names=["a", "b"], output_names=["y"])
        >>> len(fig.axes)
        2

    References:
        Sobol', I. M. (2001). Global sensitivity indices for nonlinear mathematical models and
        their Monte Carlo estimates. Math. Comput. Simul. 55, 271-280.
        Saltelli, A. et al. (2010). Variance based sensitivity analysis of model output. Design
        and estimator for the total sensitivity index. Comput. Phys. Commun. 181, 259-270.
    """
    inputs = names("input_names", input_names)
    outputs = names("output_names", output_names)
    d, o = len(inputs), len(outputs)
    series = [("surrogate", _indices("surrogate", surrogate, d, o))]
    if simulator is not None:
        series.insert(0, (str(reference_label), _indices("simulator", simulator, d, o)))
    kinds = ("first", "total") if all("total" in s for _, s in series) else ("first",)
    fig = new_figure(max(6.0, 1.1 * d * len(series) + 3.0), 2.6 * o + 0.6)
    axes = fig.subplots(o, len(kinds), squeeze=False, sharey=True)
    pos = np.arange(d)
    width = 0.8 / len(series)
    for j, out in enumerate(outputs):
        for c, kind in enumerate(kinds):
            ax = axes[j, c]
            for k, (label, s) in enumerate(series):
                v, ci = s[kind][:, j], s[f"{kind}_ci"][:, j]
                err = np.stack([v - ci[:, 0], ci[:, 1] - v]).clip(min=0.0)
                shift = (k - (len(series) - 1) / 2) * width
                tone = color(1 if k == len(series) - 1 else 0)  # the surrogate is last
                ax.bar(pos + shift, v, width, yerr=err, capsize=3, color=tone, label=label)
            ax.axhline(0.0, color="black", linewidth=0.5)
            ax.set_xticks(pos)
            tilt = d > 5
            ax.set_xticklabels(inputs, rotation=30 if tilt else 0, ha="right" if tilt else "center")
            ax.set_title(f"{out}: {'first-order' if kind == 'first' else 'total'} index")
            ax.grid(axis="y", alpha=0.3)
        axes[j, 0].set_ylabel("Sobol' index")
    fig.legend(
        *axes[0, 0].get_legend_handles_labels(), loc="outside upper center", ncols=len(series)
    )
    return fig


def _annotated_heatmap(ax, values: np.ndarray, rows: list[str], cols: list[str], vmax: float):
    vmin = min(0.0, float(np.min(values)))
    image = ax.imshow(values, cmap="viridis", vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(np.arange(len(cols)))
    ax.set_xticklabels(cols, rotation=30 if len(cols) > 4 else 0)
    ax.set_yticks(np.arange(len(rows)))
    ax.set_yticklabels(rows)
    for (a, b), v in np.ndenumerate(values):
        dark = v < 0.55 * vmax
        ax.text(b, a, f"{v:.2f}", ha="center", va="center", color="white" if dark else "black")
    return image


def plot_parameter_gsa(
    groups: Sequence[str],
    first: ArrayLike,
    total: ArrayLike | None = None,
    *,
    output_names: Sequence[str],
    label: str = "Sobol' index",
) -> Figure:
    r"""Heat maps of the sensitivity indices of groups of network parameters (e.g. one per layer).

    Left: first-order group indices :math:`S_g = V[E(Y|\theta_g)]/V(Y)`; right: total
    indices :math:`S_{Tg}`; rows are groups, columns outputs, every cell annotated with its
    value. A layer with a large total but small first-order index acts through interactions
    with other layers. Indices without a total (HSIC, Cramer-von Mises or rank-based ones of
    :func:`~edtjax.sensitivity.parameter_sensitivity` with ``method=``) give one heat map, named
    by ``label``. Drawing cost grows as :math:`O(g\,o)`.

    Args:
        groups: ``g`` group (layer) names.
        first: ``(g, o)`` first-order indices (or the one index of another method).
        total: ``(g, o)`` total indices, or ``None`` for a single heat map.
        output_names: ``o`` output names.
        label: what the values are, on the colour bar.

    Returns:
        A ``Figure`` with one heat map per index and a shared colour bar.

    Raises:
        ValueError: on shapes that disagree with the names or non-finite values.

    Example:
        >>> import numpy as np
        >>> fig = plot_parameter_gsa(["dense_0", "dense_1"], np.array([[0.5], [0.2]]),
        ...                          np.array([[0.7], [0.4]]), output_names=["y"])
        >>> len(fig.axes)
        3
        >>> hsic = plot_parameter_gsa(["dense_0", "dense_1"], np.array([[0.3], [0.1]]),
        ...                           output_names=["y"], label="HSIC index")
        >>> len(hsic.axes)
        2

    References:
        Saltelli, A. et al. (2008). Global Sensitivity Analysis: The Primer, ch. 4 (groups of
        factors). Wiley.
    """
    rows = names("groups", groups)
    cols = names("output_names", output_names)
    panels = [("first-order index" if total is not None else label, first)]
    if total is not None:
        panels.append(("total index", total))
    panels = [
        (title, array(name, values, 2, shape=(len(rows), len(cols))))
        for (title, values), name in zip(panels, ("first", "total"), strict=False)
    ]
    vmax = max(1.0, *(float(np.max(values)) for _, values in panels))
    width = max(6.0, 1.6 * len(cols) * len(panels) + 3.0)
    fig = new_figure(width, 0.5 * len(rows) + 1.8)
    axes = np.atleast_1d(fig.subplots(1, len(panels), sharey=True))
    image = None
    for ax, (title, values) in zip(axes, panels, strict=True):
        image = _annotated_heatmap(ax, values, rows, cols, vmax)
        ax.set_title(f"{title} by parameter group")
    axes[0].set_ylabel("parameter group")
    fig.colorbar(image, ax=list(axes), label=label, shrink=0.9)
    return fig


def plot_index_trajectories(
    trajectories: IndexTrajectories,
    *,
    input_names: Sequence[str] | None = None,
    log_time: bool = False,
    title: str | None = None,
) -> Figure:
    r"""Sensitivity indices of a time-series output against time, one colour per input.

    A solid line per input for the first-order index :math:`S_i(t)` and, when the result has
    them, a dashed line of the same colour for the total index :math:`T_i(t)`, each with its
    interval as a shaded band; the legend gives each input's generalised indices over the
    window (shaded grey on the time axis when it is not the whole history). Drawing cost
    :math:`O(d\,T)`.

    Args:
        trajectories: an :class:`edtjax.sensitivity.IndexTrajectories`.
        input_names: ``d`` input names (``x0``, ``x1``, ... if ``None``).
        log_time: logarithmic time axis (for histories on growing time steps); the times must
            then be positive.
        title: optional figure title.

    Returns:
        A ``Figure`` with one axis holding ``d`` lines (``2 d`` with total indices).

    Raises:
        ValueError: on names that disagree with the number of inputs, non-finite indices or
            non-positive times with ``log_time``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.sensitivity import index_trajectories
        >>> t = jnp.linspace(0.0, 1.0, 5)
        >>> x = jax.random.uniform(jax.random.key(0), (2048, 2))
        >>> r = index_trajectories(None, x[:, :1] * t + x[:, 1:], x=x, times=t)
        >>> fig = plot_index_trajectories(r, input_names=["a", "b"])
        >>> len(fig.axes[0].get_lines())
        2

    References:
        Gamboa, F., Janon, A., Klein, T., Lagnoux, A. (2014). Sensitivity analysis for
        multidimensional and functional outputs. Electron. J. Statist. 8, 575-603.
    """
    times = array("trajectories.times", trajectories.times, 1)
    first = array("trajectories.first_order", trajectories.first_order, 2, shape=(None, len(times)))
    d = first.shape[0]
    labels = (
        [f"x{i}" for i in range(d)] if input_names is None else names("input_names", input_names, d)
    )
    if log_time and np.any(times <= 0):
        raise ValueError("trajectories.times must be positive with log_time=True")
    series = [
        ("S", first, trajectories.first_order_interval, "-", trajectories.aggregated_first_order)
    ]
    if trajectories.total_order is not None:
        total = array("trajectories.total_order", trajectories.total_order, 2, shape=first.shape)
        series.append(
            (
                "T",
                total,
                trajectories.total_order_interval,
                "--",
                trajectories.aggregated_total_order,
            )
        )
    fig = new_figure(6.4, 3.8)
    ax = fig.add_subplot(1, 1, 1)
    window = np.asarray(trajectories.window, bool)
    if not window.all():
        ax.axvspan(times[window].min(), times[window].max(), color="0.9", zorder=0)
    for i, name in enumerate(labels):
        summary = ", ".join(f"{k}={float(np.asarray(agg)[i]):.2f}" for k, *_, agg in series)
        for j, (_, values, interval, style, _) in enumerate(series):
            label = f"{name} ({summary})" if j == 0 else None
            ax.plot(times, values[i], style, color=color(i), label=label)
            if interval is not None:
                low = array("interval.low", interval.low, 2, shape=first.shape)[i]
                high = array("interval.high", interval.high, 2, shape=first.shape)[i]
                ax.fill_between(times, low, high, color=color(i), alpha=0.15, linewidth=0)
    if log_time:
        ax.set_xscale("log")
    ax.set_xlabel("time")
    ax.set_ylabel("Sobol' index")
    ax.grid(alpha=0.3)
    kinds = " (solid), ".join(k for k, *_ in series) + (
        " (dashed)" if len(series) > 1 else " (solid)"
    )
    ax.legend(
        title=f"{kinds}; aggregated over the window", fontsize="small", title_fontsize="small"
    )
    if title:
        ax.set_title(title)
    return fig
