"""Autocorrelation-aware Monte Carlo errors: Gamma method, ESS, split R-hat, binning, jackknife.

All estimators accept one series of shape ``(n,)`` or several independent replica chains of shape
``(num_chains, n)``. Integer and boolean series (spins, counts) are promoted to JAX's default float
dtype; floating series keep their dtype (float32 or float64).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.special import ndtri
from jax.scipy.stats import rankdata

from edtjax._checks import as_array, check_int, check_real
from edtjax._typing import ArrayLike, PyTree

__all__ = [
    "GammaResult",
    "binned_error",
    "derived_error",
    "effective_sample_size",
    "gamma_method",
    "integrated_autocorr_time",
    "jackknife",
    "split_rhat",
]

_MIN_LENGTH = 4


class GammaResult(NamedTuple):
    """Result of the Gamma method for a primary or derived observable.

    Attributes:
        mean: estimate of the observable (``f`` of the sample means for a derived one).
        error: its statistical error, ``sqrt(C_F(W) / N)``.
        tau_int: integrated autocorrelation time at the chosen window, bias corrected.
        tau_int_error: its Madras-Sokal error, ``2 tau_int sqrt((W + 1/2 - tau_int) / N)``.
        window: the automatically chosen summation window ``W`` (int).
        variance: bias-corrected variance ``v_F = Gamma_F(0)`` of one measurement.
    """

    mean: jax.Array
    error: jax.Array
    tau_int: jax.Array
    tau_int_error: jax.Array
    window: jax.Array
    variance: jax.Array


def _as_chains(name: str, x: ArrayLike, *, min_length: int = _MIN_LENGTH) -> jax.Array:
    """Validate a series ``(n,)`` or ``(chains, n)`` and return it as ``(chains, n)`` floats."""
    arr = as_array(name, x, ndim=(1, 2))
    if not jnp.issubdtype(arr.dtype, jnp.inexact):
        arr = arr.astype(jnp.result_type(float))
    if jnp.issubdtype(arr.dtype, jnp.complexfloating):
        raise ValueError(f"{name} must be real, got dtype {arr.dtype}")
    arr = arr.reshape((1, -1)) if arr.ndim == 1 else arr
    if arr.shape[0] < 1 or arr.shape[1] < min_length:
        raise ValueError(
            f"{name} must hold at least one chain of length >= {min_length}, got shape {arr.shape}"
        )
    return arr


def _as_series_tree(name: str, data: PyTree) -> PyTree:
    """Validate a pytree of series that all share one shape ``(n,)`` or ``(chains, n)``."""
    leaves, treedef = jax.tree_util.tree_flatten(data)
    if not leaves:
        raise ValueError(f"{name} must contain at least one series")
    shapes = {jnp.shape(leaf) for leaf in leaves}
    if len(shapes) != 1:
        raise ValueError(f"{name} series must all have the same shape, got {sorted(shapes)}")
    chains = [_as_chains(f"{name} leaf {i}", leaf) for i, leaf in enumerate(leaves)]
    return jax.tree_util.tree_unflatten(treedef, chains)


def _check_scalar_fn(fn: object, data: PyTree) -> None:
    """Raise unless ``fn`` maps a pytree of scalars shaped like ``data`` to a real scalar."""
    if not callable(fn):
        raise ValueError(f"fn must be callable, got {type(fn).__name__}")
    means = jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct((), x.dtype), data)
    out = jax.eval_shape(fn, means)
    if not (
        isinstance(out, jax.ShapeDtypeStruct)
        and out.shape == ()
        and jnp.issubdtype(out.dtype, jnp.floating)
    ):
        raise ValueError(f"fn must return a real floating-point scalar from the means, got {out}")


def _next_fast_len(n: int) -> int:
    """Smallest 2^a 3^b 5^c >= n (fast FFT size)."""
    while True:
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 1


def _autocovariance(delta: jax.Array, max_lag: int) -> jax.Array:
    """``Gamma(t) = sum_r sum_i delta_{r,i} delta_{r,i+t} / (N - R t)`` for ``t <= max_lag``.

    Replica chains are combined as in Wolff (2004): lag products never cross chain
    boundaries. Computed by zero-padded FFT in ``O(R n log n)``.
    """
    num_chains, n = delta.shape
    size = _next_fast_len(2 * n)
    f = jnp.fft.rfft(delta, n=size, axis=-1)
    acov = jnp.fft.irfft(f * jnp.conj(f), n=size, axis=-1)[:, : max_lag + 1].sum(axis=0)
    lags = jnp.arange(max_lag + 1)
    return acov / (num_chains * (n - lags)).astype(delta.dtype)


def _mean(x: jax.Array) -> jax.Array:
    """Mean with one correction pass, ``m = m1 + mean(x - m1)``: exact for constant data and
    accurate in float32 for series with a large offset."""
    m1 = jnp.mean(x)
    return m1 + jnp.mean(x - m1)


def _gamma_from_deviations(delta: jax.Array, s_tau: ArrayLike) -> tuple[jax.Array, ...]:
    """Wolff's automatic windowing on a (projected) deviation series ``delta`` (chains, n).

    Returns ``(error, tau_int, tau_int_error, window, variance)``.
    """
    num_chains, n = delta.shape
    total = num_chains * n
    dtype = delta.dtype
    max_lag = n // 2
    gamma = _autocovariance(delta, max_lag)
    gamma0 = gamma[0]
    has_var = gamma0 > 0
    rho = jnp.where(has_var, gamma / jnp.where(has_var, gamma0, 1), 0)
    # g(W) = exp(-W/tau_W) - tau_W / sqrt(W N), tau_W = S_tau / log((2 tau+1)/(2 tau-1)).
    windows = jnp.arange(1, max_lag + 1, dtype=dtype)
    gint = jnp.cumsum(rho[1:])  # tau_int(W) - 1/2
    positive = gint > 0
    gsafe = jnp.where(positive, gint, 1)
    tau_w = jnp.asarray(s_tau, dtype) / jnp.log((gsafe + 1) / gsafe)
    g = jnp.exp(-windows / tau_w) - tau_w / jnp.sqrt(windows * total)
    stop = ~positive | (g < 0)
    window = jnp.where(jnp.any(stop), jnp.argmax(stop) + 1, max_lag)
    lags = jnp.arange(max_lag + 1)
    in_window = (lags >= 1) & (lags <= window)

    def c_f(gam: jax.Array) -> jax.Array:
        return gam[0] + 2 * jnp.sum(jnp.where(in_window, gam, 0))

    gamma = gamma + c_f(gamma) / total  # Wolff's O(1/N) bias correction of Gamma(t)
    cf = c_f(gamma)
    variance = gamma[0]
    tau = jnp.where(has_var, cf / (2 * jnp.where(has_var, variance, 1)), 0.5).astype(dtype)
    error = jnp.sqrt(jnp.where(has_var, cf, 0) / total)
    tau_err = 2 * tau * jnp.sqrt((window + 0.5 - tau) / total)
    return error, tau, tau_err.astype(dtype), window, variance


@jax.jit
def _gamma_method(x: jax.Array, s_tau: ArrayLike) -> GammaResult:
    mean = _mean(x)
    error, tau, tau_err, window, variance = _gamma_from_deviations(x - mean, s_tau)
    return GammaResult(mean, error, tau, tau_err, window, variance)


def gamma_method(x: ArrayLike, *, s_tau: float = 1.5) -> GammaResult:
    r"""Mean, error and integrated autocorrelation time by the Gamma method (Wolff 2004).

    With deviations ``d_i = x_i - xbar`` (replicas ``r`` of length ``n``, ``N = R n`` in all),

    .. math::
        \Gamma(t) = \frac{1}{N - R t} \sum_r \sum_{i=1}^{n-t} d_{r,i} d_{r,i+t}, \quad
        \tau_{int}(W) = \tfrac12 + \sum_{t=1}^{W} \Gamma(t) / \Gamma(0).

    The window ``W`` is the first at which
    ``g(W) = exp(-W / tau_W) - tau_W / sqrt(W N)`` turns negative, with
    ``tau_W = S_tau / log((2 tau_int(W) + 1) / (2 tau_int(W) - 1))``; this balances the
    truncation bias against the statistical error under the assumption that slow modes decay
    with ``tau ~ S_tau tau_int``. ``Gamma`` is then bias corrected,
    ``Gamma(t) += C_F(W) / N`` with ``C_F(W) = Gamma(0) + 2 sum_{t=1}^{W} Gamma(t)``, and

    .. math::
        \sigma = \sqrt{C_F(W) / N}, \quad \tau_{int} = C_F(W) / (2 \Gamma(0)), \quad
        \delta\tau_{int} = 2 \tau_{int} \sqrt{(W + 1/2 - \tau_{int}) / N}.

    If no window satisfies the criterion below ``n // 2``, ``W = n // 2`` (the series is too
    short for its autocorrelation; enlarge it). A constant series gives error 0, ``tau_int``
    1/2. Pathological estimates are not hidden: a negative ``C_F(W)`` (possible for derived
    quantities) gives a NaN error, and ``tau_int > W + 1/2`` a NaN ``tau_int_error``.
    Jit-compiled; differentiable in ``x`` (the window is piecewise constant).

    Args:
        x: series of shape ``(n,)`` or replica chains ``(num_chains, n)``, ``n >= 4``.
        s_tau: ``S_tau > 0``, the assumed ratio of the slowest mode's exponential time to
            ``tau_int``; 1.5 is Wolff's default, larger for strongly critical data.

    Returns:
        :class:`GammaResult` of scalars in the dtype of ``x``.

    Cost: ``O(N log N)`` time (FFT) and ``O(N)`` memory.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.mcmc import gamma_method
        >>> x = jax.random.normal(jax.random.key(0), (2, 1000))
        >>> res = gamma_method(x)
        >>> bool(abs(res.tau_int - 0.5) < 0.1)
        True

    References:
        U. Wolff, "Monte Carlo errors with less errors", Comput. Phys. Commun. 156 (2004) 143,
        hep-lat/0306017. N. Madras and A. D. Sokal, J. Stat. Phys. 50 (1988) 109.
    """
    x = _as_chains("x", x)
    s_tau = check_real("s_tau", s_tau, minimum=0.0, strict_minimum=True)
    return _gamma_method(x, s_tau)


@functools.partial(jax.jit, static_argnums=0)
def _derived_error(
    fn: Callable[[PyTree], jax.Array], data: PyTree, s_tau: ArrayLike
) -> GammaResult:
    means = jax.tree_util.tree_map(_mean, data)
    value, grads = jax.value_and_grad(fn)(means)
    projected = sum(
        jax.tree_util.tree_leaves(
            jax.tree_util.tree_map(lambda g, x, m: g * (x - m), grads, data, means)
        )
    )
    error, tau, tau_err, window, variance = _gamma_from_deviations(projected, s_tau)
    num_chains = projected.shape[0]
    if num_chains > 1:
        # Replica bias cancellation of Wolff (2004) and his UWerr code: with F_r = fn of the
        # replica-r means, F -= (mean_r F_r - F) / (R - 1), removing the O(1/N) bias of F.
        replica_means = jax.tree_util.tree_map(jax.vmap(_mean), data)
        replica_values = jax.vmap(fn)(replica_means)
        value = value - (jnp.mean(replica_values) - value) / (num_chains - 1)
    return GammaResult(value, error, tau, tau_err, window, variance)


def derived_error(
    fn: Callable[[PyTree], jax.Array], data: PyTree, *, s_tau: float = 1.5
) -> GammaResult:
    r"""Gamma-method error of a derived quantity ``F = fn(<A>, <B>, ...)`` (Wolff 2004).

    The primary series are projected onto the gradient of ``fn`` at the sample means,
    ``d_i = sum_alpha dF/dA_alpha (a_{alpha,i} - abar_alpha)`` (gradient by :func:`jax.grad`),
    and the projected series goes through the automatic windowing of :func:`gamma_method`. The
    linear propagation is exact to leading order in ``1/N``. ``mean`` is ``F = fn(abar)``;
    with ``R >= 2`` replica chains its ``O(1/N)`` bias is cancelled as in Wolff's replica
    method, using the values ``F_r`` on each replica: ``F - (mean_r F_r - F) / (R - 1)``.

    Args:
        fn: scalar function of a pytree of scalars shaped like ``data`` (the sample means),
            e.g. ``lambda m: beta * L**2 * (m["m2"] - m["abs_m"] ** 2)``. Must be a pure JAX
            function; it is a static argument of the compiled computation.
        data: pytree of primary series, every leaf of the same shape ``(n,)`` or
            ``(num_chains, n)`` (measured on the same configurations).
        s_tau: see :func:`gamma_method`.

    Returns:
        :class:`GammaResult` for ``F``.

    Cost: ``O(A N + N log N)`` for ``A`` primary observables.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.mcmc import derived_error
        >>> m = jax.random.normal(jax.random.key(0), (4000,))
        >>> res = derived_error(lambda a: a["m4"] / (3 * a["m2"] ** 2), {"m2": m**2, "m4": m**4})
        >>> bool(abs(res.mean - 1.0) < 5 * res.error)
        True

    References:
        U. Wolff, "Monte Carlo errors with less errors", Comput. Phys. Commun. 156 (2004) 143.
    """
    data = _as_series_tree("data", data)
    _check_scalar_fn(fn, data)
    s_tau = check_real("s_tau", s_tau, minimum=0.0, strict_minimum=True)
    return _derived_error(fn, data, s_tau)


def integrated_autocorr_time(x: ArrayLike, *, s_tau: float = 1.5) -> tuple[jax.Array, jax.Array]:
    """Integrated autocorrelation time and its error, ``(tau_int, tau_int_error)``.

    A shortcut for the corresponding fields of :func:`gamma_method` (same conventions:
    ``tau_int = 1/2`` for independent samples, error of the mean ``sqrt(2 tau_int var / N)``).

    Example:
        >>> import jax
        >>> from edtjax.mcmc import integrated_autocorr_time
        >>> tau, dtau = integrated_autocorr_time(jax.random.normal(jax.random.key(1), (500,)))

    References:
        U. Wolff, Comput. Phys. Commun. 156 (2004) 143.
    """
    res = gamma_method(x, s_tau=s_tau)
    return res.tau_int, res.tau_int_error


def effective_sample_size(x: ArrayLike, *, s_tau: float = 1.5) -> jax.Array:
    """Effective number of independent samples, ``N / (2 tau_int)`` with the Gamma-method tau.

    Args:
        x: series ``(n,)`` or chains ``(num_chains, n)``; ``N`` counts all samples.
        s_tau: see :func:`gamma_method`.

    Example:
        >>> import jax
        >>> from edtjax.mcmc import effective_sample_size
        >>> ess = effective_sample_size(jax.random.normal(jax.random.key(2), (4, 500)))

    References:
        U. Wolff, Comput. Phys. Commun. 156 (2004) 143; A. Sokal, "Monte Carlo methods in
        statistical mechanics" (1996 Cargèse lectures).
    """
    arr = _as_chains("x", x)
    res = gamma_method(arr, s_tau=s_tau)
    return (arr.size / (2 * res.tau_int)).astype(arr.dtype)


def _potential_scale_reduction(z: jax.Array) -> jax.Array:
    """Classic ``R = sqrt(var_hat / W)`` of Gelman-Rubin for chains ``z`` of shape (m, n)."""
    n = z.shape[1]
    within = jnp.mean(jnp.var(z, axis=1, ddof=1))
    between = n * jnp.var(jnp.mean(z, axis=1), ddof=1)
    var_hat = (n - 1) / n * within + between / n
    return jnp.sqrt(var_hat / within)


def _rank_normalize(z: jax.Array) -> jax.Array:
    """``Phi^{-1}((r - 3/8) / (S + 1/4))`` with average ranks ``r`` over all ``S`` draws."""
    ranks = rankdata(z.ravel(), method="average").reshape(z.shape).astype(z.dtype)
    return ndtri((ranks - 0.375) / (z.size + 0.25))


@jax.jit
def _split_rhat(x: jax.Array) -> jax.Array:
    half = x.shape[1] // 2
    split = jnp.concatenate([x[:, :half], x[:, -half:]], axis=0)
    bulk = _potential_scale_reduction(_rank_normalize(split))
    folded = jnp.abs(split - jnp.median(split))
    tail = _potential_scale_reduction(_rank_normalize(folded))
    return jnp.maximum(bulk, tail)


def split_rhat(x: ArrayLike) -> jax.Array:
    r"""Rank-normalised split R-hat (Vehtari, Gelman, Simpson, Carpenter, Bürkner 2021).

    Each chain is split in halves (the middle draw of an odd chain is dropped), giving ``M``
    chains of length ``n``. Draws are replaced by normal scores of their pooled average ranks,
    ``z = Phi^{-1}((r - 3/8) / (S + 1/4))``, and the classic potential scale reduction

    .. math::
        \hat R = \sqrt{\frac{\frac{n-1}{n} W + \frac{1}{n} B}{W}}, \quad
        W = \frac{1}{M}\sum_m s_m^2, \quad B = \frac{n}{M-1} \sum_m (\bar z_m - \bar z)^2

    is computed for the bulk (``z``) and for the tails (ranks of ``|x - median(x)|``); the
    result is the larger of the two. Values above about 1.01 signal non-convergence.

    Args:
        x: chains of shape ``(num_chains, n)`` with ``n >= 4``.

    Returns:
        scalar R-hat in the dtype of ``x``.

    Cost: ``O(N log N)`` (ranking) for ``N`` draws in all.

    Example:
        >>> import jax
        >>> from edtjax.mcmc import split_rhat
        >>> rhat = split_rhat(jax.random.normal(jax.random.key(0), (4, 1000)))
        >>> bool(rhat < 1.01)
        True

    References:
        A. Vehtari, A. Gelman, D. Simpson, B. Carpenter, P.-C. Bürkner, "Rank-normalization,
        folding, and localization: an improved R-hat for assessing convergence of MCMC",
        Bayesian Analysis 16(2) (2021) 667.
    """
    arr = as_array("x", x, ndim=2)
    return _split_rhat(_as_chains("x", arr))


def _bin_means(x: jax.Array, num_bins: int) -> jax.Array:
    """Means of ``num_bins`` consecutive blocks per chain, flattened to (chains * num_bins,)."""
    num_chains, n = x.shape
    size = n // num_bins
    blocks = x[:, : num_bins * size].reshape(num_chains, num_bins, size)
    return jnp.mean(blocks, axis=-1).reshape(-1)


def _check_bins(x: jax.Array, num_bins: object) -> int:
    num_bins = check_int("num_bins", num_bins, minimum=2)
    if num_bins > x.shape[1]:
        raise ValueError(f"num_bins must be <= the chain length {x.shape[1]}, got {num_bins}")
    return num_bins


@functools.partial(jax.jit, static_argnums=1)
def _binned_error(x: jax.Array, num_bins: int) -> jax.Array:
    means = _bin_means(x, num_bins)
    return jnp.std(means, ddof=1) / jnp.sqrt(jnp.asarray(means.size, x.dtype))


def binned_error(x: ArrayLike, num_bins: int) -> jax.Array:
    """Standard error of the mean by binning (blocking) into ``num_bins`` bins per chain.

    Each chain is cut into ``num_bins`` consecutive blocks of ``b = n // num_bins`` samples
    (a remainder at the end of the chain is dropped); with ``K`` block means ``B_k`` in all,
    ``error = std(B, ddof=1) / sqrt(K)``. Unbiased once ``b >> tau_int``.

    Args:
        x: series ``(n,)`` or chains ``(num_chains, n)``.
        num_bins: bins per chain, ``2 <= num_bins <= n`` (static: one compilation per value).

    Cost: ``O(N)``.

    Example:
        >>> import jax
        >>> from edtjax.mcmc import binned_error
        >>> err = binned_error(jax.random.normal(jax.random.key(0), (1000,)), 20)

    References:
        H. Flyvbjerg and H. G. Petersen, "Error estimates on averages of correlated data",
        J. Chem. Phys. 91 (1989) 461.
    """
    arr = _as_chains("x", x, min_length=2)
    return _binned_error(arr, _check_bins(arr, num_bins))


@functools.partial(jax.jit, static_argnums=(0, 2))
def _jackknife(
    fn: Callable[[PyTree], jax.Array], data: PyTree, num_bins: int
) -> tuple[jax.Array, jax.Array]:
    blocks = jax.tree_util.tree_map(lambda x: _bin_means(x, num_bins), data)
    k = jax.tree_util.tree_leaves(blocks)[0].shape[0]
    full = jax.tree_util.tree_map(jnp.mean, blocks)
    leave_one_out = jax.tree_util.tree_map(lambda b: (jnp.sum(b) - b) / (k - 1), blocks)
    f_full = fn(full)
    f_loo = jax.vmap(fn)(leave_one_out)
    f_bar = jnp.mean(f_loo)
    estimate = k * f_full - (k - 1) * f_bar
    error = jnp.sqrt((k - 1) / k * jnp.sum((f_loo - f_bar) ** 2))
    return estimate, error


def jackknife(
    fn: Callable[[PyTree], jax.Array], data: PyTree, *, num_bins: int = 20
) -> tuple[jax.Array, jax.Array]:
    r"""Binned jackknife estimate and error of ``F = fn(<A>, <B>, ...)`` with bias correction.

    Every primary series is cut into ``num_bins`` blocks per chain (``K`` blocks in all, see
    :func:`binned_error`). With ``F_k`` the function of the means over all blocks but ``k``,
    ``Fbar = mean_k F_k`` and ``F`` the function of the full means,

    .. math::
        \hat F = K F - (K - 1) \bar F, \qquad
        \sigma_F = \sqrt{\tfrac{K-1}{K} \sum_k (F_k - \bar F)^2},

    which removes the ``O(1/N)`` bias of a nonlinear ``fn`` and accounts for autocorrelation
    once the block length exceeds ``tau_int``.

    Args:
        fn: scalar function of a pytree of scalars shaped like ``data`` (static argument).
        data: pytree of series, all leaves of one shape ``(n,)`` or ``(num_chains, n)``.
        num_bins: bins per chain, ``2 <= num_bins <= n`` (static).

    Returns:
        ``(estimate, error)`` scalars.

    Cost: ``O(A N + K C_fn)`` for ``A`` series and ``fn`` cost ``C_fn`` (vmapped over blocks).

    Example:
        >>> import jax
        >>> from edtjax.mcmc import jackknife
        >>> k1, k2 = jax.random.split(jax.random.key(0))
        >>> a = 2.0 + jax.random.normal(k1, (1000,))
        >>> b = 4.0 + jax.random.normal(k2, (1000,))
        >>> ratio, err = jackknife(lambda m: m[0] / m[1], (a, b))

    References:
        B. Efron, "The Jackknife, the Bootstrap and Other Resampling Plans" (SIAM, 1982);
        M. H. Quenouille, Biometrika 43 (1956) 353.
    """
    data = _as_series_tree("data", data)
    _check_scalar_fn(fn, data)
    first = jax.tree_util.tree_leaves(data)[0]
    return _jackknife(fn, data, _check_bins(first, num_bins))
