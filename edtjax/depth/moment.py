"""Moment-based depths: Mahalanobis depth and spatial (L1-median) depth."""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from edtjax._checks import check_real, is_concrete
from edtjax._typing import ArrayLike, DTypeLike
from edtjax.depth import _validate
from edtjax.depth._centring import coarse_centre, column_mean

__all__ = [
    "MahalanobisFit",
    "mahalanobis_depth",
    "mahalanobis_depth_from_fit",
    "mahalanobis_fit",
    "spatial_depth",
]

_BATCH = 256


class MahalanobisFit(NamedTuple):
    """Location and precision of a reference sample.

    Attributes:
        location: ``(d,)`` sample mean (rounded to the dtype).
        precision: ``(d, d)`` inverse of the (shrunk) sample covariance.
        whitening: ``(d, d)`` matrix ``W`` with ``Wᵀ W = precision``, so that the squared
            Mahalanobis radius is ``‖W (z - μ̂)‖²``, a sum of squares (never negative, and ``inf``
            rather than NaN on overflow).
        location_correction: ``(d,)`` the part of the sample mean lost when rounding it to the
            dtype: the mean is ``location + location_correction`` with an error of the order of
            the working precision times the spread of the data (not times the offset), which
            keeps the depth of offset data (``x + 10^6`` in float32) accurate.
    """

    location: jax.Array
    precision: jax.Array
    whitening: jax.Array
    location_correction: jax.Array


def _condition_limit(d: int, dtype: DTypeLike) -> float:
    """Smallest accepted ratio ``σ_min / σ_max`` of the standardised sample's singular values.

    Below ``200 √d ε`` the smallest singular value of a matrix computed in precision ``ε`` is
    known only to about ``1%`` (backward stability gives an absolute error of a few ``√d ε
    σ_max``), and the precision along that direction carries that error squared.
    """
    return 200.0 * math.sqrt(d) * float(jnp.finfo(dtype).eps)


def _whitening_parts(
    x_ref: jax.Array, shrinkage: ArrayLike, shrunk: bool
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array, jax.Array]:
    """``(hi, lo, scale, sigma, v)``: the mean ``hi + lo``, the column scales ``D`` and the
    singular values and right vectors of the standardised covariance, ``D⁻¹ S_λ D⁻¹ = V Σ² Vᵀ``.

    Without shrinkage ``Σ`` and ``V`` come from a QR factorisation of the centred, standardised
    sample (backward stable: ``σ_min / σ_max`` is accurate down to a few ``ε``, where forming
    the covariance first would lose it below ``√ε``); with shrinkage from the eigenvalues of
    the shrunk matrix, whose condition number is at most ``1 + d (1 - λ) / λ``.
    """
    n, d = x_ref.shape
    hi, lo = column_mean(x_ref)
    centred = (x_ref - hi) - lo
    if shrunk:
        cov = jnp.matmul(centred.T, centred, precision=jax.lax.Precision.HIGHEST) / (n - 1)
        target = jnp.trace(cov) / d
        cov = (1.0 - shrinkage) * cov + shrinkage * target * jnp.eye(d, dtype=cov.dtype)
        scale = jnp.sqrt(jnp.diagonal(cov))
        w, v = jnp.linalg.eigh(cov / scale[:, None] / scale[None, :])
        sigma = jnp.sqrt(jnp.maximum(w, 0.0))[::-1]
        return hi, lo, scale, sigma, v[:, ::-1]
    scale = jnp.sqrt(jnp.sum(centred**2, axis=0) / (n - 1))
    r = jnp.linalg.qr(centred / (scale * jnp.sqrt(n - 1.0)), mode="r")
    _, sigma, vt = jnp.linalg.svd(r, full_matrices=False)
    return hi, lo, scale, sigma, vt.T


@functools.partial(jax.jit, static_argnames=("shrunk",))
def _fit(
    x_ref: jax.Array, shrinkage: ArrayLike, shrunk: bool
) -> tuple[MahalanobisFit, tuple[jax.Array, jax.Array, jax.Array, jax.Array]]:
    hi, lo, scale, sigma, v = _whitening_parts(x_ref, shrinkage, shrunk)
    constant = jnp.all(x_ref == x_ref[:1], axis=0)
    # no masking: a singular covariance gives inf/NaN here, which mahalanobis_fit refuses
    whitening = (v / sigma).T / scale  # diag(1/σ) Vᵀ D⁻¹
    precision = jnp.matmul(whitening.T, whitening, precision=jax.lax.Precision.HIGHEST)
    return MahalanobisFit(hi, precision, whitening, lo), (constant, scale, sigma, v)


