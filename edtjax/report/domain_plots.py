"""The domain of validity as figures: indicator maps over 2-D input slices with the validity
boundary, and center-outward quantile contours of the training inputs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from edtjax._checks import check_real
from edtjax._typing import ArrayLike
from edtjax.report._figure import array, names, new_figure, points

__all__ = ["plot_depth_map", "plot_quantile_contours"]

_TRAIN = {"color": "black", "s": 6, "alpha": 0.45, "linewidths": 0}
_IN = {"marker": "o", "s": 30, "facecolor": "white", "edgecolor": "#0072B2", "linewidths": 1.4}
_SHIFTED = {"marker": "^", "s": 36, "facecolor": "#D55E00", "edgecolor": "black", "linewidths": 0.6}


def _legend_below(ax, handles: list) -> None:
    """The legend under the axes, so that it hides none of the points near the edges."""
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.13),
        ncol=2,
        fontsize="x-small",
        frameon=False,
    )


def _overlay(ax, train, first, second, labels=("in-domain queries", "shifted queries")) -> list:
    handles = []
    for pts, style, label in (
        (train, _TRAIN, "training inputs"),
        (first, _IN, labels[0]),
        (second, _SHIFTED, labels[1]),
    ):
        if pts is not None and len(pts):
            handles.append(ax.scatter(pts[:, 0], pts[:, 1], label=label, zorder=3, **style))
    return handles


def plot_depth_map(
    grid_x: ArrayLike,
    grid_y: ArrayLike,
    score: ArrayLike,
    threshold: float,
    *,
    input_names: Sequence[str],
    indicator: str = "score",
    train: ArrayLike | None = None,
    queries_inside: ArrayLike | None = None,
    queries_outside: ArrayLike | None = None,
    fixed: Mapping[str, float] | None = None,
) -> Figure:
    r"""Filled contours of a reliability score over a 2-D input slice, with the validity boundary.

    The score (larger = less like the training data, e.g. one minus a depth, or a conformal
    nonconformity) is drawn as filled contours on the grid; the domain of validity is the region
    :math:`\{x : s(x) \le t\}` and its boundary, the contour :math:`s(x) = t` at the calibrated
    threshold :math:`t`, is drawn as a thick red line. Training inputs and queries are
    projected on the slice (their other coordinates generally differ from the slice's fixed
    values, which the title lists). Queries are drawn by their verdict in *all* inputs
    (``queries_inside`` as open circles, ``queries_outside`` as filled triangles), not by
    where their projection falls: a query judged outside may project inside the slice's
    boundary when it leaves the domain through the inputs held fixed here, and the legend
    says so. Cost :math:`O(G H)` for the contours.

    Args:
        grid_x: ``(G,)`` increasing values of the first slice input.
        grid_y: ``(H,)`` increasing values of the second slice input.
        score: ``(H, G)`` score, ``score[a, b]`` at ``(grid_x[b], grid_y[a])``.
        threshold: the calibrated threshold :math:`t`.
        input_names: the two slice input names (axis labels).
        indicator: the indicator's name (colour-bar label).
        train: optional ``(n, 2)`` training inputs in the two slice coordinates.
        queries_inside: optional ``(m1, 2)`` queries judged inside the domain (full-dimensional
            verdict), in the two slice coordinates.
        queries_outside: optional ``(m2, 2)`` queries judged outside likewise.
        fixed: optional ``{input name: value}`` at which the other inputs are held.

    Returns:
        A ``Figure`` with the map and its colour bar.

    Raises:
        ValueError: on shapes that disagree or non-finite values.

    Example:
        >>> import numpy as np
        >>> g = np.linspace(-2.0, 2.0, 30)
        >>> s = np.hypot(*np.meshgrid(g, g))
        >>> fig = plot_depth_map(g, g, s, 1.5, input_names=["a", "b"], indicator="radius",
        ...                      train=np.zeros((5, 2)))
        >>> len(fig.axes)
        2

    References:
        Liu, R. Y. (1990). On a notion of data depth based on random simplices. Ann. Statist.
        18(1), 405-414. Zuo, Y. and Serfling, R. (2000). General notions of statistical depth
        function. Ann. Statist. 28(2), 461-482.
    """
    gx = array("grid_x", grid_x, 1)
    gy = array("grid_y", grid_y, 1)
    s = array("score", score, 2, shape=(gy.shape[0], gx.shape[0]))
    if gx.shape[0] < 2 or gy.shape[0] < 2:
        raise ValueError(f"grid_x and grid_y need >= 2 values, got {gx.shape[0]}, {gy.shape[0]}")
    t = check_real("threshold", threshold)
    xname, yname = names("input_names", input_names, 2)
    fig = new_figure(6.4, 5.6)
    ax = fig.add_subplot(1, 1, 1)
    lo, hi = float(np.min(s)), float(np.max(s))
    levels = np.linspace(lo, hi if hi > lo else lo + 1.0, 15)
    filled = ax.contourf(gx, gy, s, levels=levels, cmap="YlGnBu", zorder=1)
    fig.colorbar(filled, ax=ax, label=f"{indicator} score (larger = less like the training data)")
    handles = []
    if lo < t < hi:
        ax.contour(gx, gy, s, levels=[t], colors="#C00000", linewidths=2.5, zorder=2)
        boundary = f"validity boundary ({indicator} = {t:.3g})"
        handles.append(Line2D([], [], color="#C00000", linewidth=2.5, label=boundary))
    else:
        where = "inside" if hi <= t else "outside"
        handles.append(Line2D([], [], color="none", label=f"whole slice {where} the domain"))
    inside = points("queries_inside", queries_inside)
    outside = points("queries_outside", queries_outside)
    handles += _overlay(
        ax,
        points("train", train),
        inside,
        outside,
        ("queries judged inside (all inputs)", "queries judged outside (all inputs)"),
    )
    if any(p is not None and len(p) for p in (inside, outside)):
        handles.append(
            Line2D([], [], color="none", label="points projected on the slice: see the verdicts")
        )
    ax.set_xlim(gx[0], gx[-1])
    ax.set_ylim(gy[0], gy[-1])
    ax.set_xlabel(xname)
    ax.set_ylabel(yname)
    title = f"{indicator} over ({xname}, {yname})"
    if fixed:
        title += "\n" + ", ".join(f"{k} = {float(v):.3g}" for k, v in fixed.items())
    ax.set_title(title, fontsize="medium")
    _legend_below(ax, handles)
    return fig


def plot_quantile_contours(
    contours: Mapping[float, ArrayLike],
    train: ArrayLike,
    *,
    input_names: Sequence[str],
    queries: ArrayLike | None = None,
    queries_label: str = "queries",
) -> Figure:
    r"""Center-outward quantile contours of the training inputs in two coordinates.

    The contour of order :math:`\tau` is the image :math:`\mathbf Q_\pm(\tau\,\mathcal S)` of
    the sphere of radius :math:`\tau` under the center-outward quantile map; it encloses the
    region of probability content :math:`\tau` of the training distribution, whatever its
    shape. Queries beyond the outer contours lie in the tails of what the surrogate was
    trained on (in these two inputs: the points are projected). Cost
    :math:`O(\sum_k P_k + n)`.

    Args:
        contours: ``{tau: (P, 2) ordered contour points}`` (each drawn as a closed polygon).
        train: ``(n, 2)`` training inputs in the same two coordinates.
        input_names: the two coordinate names.
        queries: optional ``(m, 2)`` queries in the same two coordinates.
        queries_label: their legend label.

    Returns:
        A ``Figure`` with one axis.

    Raises:
        ValueError: on an empty ``contours``, levels outside ``[0, 1)`` or bad shapes.

    Example:
        >>> import numpy as np
        >>> t = np.linspace(0.0, 2 * np.pi, 32, endpoint=False)
        >>> circle = np.stack([np.cos(t), np.sin(t)], -1)
        >>> fig = plot_quantile_contours({0.5: 0.8 * circle, 0.9: 1.6 * circle},
        ...                              np.zeros((4, 2)), input_names=["a", "b"])
        >>> len(fig.axes[0].lines)
        2

    References:
        Hallin, M., del Barrio, E., Cuesta-Albertos, J. and Matrán, C. (2021). Distribution and
        quantile functions, ranks and signs in dimension d: a measure transportation approach.
        Ann. Statist. 49(2), 1139-1165.
    """
    if not isinstance(contours, Mapping) or not contours:
        raise ValueError("contours must be a non-empty mapping of tau -> (P, 2) points")
    xname, yname = names("input_names", input_names, 2)
    pts = points("train", train)
    fig = new_figure(5.6, 5.6)
    ax = fig.add_subplot(1, 1, 1)
    handles = _overlay(ax, pts, None, points("queries", queries), ("", str(queries_label)))
    taus = sorted(contours)
    for i, tau in enumerate(taus):
        t = check_real("contour level", tau, minimum=0.0, maximum=1.0, strict_maximum=True)
        c = array(f"contours[{tau}]", contours[tau], 2, shape=(None, 2))
        closed = np.concatenate([c, c[:1]])
        shade = 0.25 + 0.65 * (i + 1) / len(taus)
        (line,) = ax.plot(
            closed[:, 0],
            closed[:, 1],
            color=(0.0, 0.45 * shade, shade),
            linewidth=1.8,
            label=f"τ = {t:.2f}",
            zorder=4,
        )
        handles.append(line)
    ax.set_xlabel(xname)
    ax.set_ylabel(yname)
    ax.set_title("center-outward quantile contours of the training inputs", fontsize="medium")
    ax.grid(alpha=0.3)
    _legend_below(ax, handles)
    return fig
