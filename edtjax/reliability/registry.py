"""The indicators by name: one registry for the command line, the audit and its config.

Each entry says how to build the indicator from keyword options, which options it takes,
whether its score is differentiable in the query (the audit's per-query attribution needs
that) and whether it reads the surrogate (its predictive variance or features) rather than
the inputs alone. Names are stable: they appear in TOML configs, on the command line and in
reports.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from edtjax.reliability.indicator import (
    Indicator,
    feature_space_indicator,
    halfspace_indicator,
    knn_indicator,
    lens_fermat_indicator,
    mahalanobis_indicator,
    predictive_spread_indicator,
    projection_indicator,
    spatial_indicator,
)
from edtjax.reliability.transport_indicators import monge_kantorovich_indicator

__all__ = ["INDICATORS", "IndicatorEntry", "make_indicator"]


class IndicatorEntry(NamedTuple):
    """One named indicator of :data:`INDICATORS`.

    Attributes:
        make: ``make(**options) -> Indicator``.
        options: the keyword options ``make`` accepts (some may be required).
        differentiable: whether ``score`` is differentiable in the query (given
            differentiable surrogate functions, for those that read the surrogate).
        reads_surrogate: whether it needs the surrogate (``variance_fn`` or ``feature_fn``).
        summary: one line, *higher score = farther from the training data*.
    """

    make: Callable[..., Indicator]
    options: tuple[str, ...]
    differentiable: bool
    reads_surrogate: bool
    summary: str


def _feature_mahalanobis(*, feature_fn, shrinkage: float = 0.01) -> Indicator:
    return feature_space_indicator(mahalanobis_indicator(shrinkage=shrinkage), feature_fn)


INDICATORS: dict[str, IndicatorEntry] = {
    "lens_fermat": IndicatorEntry(
        lens_fermat_indicator,
        ("alpha", "n_neighbors"),
        False,
        False,
        "1 - lens depth under the sample Fermat distance (follows curved supports)",
    ),
    "mahalanobis": IndicatorEntry(
        mahalanobis_indicator,
        ("shrinkage",),
        True,
        False,
        "log(1 + Mahalanobis distance^2) to the mean (elliptical data)",
    ),
    "spatial": IndicatorEntry(
        spatial_indicator,
        (),
        True,
        False,
        "1 - spatial depth (norm of the spatial rank)",
    ),
    "projection": IndicatorEntry(
        projection_indicator,
        ("n_directions", "temperature"),
        True,
        False,
        "log(1 + Stahel-Donoho outlyingness over random directions)",
    ),
    "halfspace": IndicatorEntry(
        halfspace_indicator,
        ("n_directions",),
        False,
        False,
        "1 - Tukey halfspace depth over random directions",
    ),
    "knn": IndicatorEntry(
        knn_indicator,
        ("n_neighbors",),
        True,
        False,
        "distance to the k-th nearest training input",
    ),
    "monge_kantorovich": IndicatorEntry(
        monge_kantorovich_indicator,
        ("epsilon", "n_radii", "threshold", "max_iterations"),
        True,
        False,
        "norm of the center-outward rank (1 - Monge-Kantorovich depth)",
    ),
    "ensemble_spread": IndicatorEntry(
        predictive_spread_indicator,
        ("variance_fn",),
        True,
        True,
        "the surrogate's epistemic predictive variance, summed over outputs",
    ),
    "feature_mahalanobis": IndicatorEntry(
        _feature_mahalanobis,
        ("feature_fn", "shrinkage"),
        True,
        True,
        "Mahalanobis indicator on the surrogate's learned features (shrinkage 0.01)",
    ),
}
"""Every named indicator (the combined one, :func:`edtjax.reliability.combine`, is built
from these)."""


def make_indicator(name: str, **options: Any) -> Indicator:
    """Build the indicator ``name`` of :data:`INDICATORS` with keyword ``options``.

    Args:
        name: a key of :data:`INDICATORS`.
        **options: options of that indicator (see its entry's ``options``); ``None`` values
            are dropped, so callers can pass optional settings through.

    Returns:
        The :class:`Indicator`.

    Raises:
        ValueError: an unknown ``name`` or option (naming the accepted ones), or the
            indicator's own errors on bad option values.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> ind = make_indicator("knn", n_neighbors=3)
        >>> state = ind.fit(None, jax.random.normal(jax.random.key(0), (50, 2)))
        >>> ind.score(state, jnp.zeros((1, 2))).shape
        (1,)
    """
    if name not in INDICATORS:
        raise ValueError(f"indicator must be one of {sorted(INDICATORS)}, got {name!r}")
    entry = INDICATORS[name]
    given = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(given) - set(entry.options))
    if unknown:
        raise ValueError(
            f"indicator {name!r} takes the options {list(entry.options)}, got {unknown}"
        )
    return entry.make(**given)