def _check_conditioning(
    name: str,
    constant: ArrayLike,
    scale: ArrayLike,
    sigma: ArrayLike,
    v: ArrayLike,
    dtype: DTypeLike,
    shrunk: bool,
) -> None:
    """Raise, naming the columns, when the (shrunk) covariance is singular to working precision."""
    sigma, v = np.asarray(sigma), np.asarray(v)
    constant = np.flatnonzero(np.asarray(constant) | ~(np.asarray(scale) > 0)).tolist()
    if constant and (not shrunk or len(constant) == v.shape[0]):
        raise ValueError(
            f"{name} has constant column(s) {constant} (zero variance): the Mahalanobis "
            "distance is undefined along them; drop them"
            + ("" if shrunk else ", or pass shrinkage > 0")
        )
    limit = _condition_limit(sigma.shape[0], dtype)
    ratio = sigma / sigma[0]
    weak = np.flatnonzero(~(ratio >= limit))
    if weak.size == 0:
        return
    vec = v[:, weak[-1]]
    involved = np.flatnonzero(np.abs(vec) >= 0.1 * np.abs(vec).max()).tolist()
    combination = " ".join(f"{vec[j]:+.3g} x[:, {j}]" for j in involved)
    raise ValueError(
        f"{name} has a singular covariance: its columns {involved} are collinear to working "
        f"precision (the standardised combination {combination} has a standard deviation "
        f"{float(ratio[weak[-1]]):.2g} times the largest, below {limit:.2g} = 200 sqrt(d) "
        f"eps for {np.dtype(dtype).name}); the Mahalanobis distance is undefined off the span "
        "of the data. Drop a redundant column, or pass shrinkage > 0 (a query off that span "
        "then gets a large, finite distance)"
    )


