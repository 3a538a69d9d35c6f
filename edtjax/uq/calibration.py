r"""Probabilistic calibration of regression predictives and isotonic recalibration.

A predictive CDF :math:`F_i` is calibrated when the probability integral transforms
:math:`p_i = F_i(y_i)` are uniform: for every level :math:`q`, the fraction of
:math:`p_i \le q` equals :math:`q`. The metrics here compare that empirical fraction with
:math:`q`; :func:`fit_recalibration` learns the monotone map that makes them agree
(Kuleshov, Fenner & Ermon 2018).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.stats import norm

from edtjax._checks import as_array, check_finite, check_ndim
from edtjax._typing import ArrayLike

__all__ = [
    "Recalibration",
    "calibration_curve",
    "calibration_error",
    "fit_recalibration",
    "gaussian_pit",
    "isotonic_regression",
    "miscalibration_area",
    "recalibrate",
    "recalibrated_quantile",
    "sample_pit",
]


def gaussian_pit(y: jax.Array, mean: jax.Array, variance: jax.Array) -> jax.Array:
    r"""Probability integral transform :math:`\Phi((y-\mu)/\sigma)` of Gaussian predictives.

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.uq import gaussian_pit
        >>> float(gaussian_pit(jnp.zeros(1), jnp.zeros(1), jnp.ones(1))[0])
        0.5
    """
    return norm.cdf((y - mean) / jnp.sqrt(variance))


def sample_pit(y: jax.Array, samples: jax.Array) -> jax.Array:
    r"""Empirical PIT :math:`\frac1s\sum_k 1\{x_k \le y\}` from draws of shape ``(s, n, d)``.

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.uq import sample_pit
        >>> float(sample_pit(jnp.zeros(1), jnp.array([[-1.0], [1.0]]))[0])
        0.5
    """
    return jnp.mean((samples <= y[None]).astype(samples.dtype), axis=0)


def calibration_curve(pit: jax.Array, levels: int = 99) -> tuple[jax.Array, jax.Array]:
    r"""Expected and observed confidence levels.

    Returns the grid :math:`q_j = j/(m+1)`, :math:`j = 1..m` (``m = levels``) and the observed
    frequencies :math:`\hat q_j = \frac1N\sum_i 1\{p_i \le q_j\}` over all ``N`` PIT values.
    Cost :math:`O(N m)`.

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.uq import calibration_curve
        >>> q, obs = calibration_curve(jnp.array([0.1, 0.6]), levels=3)
    """
    pit = jnp.ravel(pit)
    q = jnp.arange(1, levels + 1, dtype=pit.dtype) / (levels + 1)
    observed = jnp.mean((pit[None, :] <= q[:, None]).astype(pit.dtype), axis=1)
    return q, observed


def calibration_error(pit: jax.Array, levels: int = 99) -> jax.Array:
    r"""Calibration error :math:`\frac1m\sum_j (q_j - \hat q_j)^2` (Kuleshov et al. 2018, eq. 9).

    Uniform weights over the ``m = levels`` levels of :func:`calibration_curve`. For perfectly
    calibrated predictives it is :math:`O(1/N)`: :math:`E[(\hat q - q)^2] = q(1-q)/N`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.uq import calibration_error
        >>> err = calibration_error(jax.random.uniform(jax.random.key(0), (1000,)))

    References:
        Kuleshov, V., Fenner, N. and Ermon, S. (2018). Accurate uncertainties for deep learning
        using calibrated regression. ICML.
    """
    q, observed = calibration_curve(pit, levels)
    return jnp.mean((q - observed) ** 2)


def miscalibration_area(pit: jax.Array, levels: int = 99) -> jax.Array:
    r"""Area between the calibration curve and the diagonal, :math:`\frac1m\sum_j|q_j-\hat q_j|`.

    A midpoint-rule approximation of :math:`\int_0^1 |\hat q(q) - q|\,dq`; 0 for calibrated,
    up to 1/2 for degenerate predictives.

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.uq import miscalibration_area
        >>> area = miscalibration_area(jnp.full(100, 0.5))  # all PIT at the median: 0.25

    References:
        Tran, K. et al. (2020). Methods for comparing uncertainty quantifications for material
        property predictions. Mach. Learn.: Sci. Technol. 1, 025006.
    """
    q, observed = calibration_curve(pit, levels)
    return jnp.mean(jnp.abs(q - observed))


def _real_host(name: str, x) -> np.ndarray:
    """``x`` as a float64 NumPy array; complex input is refused (a cast would drop the
    imaginary part), as is anything non-numeric."""
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a numeric array, got {type(x).__name__}") from err
    if np.iscomplexobj(arr):
        raise ValueError(f"{name} must be real, got complex dtype {arr.dtype}")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    return arr.astype(np.float64)


def isotonic_regression(values: ArrayLike, weights: ArrayLike | None = None) -> np.ndarray:
    r"""Least-squares non-decreasing fit by the pool-adjacent-violators algorithm.

    Solves :math:`\min_{z_1\le\dots\le z_n}\sum_i w_i (v_i - z_i)^2` exactly in :math:`O(n)`
    with a stack of pooled blocks. Runs in NumPy on concrete values (it is a data-dependent
    fitting step, done once, outside ``jit``).

    Args:
        values: shape ``(n,)``.
        weights: positive weights, shape ``(n,)``; default ones.

    Returns:
        The fitted non-decreasing values, shape ``(n,)``.

    Example:
        >>> from edtjax.uq import isotonic_regression
        >>> isotonic_regression([1.0, 3.0, 2.0, 4.0]).tolist()
        [1.0, 2.5, 2.5, 4.0]

    References:
        Barlow, R. E., Bartholomew, D. J., Bremner, J. M. and Brunk, H. D. (1972). Statistical
        Inference under Order Restrictions. Wiley.
    """
    v = _real_host("values", values)
    check_ndim("values", v, 1)
    check_finite("values", v)
    w = np.ones_like(v) if weights is None else _real_host("weights", weights)
    check_finite("weights", w)
    if w.shape != v.shape or np.any(w <= 0):
        raise ValueError(f"weights must be positive with shape {v.shape}, got shape {w.shape}")
    means, wsum, count = [], [], []
    for vi, wi in zip(v, w.astype(np.float64), strict=True):
        means.append(vi)
        wsum.append(wi)
        count.append(1)
        while len(means) > 1 and means[-2] > means[-1]:
            m2, w2, c2 = means.pop(), wsum.pop(), count.pop()
            total = wsum[-1] + w2
            means[-1] = (means[-1] * wsum[-1] + m2 * w2) / total
            wsum[-1] = total
            count[-1] += c2
    return np.repeat(np.asarray(means), count)


class Recalibration(NamedTuple):
    """A monotone map :math:`R:[0,1]\\to[0,1]` as interpolation knots.

    Attributes:
        levels: knot abscissae (predicted CDF values), increasing, shape ``(k,)``.
        frequencies: knot ordinates (calibrated probabilities), non-decreasing, shape ``(k,)``.
    """

    levels: jax.Array
    frequencies: jax.Array


def fit_recalibration(pit: ArrayLike) -> Recalibration:
    r"""Fit the isotonic recalibration map of Kuleshov, Fenner & Ermon (2018, Algorithm 1).

    From calibration-set PIT values :math:`p_i = F_i(y_i)`, build the pairs
    :math:`(p_i, \hat P(p_i))` with :math:`\hat P(p) = \frac1N|\{j: p_j \le p\}|` and fit a
    non-decreasing :math:`R` by isotonic regression (:func:`isotonic_regression`), anchored at
    :math:`R(0)=0`, :math:`R(1)=1`. The recalibrated CDF is :math:`R\circ F_i`. Cost
    :math:`O(N\log N)`.

    Args:
        pit: PIT values of a held-out calibration set, any shape (flattened), in ``[0, 1]``.

    Returns:
        A :class:`Recalibration` for :func:`recalibrate`.

    Raises:
        ValueError: non-finite PIT values or values outside ``[0, 1]``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.uq import fit_recalibration, recalibrate
        >>> pit = jax.random.uniform(jax.random.key(0), (500,)) ** 2  # miscalibrated
        >>> r = fit_recalibration(pit)
        >>> new_pit = recalibrate(r, pit)  # close to uniform

    References:
        Kuleshov, V., Fenner, N. and Ermon, S. (2018). Accurate uncertainties for deep learning
        using calibrated regression. ICML.
    """
    p = np.sort(np.ravel(np.asarray(as_array("pit", pit))))
    if p.size == 0 or p[0] < 0 or p[-1] > 1:
        raise ValueError("pit must be a non-empty array of values in [0, 1]")
    n = p.size
    empirical = np.searchsorted(p, p, side="right") / n
    fitted = isotonic_regression(empirical)
    levels = np.concatenate([[0.0], p, [1.0]])
    freqs = np.concatenate([[0.0], fitted, [1.0]])
    # jnp.interp needs distinct abscissae: keep the last ordinate of each tied level.
    keep = np.append(levels[1:] != levels[:-1], True)
    dtype = jnp.asarray(pit).dtype
    return Recalibration(jnp.asarray(levels[keep], dtype), jnp.asarray(freqs[keep], dtype))


def recalibrate(recalibration: Recalibration, probability: jax.Array) -> jax.Array:
    r"""Apply :math:`R` (piecewise linear between the knots) to CDF values ``probability``.

    Differentiable almost everywhere; jit- and vmap-compatible.

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.uq import Recalibration, recalibrate
        >>> r = Recalibration(jnp.array([0.0, 0.5, 1.0]), jnp.array([0.0, 0.8, 1.0]))
        >>> round(float(recalibrate(r, jnp.array(0.25))), 4)
        0.4
    """
    return jnp.interp(probability, recalibration.levels, recalibration.frequencies)


def recalibrated_quantile(recalibration: Recalibration, level: jax.Array) -> jax.Array:
    r"""The predicted-CDF level :math:`R^{-1}(\text{level})` giving a calibrated quantile.

    To get the recalibrated :math:`\tau`-quantile of a predictive :math:`F`, evaluate
    :math:`F^{-1}(R^{-1}(\tau))`. Where :math:`R` is flat, the smallest preimage is returned.

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.uq import Recalibration, recalibrated_quantile
        >>> r = Recalibration(jnp.array([0.0, 0.5, 1.0]), jnp.array([0.0, 0.8, 1.0]))
        >>> round(float(recalibrated_quantile(r, jnp.array(0.4))), 4)
        0.25
    """
    return jnp.interp(level, recalibration.frequencies, recalibration.levels)
