"""Combination of several indicators through their conformal p-values."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from edtjax._checks import as_array, check_choice, check_real
from edtjax._conformal import log_p_values
from edtjax._typing import ArrayLike, PRNGKey, PyTree
from edtjax.reliability.indicator import Indicator

__all__ = ["CombinedState", "combine"]

_METHODS = ("fisher", "bonferroni", "min_p")


class CombinedState(NamedTuple):
    """State of a combined indicator.

    Attributes:
        states: tuple of the members' fitted states.
        calibration_scores: tuple of ``(n_c,)`` sorted calibration scores, one per member.
    """

    states: tuple
    calibration_scores: tuple


def _combined_score(log_p: jax.Array, how: str) -> jax.Array:
    """``-log`` of the combined p-value from ``(K, m)`` member log p-values."""
    n_members = log_p.shape[0]
    if how == "fisher":
        t = -jnp.sum(log_p, axis=0)  # T = -Σ log p_i, 2T ~ χ²_{2K} under independence
        j = jnp.arange(n_members, dtype=log_p.dtype)
        safe_t = jnp.maximum(t, jnp.finfo(log_p.dtype).tiny)
        terms = j[:, None] * jnp.log(safe_t)[None, :] - jax.scipy.special.gammaln(j + 1)[:, None]
        return t - jax.nn.logsumexp(terms, axis=0)
    min_log_p = jnp.min(log_p, axis=0)
    if how == "bonferroni":
        return -jnp.minimum(min_log_p + jnp.log(n_members), 0.0)
    # min_p (Tippett): p = 1 - (1 - min p)^K
    return -jnp.log(-jnp.expm1(n_members * jnp.log1p(-jnp.exp(min_log_p))))


def combine(
    *indicators: Indicator, how: str = "fisher", calibration_fraction: float = 0.5
) -> Indicator:
    """Combine indicators into one through their calibrated conformal p-values.

    ``fit(key, x_train, x_calibration=None)`` fits every member on the training inputs and
    scores a held-out in-domain calibration set with each; when ``x_calibration`` is not given,
    a random ``calibration_fraction`` of ``x_train`` (drawn from ``key``) is split off for it.
    ``score(state, x)`` computes each member's conformal p-value
    ``p_i = (1 + #{calibration scores_i >= s_i(x)}) / (n_c + 1)`` and returns ``-log p`` of the
    combined p-value:

    * ``"fisher"``: ``T = -Σ_i log p_i``, ``p = P(χ²_{2K} >= 2T) = e^{-T} Σ_{j<K} T^j / j!``
      (Fisher 1932; exact under independent members, a monotone statistic otherwise);
    * ``"bonferroni"``: ``p = min(1, K min_i p_i)``, valid under any dependence;
    * ``"min_p"``: Tippett's ``p = 1 - (1 - min_i p_i)^K`` (exact under independence).

    ``bonferroni`` and ``min_p`` rank queries identically (both are monotone in ``min_i p_i``)
    and differ only as p-values; Fisher pools evidence over members. Because the members' p-
    values are step functions the combined score has zero gradient almost everywhere.
    The combined indicator is itself calibrated with :func:`edtjax.reliability.calibrate` on
    data disjoint from both fit sets, which gives it the finite-sample guarantee whatever the
    dependence between members.

    Args:
        *indicators: at least one :class:`Indicator`.
        how: ``"fisher"``, ``"bonferroni"`` or ``"min_p"``.
        calibration_fraction: fraction of ``x_train`` split off for the members' calibration
            when ``x_calibration`` is not passed to ``fit``, in ``(0, 1)``.

    Returns:
        :class:`Indicator` whose state is a :class:`CombinedState`; cost the sum of the
        members' plus ``O(K m log n_c)``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.reliability import knn_indicator, mahalanobis_indicator
        >>> ind = combine(mahalanobis_indicator(), knn_indicator(n_neighbors=5))
        >>> state = ind.fit(jax.random.key(0), jax.random.normal(jax.random.key(1), (200, 2)))
        >>> ind.score(state, jnp.array([[0.0, 0.0], [8.0, 8.0]])).shape
        (2,)

    References:
        Fisher, R. A. (1932). Statistical Methods for Research Workers, 4th ed. Tippett, L. H. C.
        (1931). The Methods of Statistics. Vovk, V. & Wang, R. (2020). Combining p-values via
        averaging. Biometrika 107(4), 791-808. Bates, S. et al. (2023). Testing for outliers
        with conformal p-values. Ann. Statist. 51(1), 149-178.
    """
    if not indicators:
        raise ValueError("combine needs at least one indicator")
    for i, ind in enumerate(indicators):
        if not isinstance(ind, Indicator):
            raise ValueError(f"indicators[{i}] must be an Indicator, got {type(ind).__name__}")
    check_choice("how", how, _METHODS)
    fraction = check_real(
        "calibration_fraction",
        calibration_fraction,
        minimum=0.0,
        maximum=1.0,
        strict_minimum=True,
        strict_maximum=True,
    )

    def fit(
        key: PRNGKey, x_train: ArrayLike, x_calibration: ArrayLike | None = None
    ) -> CombinedState:
        x_train = as_array("x_train", x_train, ndim=2)
        fit_key, split_key = jax.random.split(key)
        if x_calibration is None:
            n = x_train.shape[0]
            n_cal = round(fraction * n)
            if n_cal < 1 or n_cal >= n:
                raise ValueError(
                    f"x_train has {n} rows: too few to split off a calibration fraction of "
                    f"{fraction}"
                )
            perm = jax.random.permutation(split_key, n)
            x_calibration, x_train = x_train[perm[:n_cal]], x_train[perm[n_cal:]]
        else:
            x_calibration = as_array("x_calibration", x_calibration, ndim=2)
        keys = jax.random.split(fit_key, len(indicators))
        states = tuple(ind.fit(k, x_train) for ind, k in zip(indicators, keys, strict=True))
        cal = tuple(
            jnp.sort(ind.score(s, x_calibration)) for ind, s in zip(indicators, states, strict=True)
        )
        return CombinedState(states, cal)

    def score(state: PyTree, x: ArrayLike) -> jax.Array:
        log_p = jnp.stack(
            [
                log_p_values(cal, ind.score(s, x))
                for ind, s, cal in zip(
                    indicators, state.states, state.calibration_scores, strict=True
                )
            ]
        )
        return _combined_score(log_p, how)

    return Indicator(fit, score)