def _unit_scaled(v: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(v / m, m)`` per row with ``m = max |v_i|`` (1 for a zero row), without a gradient
    through ``m``. Divides by ``√m`` twice: ``1 / m`` itself is subnormal for ``m > 2^126`` in
    float32 and may be flushed to zero."""
    m = jax.lax.stop_gradient(jnp.max(jnp.abs(v), axis=1, keepdims=True))
    m = jnp.where(m > 0, m, 1.0)
    r = jax.lax.rsqrt(m)
    return (v * r) * r, m[:, 0]


def _squared_radius(fit: MahalanobisFit, x_query: jax.Array) -> jax.Array:
    diff = (x_query - fit.location) - fit.location_correction
    # ‖W d‖ = s t ‖W (d / s) / t‖ with s = max |d_i| and t = max |(W d / s)_j|: every term of the
    # product and of the norm is at most 1 in size, so a far query gets r² = inf, never the NaN
    # of inf - inf, and tiny scales do not underflow. The factors cancel analytically.
    u, s = _unit_scaled(diff)
    w, t = _unit_scaled(jnp.matmul(u, fit.whitening.T, precision=jax.lax.Precision.HIGHEST))
    return (s * t) ** 2 * jnp.sum(w**2, axis=1)


@jax.jit
def _mahalanobis(fit: MahalanobisFit, x_query: jax.Array) -> jax.Array:
    return 1.0 / (1.0 + _squared_radius(fit, x_query))


def mahalanobis_fit(x_ref: ArrayLike, *, shrinkage: float = 0.0) -> MahalanobisFit:
    """Moment estimates of location and scatter for :func:`mahalanobis_depth_from_fit`.

    The scatter is the unbiased sample covariance ``S`` shrunk towards a scaled identity,
    ``S_λ = (1 - λ) S + λ (tr S / d) I`` (Ledoit & Wolf 2004 target); ``λ = 0`` is the plain
    moment estimate, ``λ > 0`` keeps the precision well conditioned when ``n`` is close to ``d``
    or the columns are collinear.

    The mean is computed from differences to a centre near the data and kept as
    ``location + location_correction``, and the
    precision from the column-standardised sample (a QR factorisation without shrinkage), so
    that the depth is translation invariant in float32 too (offsets up to ``10^6`` and more)
    and does not depend on the units of the columns. A covariance that is singular to working
    precision is refused rather than inverted into NaN or garbage: when the ratio of the
    smallest to the largest singular value of the standardised sample is below
    ``200 √d ε`` (``ε`` the machine epsilon of the dtype; ``7e-5`` in float32 at ``d = 3``),
    the precision along the weakest direction would be known to less than about ``1%``. The
    data then lie (to rounding) on an affine subspace and the Mahalanobis distance of a query
    off it is undefined; projecting such queries onto the subspace would hide exactly the
    inputs an out-of-domain indicator must flag, so the fit raises instead, naming the
    collinear columns. Drop a redundant column, or pass ``shrinkage > 0``: the shrunk
    precision is finite and large off the span of the data, so such queries get large
    distances.

    Args:
        x_ref: ``(n, d)`` reference sample, ``n >= d + 1``.
        shrinkage: ``λ`` in ``[0, 1]``.

    Returns:
        :class:`MahalanobisFit`. Cost ``O(n d^2 + d^3)``.

    Raises:
        ValueError: bad input, a constant column, or collinear columns (the message names
            them and gives the remedies).

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.depth import mahalanobis_fit
        >>> x = jnp.array([[0.0, 0.0], [1.0, 2.0], [2.0, 4.1], [3.0, 5.9]])
        >>> mahalanobis_fit(x).precision.shape
        (2, 2)
        >>> mahalanobis_fit(x[:, [0, 0, 1]])
        Traceback (most recent call last):
        ...
        ValueError: x_ref has a singular covariance: its columns [0, 1] are collinear ...

    References:
        Mahalanobis, P. C. (1936). On the generalised distance in statistics. Proc. Natl. Inst.
        Sci. India 2, 49-55. Ledoit, O. & Wolf, M. (2004). A well-conditioned estimator for
        large-dimensional covariance matrices. J. Multivariate Anal. 88(2), 365-411.
    """
    x_ref = _validate.reference(x_ref, min_ref=2)
    if x_ref.shape[0] < x_ref.shape[1] + 1 and shrinkage == 0.0:
        raise ValueError(
            f"x_ref must have at least d + 1 = {x_ref.shape[1] + 1} rows without shrinkage, "
            f"got {x_ref.shape[0]}"
        )
    shrinkage = check_real("shrinkage", shrinkage, minimum=0.0, maximum=1.0)
    fit, parts = _fit(x_ref, jnp.asarray(shrinkage, x_ref.dtype), shrinkage > 0.0)
    if is_concrete(x_ref):
        _check_conditioning("x_ref", *parts, x_ref.dtype, shrinkage > 0.0)
    return fit


def mahalanobis_depth_from_fit(fit: MahalanobisFit, x_query: ArrayLike) -> jax.Array:
    """Mahalanobis depth of queries with respect to a fitted reference (higher = inside).

    Fit once with :func:`mahalanobis_fit`, then evaluate many query sets; equal to
    :func:`mahalanobis_depth` on the same reference.

    Args:
        fit: output of :func:`mahalanobis_fit`.
        x_query: ``(m, d)`` query points.

    Returns:
        ``(m,)`` depths ``1 / (1 + (z - μ)ᵀ Σ⁻¹ (z - μ))``. Cost ``O(m d^2)``.

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.depth import mahalanobis_depth_from_fit, mahalanobis_fit
        >>> fit = mahalanobis_fit(jnp.array([[-1.0, 0.0], [1.0, 0.0], [0.0, -1.0], [0.0, 1.0]]))
        >>> mahalanobis_depth_from_fit(fit, jnp.zeros((1, 2))).tolist()
        [1.0]
    """
    x_query = _validate.query_for(x_query, fit.location.shape[0], fit.location.dtype)
    return _mahalanobis(fit, x_query)


def mahalanobis_depth(x_query: ArrayLike, x_ref: ArrayLike, *, shrinkage: float = 0.0) -> jax.Array:
    """Mahalanobis depth ``D(z) = 1 / (1 + (z - μ̂)ᵀ Σ̂⁻¹ (z - μ̂))``.

    With moment estimates ``μ̂, Σ̂`` of the reference sample (see :func:`mahalanobis_fit` for
    the optional shrinkage). For a Gaussian reference the population depth is
    ``1 / (1 + r²)`` with ``r`` the Mahalanobis radius. Affine invariant when ``shrinkage = 0``.

    Args:
        x_query: ``(m, d)`` query points.
        x_ref: ``(n, d)`` reference sample.
        shrinkage: ``λ`` in ``[0, 1]``.

    Returns:
        ``(m,)`` depths in ``(0, 1]``. Cost ``O((n + m) d^2 + d^3)``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.depth import mahalanobis_depth
        >>> x = jax.random.normal(jax.random.key(0), (500, 2))
        >>> mahalanobis_depth(jnp.zeros((1, 2)), x).shape
        (1,)

    References:
        Mahalanobis, P. C. (1936). On the generalised distance in statistics. Proc. Natl. Inst.
        Sci. India 2, 49-55. Zuo, Y. & Serfling, R. (2000). General notions of statistical depth
        function. Ann. Statist. 28(2), 461-482.
    """
    x_query, x_ref = _validate.query_and_reference(x_query, x_ref)
    return mahalanobis_depth_from_fit(mahalanobis_fit(x_ref, shrinkage=shrinkage), x_query)


def _spatial_one(z: jax.Array, x_ref: jax.Array) -> jax.Array:
    diff = z - x_ref
    sq = jnp.sum(diff**2, axis=-1)
    nonzero = sq > 0
    norm = jnp.sqrt(jnp.where(nonzero, sq, 1.0))
    units = jnp.where(nonzero[:, None], diff / norm[:, None], 0.0)
    mean_unit = jnp.sum(units, axis=0) / x_ref.shape[0]
    return 1.0 - jnp.sqrt(jnp.sum(mean_unit**2))


@jax.jit
def _spatial(x_query: jax.Array, x_ref: jax.Array) -> jax.Array:
    centre = coarse_centre(x_ref)
    x_ref = x_ref - centre
    return jax.lax.map(lambda z: _spatial_one(z, x_ref), x_query - centre, batch_size=_BATCH)


@jax.jit
def _spatial_whitened(fit: MahalanobisFit, x_query: jax.Array, x_ref: jax.Array) -> jax.Array:
    # W (x - μ̂) for both sets: a rotation of Σ̂^{-1/2} (x - μ̂), which the depth ignores
    def whiten(x: jax.Array) -> jax.Array:
        diff = (x - fit.location) - fit.location_correction
        return jnp.matmul(diff, fit.whitening.T, precision=jax.lax.Precision.HIGHEST)

    x_ref = whiten(x_ref)
    return jax.lax.map(lambda z: _spatial_one(z, x_ref), whiten(x_query), batch_size=_BATCH)


def spatial_depth(x_query: ArrayLike, x_ref: ArrayLike, *, whiten: bool = False) -> jax.Array:
    """Spatial depth ``D(z) = 1 - ‖(1/n) Σ_i u(z - x_i)‖``, ``u(v) = v / ‖v‖`` (``u(0) = 0``).

    One minus the norm of the spatial (multivariate) rank of ``z``. It is 1 at the spatial
    median, e.g. at the centre of a centrally symmetric sample, and is rotation invariant. With
    ``whiten=True`` the data are first multiplied by ``Σ̂^{-1/2}`` (moment covariance), which
    makes it affine invariant. Both sets are centred at the reference mean first (the depth is
    translation invariant, and float32 would otherwise carry the rounding of a large offset
    into every unit vector); whitening refuses a singular covariance as
    :func:`mahalanobis_fit` does.

    Args:
        x_query: ``(m, d)`` query points.
        x_ref: ``(n, d)`` reference sample (``n >= d + 1`` when whitening).
        whiten: whether to whiten by the sample covariance first.

    Returns:
        ``(m,)`` depths in ``[0, 1]``. Cost ``O(m n d)`` time, ``O(256 n d)`` memory.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.depth import spatial_depth
        >>> x = jnp.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0]])
        >>> float(spatial_depth(jnp.zeros((1, 2)), x)[0])
        1.0

    References:
        Serfling, R. (2002). A depth function and a scale curve based on spatial quantiles. In
        Statistical Data Analysis Based on the L1-Norm and Related Methods, 25-38. Vardi, Y. &
        Zhang, C.-H. (2000). The multivariate L1-median and associated data depth. PNAS 97(4).
    """
    x_query, x_ref = _validate.query_and_reference(x_query, x_ref)
    if whiten and x_ref.shape[0] < x_ref.shape[1] + 1:
        raise ValueError(
            f"x_ref must have at least d + 1 = {x_ref.shape[1] + 1} rows to whiten, "
            f"got {x_ref.shape[0]}"
        )
    if whiten:
        return _spatial_whitened(mahalanobis_fit(x_ref), x_query, x_ref)
    return _spatial(x_query, x_ref)
