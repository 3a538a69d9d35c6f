r"""Exact Gaussian-process regression with ARD kernels, fitted by maximising the evidence.

Model: :math:`f\sim\mathcal{GP}(0, k_\theta)`, :math:`y_i = f(x_i) + \varepsilon_i`,
:math:`\varepsilon_i\sim\mathcal N(0,\sigma_n^2)`. Hyper-parameters are kept on the log scale
(:class:`GPParams`). All linear algebra uses a Cholesky factor of
:math:`K + \sigma_n^2 I`; this needs **float64** (enable ``jax_enable_x64``): inputs in lower
precision are rejected. Cost: :math:`O(n^3)` to factor, :math:`O(n^2)` per test point.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.scipy.linalg import cho_solve, solve_triangular

from edtjax._checks import as_array, check_choice, check_int, check_real, check_same_length
from edtjax._typing import ArrayLike, PyTree
from edtjax.surrogates.method import SurrogateMethod, check_options, check_xy
from edtjax.surrogates.predictive import Predictive

__all__ = [
    "GPFit",
    "GPOptions",
    "GPParams",
    "GPState",
    "fit_gp",
    "gaussian_process",
    "gp_kernel",
    "gp_log_marginal_likelihood",
    "gp_predict",
]

_KERNELS = ("matern32", "matern52", "rbf")
_JITTERS = (0.0, 1e-10, 1e-9, 1e-8, 1e-7, 1e-6, 1e-5, 1e-4)


class GPParams(NamedTuple):
    """Log hyper-parameters of a GP.

    Attributes:
        log_lengthscales: :math:`\\log\\ell_j`, shape ``(p,)`` (one per input: ARD).
        log_variance: log signal variance :math:`\\log s^2`.
        log_noise: log noise variance :math:`\\log\\sigma_n^2`.
    """

    log_lengthscales: jax.Array
    log_variance: jax.Array
    log_noise: jax.Array


class GPFit(NamedTuple):
    """Result of :func:`fit_gp`: final ``params`` and the negative log evidence per step."""

    params: GPParams
    loss: jax.Array


def gp_kernel(kind: str, params: GPParams, x1: jax.Array, x2: jax.Array) -> jax.Array:
    r"""ARD stationary kernel matrix :math:`k(x_1, x_2)`, shape ``(n1, n2)``.

    With :math:`r = \|(x-x')/\ell\|`: ``"rbf"`` :math:`s^2e^{-r^2/2}`; ``"matern32"``
    :math:`s^2(1+\sqrt3r)e^{-\sqrt3r}`; ``"matern52"`` :math:`s^2(1+\sqrt5r+5r^2/3)e^{-\sqrt5r}`.
    The distance uses a zero-safe square root, so gradients are finite at :math:`r = 0`.
    Cost :math:`O(n_1n_2p)`.

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.surrogates import GPParams, gp_kernel
        >>> p = GPParams(jnp.zeros(2), jnp.zeros(()), jnp.log(1e-2))
        >>> gp_kernel("matern52", p, jnp.zeros((3, 2)), jnp.ones((4, 2))).shape
        (3, 4)

    References:
        Rasmussen, C. E. and Williams, C. K. I. (2006). Gaussian Processes for Machine Learning.
        MIT Press, Sec. 4.2 (eqs. 4.9, 4.17).
    """
    ell = jnp.exp(params.log_lengthscales)
    a, b = x1 / ell, x2 / ell
    r2 = (
        jnp.sum(a**2, -1)[:, None]
        + jnp.sum(b**2, -1)[None, :]
        - 2 * jnp.matmul(a, b.T, precision=jax.lax.Precision.HIGHEST)
    )
    r2 = jnp.maximum(r2, 0.0)
    s2 = jnp.exp(params.log_variance)
    if kind == "rbf":
        return s2 * jnp.exp(-0.5 * r2)
    positive = r2 > 0
    r = jnp.where(positive, jnp.sqrt(jnp.where(positive, r2, 1.0)), 0.0)
    if kind == "matern32":
        z = jnp.sqrt(3.0) * r
        return s2 * (1 + z) * jnp.exp(-z)
    z = jnp.sqrt(5.0) * r
    return s2 * (1 + z + z**2 / 3) * jnp.exp(-z)


def _factor(kind, params, x, jitter):
    k = gp_kernel(kind, params, x, x)
    n = x.shape[0]
    scale = jnp.exp(params.log_variance)
    k = k + (jnp.exp(params.log_noise) + jitter * scale) * jnp.eye(n, dtype=x.dtype)
    return jnp.linalg.cholesky(k)


def _lml(kind, params, x, y, jitter):
    chol = _factor(kind, params, x, jitter)
    alpha = cho_solve((chol, True), y)
    n = y.shape[0]
    return -0.5 * y @ alpha - jnp.sum(jnp.log(jnp.diag(chol))) - 0.5 * n * jnp.log(2 * jnp.pi)


def _validate(x, y, kind):
    x = as_array("x", x, ndim=2)
    y = as_array("y", y, ndim=1)
    check_same_length(("x", "y"), x, y)
    check_choice("kernel", kind, _KERNELS)
    for name, a in (("x", x), ("y", y)):
        if a.dtype != jnp.float64:
            raise ValueError(
                f"{name} must be float64 for a stable Cholesky factor, got {a.dtype} "
                "(enable jax_enable_x64 and pass float64 arrays)"
            )
    return x, y


def _stable_jitter(kind, params, x, max_jitter):
    """Smallest jitter (relative to the signal variance) giving a finite Cholesky factor."""
    tried = []
    for jitter in _JITTERS:
        if jitter > max_jitter:
            break
        tried.append(jitter)
        if bool(jnp.all(jnp.isfinite(_factor_jit(kind, params, x, jitter)))):
            return jitter
    raise ValueError(
        "kernel matrix K + noise I is not positive definite; jitter tried (times the signal "
        f"variance): {tried}. Check for duplicated inputs, increase the noise or max_jitter."
    )


_factor_jit = jax.jit(_factor, static_argnums=0)


def gp_log_marginal_likelihood(
    params: GPParams, x: ArrayLike, y: ArrayLike, *, kernel: str = "rbf", jitter: float = 0.0
) -> jax.Array:
    r"""Log evidence :math:`\log p(y\mid X,\theta) = -\tfrac12y^\top K_y^{-1}y -
    \sum_i\log L_{ii} - \tfrac n2\log2\pi`, :math:`K_y = K + (\sigma_n^2 + \text{jitter}\,s^2)I
    = LL^\top`.

    Differentiable in ``params`` (Rasmussen & Williams 2006, eq. 5.9 gives the gradient that
    autodiff reproduces). Cost :math:`O(n^3)`. Pure: no validation, composes with
    ``jit``/``grad``; use float64 inputs.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.surrogates import GPParams, gp_log_marginal_likelihood
        >>> p = GPParams(jnp.zeros(1), jnp.zeros(()), jnp.log(0.1))
        >>> x = jnp.linspace(0, 1, 5)[:, None]
        >>> value = gp_log_marginal_likelihood(p, x, jnp.sin(x[:, 0]))

    References:
        Rasmussen, C. E. and Williams, C. K. I. (2006). Gaussian Processes for Machine Learning.
        MIT Press, Algorithm 2.1 and eq. 2.30.
    """
    return _lml(kernel, params, x, y, jitter)


@functools.partial(jax.jit, static_argnames=("kind",))
def _predict(params, x, y, x_new, jitter, *, kind):
    chol = _factor(kind, params, x, jitter)
    k_star = gp_kernel(kind, params, x, x_new)
    mean = k_star.T @ cho_solve((chol, True), y)
    v = solve_triangular(chol, k_star, lower=True)
    latent = jnp.exp(params.log_variance) - jnp.sum(v**2, axis=0)
    noise = jnp.exp(params.log_noise)
    return Predictive(
        mean=mean[:, None],
        variance=(latent + noise)[:, None],
        aleatoric=jnp.full((x_new.shape[0], 1), noise, x_new.dtype),
    )


def gp_predict(
    params: GPParams,
    x: ArrayLike,
    y: ArrayLike,
    x_new: ArrayLike,
    *,
    kernel: str = "rbf",
    max_jitter: float = 1e-4,
) -> Predictive:
    r"""GP posterior predictive at ``x_new`` (jitted).

    :math:`\mu_* = k_*^\top K_y^{-1}y`, :math:`\sigma_*^2 = k(x_*,x_*) - k_*^\top K_y^{-1}k_*
    + \sigma_n^2` (the ``aleatoric`` part is :math:`\sigma_n^2`). If :math:`K_y` is not
    numerically positive definite, a jitter :math:`\in\{10^{-10},\dots\}\cdot s^2` up to
    ``max_jitter`` is added, the smallest that works. Cost :math:`O(n^3 + mn^2)`.

    Args:
        params: hyper-parameters (e.g. ``fit_gp(...).params``).
        x: training inputs, float64, shape ``(n, p)``.
        y: training targets, float64, shape ``(n,)``.
        x_new: test inputs, shape ``(m, p)``.
        kernel: ``"rbf"``, ``"matern32"`` or ``"matern52"``.
        max_jitter: largest relative jitter to try.

    Returns:
        A :class:`Predictive` with ``mean``, ``variance``, ``aleatoric`` of shape ``(m, 1)``.

    Raises:
        ValueError: bad shapes, non-float64 data, NaN targets, or a kernel matrix that stays
            non-positive-definite with every jitter tried (the message lists them).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.surrogates import GPParams, gp_predict
        >>> with jax.enable_x64(True):  # float64 for this block only
        ...     x = jnp.linspace(0, 1, 8)[:, None]
        ...     p = GPParams(jnp.zeros(1), jnp.zeros(()), jnp.log(1e-2))
        ...     pred = gp_predict(p, x, jnp.sin(3 * x[:, 0]), x[:2])

    References:
        Rasmussen, C. E. and Williams, C. K. I. (2006). Gaussian Processes for Machine Learning.
        MIT Press, Algorithm 2.1.
    """
    x, y = _validate(x, y, kernel)
    x_new = as_array("x_new", x_new, ndim=2)
    if x_new.shape[1] != x.shape[1]:
        raise ValueError(f"x_new must have {x.shape[1]} columns, got {x_new.shape[1]}")
    check_real("max_jitter", max_jitter, minimum=0.0)
    jitter = _stable_jitter(kernel, params, x, max_jitter)
    return _predict(params, x, y, x_new.astype(x.dtype), jitter, kind=kernel)


@functools.partial(jax.jit, static_argnames=("kind", "steps"))
def _fit(params, x, y, learning_rate, jitter, *, kind, steps):
    opt = optax.adam(1.0)
    loss_fn = jax.value_and_grad(lambda p: -_lml(kind, p, x, y, jitter) / x.shape[0])

    def step(carry: PyTree, _: None) -> tuple[PyTree, jax.Array]:
        p, s = carry
        value, g = loss_fn(p)
        updates, s = opt.update(g, s, p)
        updates = jax.tree.map(lambda u: learning_rate * u, updates)
        return (optax.apply_updates(p, updates), s), value

    (params, _), losses = jax.lax.scan(step, (params, opt.init(params)), None, length=steps)
    return GPFit(params, losses)


def fit_gp(
    x: ArrayLike,
    y: ArrayLike,
    *,
    kernel: str = "rbf",
    params: GPParams | None = None,
    steps: int = 300,
    learning_rate: float = 0.05,
    jitter: float = 1e-8,
) -> GPFit:
    r"""Fit GP hyper-parameters by maximising the log evidence with Adam (jitted).

    Minimises :math:`-\log p(y\mid X,\theta)/n` over :math:`\theta` = (log length-scales, log
    signal variance, log noise) for ``steps`` Adam steps in a ``lax.scan``. The default start is
    :math:`\ell_j` = the standard deviation of input column :math:`j`, :math:`s^2 =
    \mathrm{var}(y)`, :math:`\sigma_n^2 = 0.1\,\mathrm{var}(y)`. A second call with new data
    of the same shape does not recompile. Cost :math:`O(\text{steps}\cdot n^3)`.

    Args:
        x: inputs, float64, shape ``(n, p)``.
        y: targets, float64, shape ``(n,)`` (centre them first: the prior mean is zero).
        kernel: ``"rbf"``, ``"matern32"`` or ``"matern52"``.
        params: starting point (default as above).
        steps: number of Adam steps.
        learning_rate: Adam step size on the log scale.
        jitter: relative jitter added during fitting.

    Returns:
        A :class:`GPFit` (``params`` and the loss per step).

    Raises:
        ValueError: bad shapes, non-float64 data, NaN targets, or a non-finite evidence.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.surrogates import fit_gp
        >>> with jax.enable_x64(True):  # float64 for this block only
        ...     x = jnp.linspace(0, 1, 20)[:, None]
        ...     result = fit_gp(x, jnp.sin(6 * x[:, 0]), steps=50)

    References:
        Rasmussen, C. E. and Williams, C. K. I. (2006). Gaussian Processes for Machine Learning.
        MIT Press, Ch. 5.
    """
    x, y = _validate(x, y, kernel)
    steps = check_int("steps", steps, minimum=1)
    check_real("learning_rate", learning_rate, minimum=0.0, strict_minimum=True)
    check_real("jitter", jitter, minimum=0.0)
    if params is None:
        vy = jnp.maximum(jnp.var(y), 1e-12)
        params = GPParams(
            jnp.log(jnp.maximum(jnp.std(x, axis=0), 1e-12)), jnp.log(vy), jnp.log(0.1 * vy)
        )
    result = _fit(params, x, y, learning_rate, jitter, kind=kernel, steps=steps)
    if not bool(jnp.all(jnp.isfinite(result.loss))):
        raise ValueError(
            f"the log evidence became non-finite during fitting with jitter={jitter}; "
            "increase jitter or lower learning_rate"
        )
    return result


class GPOptions(NamedTuple):
    """Options of :data:`gaussian_process` (hashable).

    Attributes:
        kernel: ``"rbf"``, ``"matern32"`` or ``"matern52"``.
        steps: Adam steps of :func:`fit_gp`.
        learning_rate: Adam step size of :func:`fit_gp`.
        jitter: relative jitter during fitting.
        max_jitter: largest relative jitter tried for prediction (as in :func:`gp_predict`).
    """

    kernel: str = "rbf"
    steps: int = 300
    learning_rate: float = 0.05
    jitter: float = 1e-8
    max_jitter: float = 1e-4


@functools.partial(
    jax.tree_util.register_dataclass,
    data_fields=["params", "x", "y", "jitter"],
    meta_fields=["kernel"],
)
@dataclasses.dataclass(frozen=True)
class GPState:
    """Fitted independent GPs, one per output column.

    Attributes:
        params: one :class:`GPParams` per output, a tuple of length ``d``.
        x: training inputs, float64, shape ``(n, p)``.
        y: training targets, float64, shape ``(n, d)``.
        jitter: the relative jitter each output's prediction uses (the smallest that gives a
            finite Cholesky factor, found at fit time), shape ``(d,)``.
        kernel: the kernel name (static).
    """

    params: tuple[GPParams, ...]
    x: jax.Array
    y: jax.Array
    jitter: jax.Array
    kernel: str


def _fit_gaussian_process(
    key: jax.Array, x: ArrayLike, y: ArrayLike, options: GPOptions | None = None
) -> GPState:
    del key  # evidence maximisation from the default start is deterministic
    options = check_options(options, GPOptions)
    check_real("max_jitter", options.max_jitter, minimum=0.0)
    x, y = check_xy(x, y)
    params, jitters = [], []
    for j in range(y.shape[1]):
        fitted = fit_gp(
            x,
            y[:, j],
            kernel=options.kernel,
            steps=options.steps,
            learning_rate=options.learning_rate,
            jitter=options.jitter,
        ).params
        jitters.append(_stable_jitter(options.kernel, fitted, x, options.max_jitter))
        params.append(fitted)
    return GPState(tuple(params), x, y, jnp.asarray(jitters, x.dtype), options.kernel)


def _predict_gaussian_process(state: GPState, x: ArrayLike) -> Predictive:
    x_new = jnp.asarray(x).astype(state.x.dtype)
    columns = [
        _predict(p, state.x, state.y[:, j], x_new, state.jitter[j], kind=state.kernel)
        for j, p in enumerate(state.params)
    ]
    return jax.tree.map(lambda *c: jnp.concatenate(c, axis=1), *columns)


gaussian_process = SurrogateMethod(_fit_gaussian_process, _predict_gaussian_process)
"""Exact GP regression, one independent GP per output (:func:`fit_gp`, then the predictive of
:func:`gp_predict` with the jitter found at fit time); options :class:`GPOptions`, state
:class:`GPState`. Needs float64 data; the key is unused.

Example:
    >>> import jax, jax.numpy as jnp
    >>> from edtjax.surrogates import GPOptions, gaussian_process
    >>> with jax.enable_x64(True):  # float64 for this block only
    ...     x = jnp.linspace(0, 1, 12)[:, None]
    ...     state = gaussian_process.fit(jax.random.key(0), x, jnp.sin(6 * x), GPOptions(steps=20))
    ...     pred = jax.jit(gaussian_process.predict)(state, x[:3])
    >>> pred.mean.shape
    (3, 1)
"""
