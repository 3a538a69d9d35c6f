"""Optax training loop for networks (:class:`~edtjax.surrogates.MLP`,
:class:`~edtjax.surrogates.MDN` or your own :class:`~edtjax.surrogates.Surrogate`).

A loss is a function. The three built-in losses take arrays (``gaussian_nll_loss(mean,
variance, y)``, ``mse_loss(mean, y)``, ``mixture_nll_loss(logits, means, variances, y)``) and
are fed from the network's :class:`~edtjax.surrogates.Predictive`; any other function is called
as ``loss(predictive, y) -> scalar``. The names ``"gaussian_nll"``, ``"mse"`` and
``"mixture_nll"`` are still accepted by :func:`fit` and :func:`~edtjax.surrogates.fit_ensemble`
and are mapped to the functions in one place (``_LOSS_NAMES``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from edtjax._checks import as_array, check_int, check_real, check_same_length
from edtjax._typing import ArrayLike, PyTree
from edtjax.surrogates.network import MDN, MLP, Surrogate
from edtjax.surrogates.predictive import Predictive

__all__ = [
    "TrainResult",
    "TrainingOptions",
    "fit",
    "gaussian_nll_loss",
    "mixture_nll_loss",
    "mse_loss",
]

_ADAM = optax.scale_by_adam()


class TrainResult(NamedTuple):
    """Outcome of :func:`fit`.

    Attributes:
        params: parameters at the epoch with the lowest validation loss (the last epoch when no
            validation split is used).
        train_loss: mean training loss per epoch, shape ``(epochs,)``; NaN after ``epochs_run``.
        val_loss: validation loss per epoch, shape ``(epochs,)``; NaN after ``epochs_run`` and
            everywhere when there is no validation split.
        best_epoch: index of the epoch whose parameters were kept.
        epochs_run: number of epochs run before early stopping (or ``epochs``).
    """

    params: PyTree
    train_loss: jax.Array
    val_loss: jax.Array
    best_epoch: jax.Array
    epochs_run: jax.Array


def gaussian_nll_loss(mean: jax.Array, variance: jax.Array, y: jax.Array) -> jax.Array:
    r"""Mean Gaussian negative log-likelihood
    :math:`\frac{1}{nd}\sum \tfrac12[\log(2\pi\sigma^2) + (y-\mu)^2/\sigma^2]`."""
    return jnp.mean(0.5 * (jnp.log(2 * jnp.pi * variance) + (y - mean) ** 2 / variance))


def mse_loss(mean: jax.Array, y: jax.Array) -> jax.Array:
    r"""Mean squared error :math:`\frac{1}{nd}\sum (y-\mu)^2`."""
    return jnp.mean((y - mean) ** 2)


def mixture_nll_loss(
    logits: jax.Array, means: jax.Array, variances: jax.Array, y: jax.Array
) -> jax.Array:
    r"""Mean negative log-likelihood of diagonal Gaussian mixtures (Bishop 1994).

    :math:`-\frac1n\sum_i\log\sum_k\pi_k(x_i)\,\mathcal N(y_i;\mu_k(x_i),
    \mathrm{diag}\,\sigma_k^2(x_i))` with :math:`\pi = \mathrm{softmax}(\text{logits})`;
    shapes ``logits (n, k)``, ``means``/``variances`` ``(n, k, d)``, ``y (n, d)``.
    """
    comp = -0.5 * jnp.sum(
        jnp.log(2 * jnp.pi * variances) + (y[:, None, :] - means) ** 2 / variances, axis=-1
    )
    return -jnp.mean(jax.nn.logsumexp(jax.nn.log_softmax(logits, axis=-1) + comp, axis=-1))


_LOSS_NAMES = {"gaussian_nll": gaussian_nll_loss, "mixture_nll": mixture_nll_loss, "mse": mse_loss}


class TrainingOptions(NamedTuple):
    """Options of the training loop :func:`fit`, hashable (a static argument of jitted code).

    Attributes:
        loss: a loss function (see the module docstring), e.g. :func:`gaussian_nll_loss`
            (needs a network that predicts a variance), :func:`mse_loss` or
            :func:`mixture_nll_loss` (needs a mixture density network).
        epochs: maximum number of epochs.
        batch_size: minibatch size.
        learning_rate: Adam step size when ``optimizer`` is ``None``.
        optimizer: an optax transformation producing the final updates, or ``None`` (Adam).
        validation_fraction: fraction of rows held out for early stopping, in ``[0, 1)``.
        patience: epochs without validation improvement before stopping.
        report_every: print the losses every this many epochs (0: silent).

    Example:
        >>> from edtjax.surrogates import TrainingOptions, mse_loss
        >>> options = TrainingOptions(loss=mse_loss, epochs=100)
        >>> hash(options) == hash(TrainingOptions(loss=mse_loss, epochs=100))
        True
    """

    loss: Callable[..., jax.Array] = gaussian_nll_loss
    epochs: int = 500
    batch_size: int = 32
    learning_rate: float = 1e-3
    optimizer: optax.GradientTransformation | None = None
    validation_fraction: float = 0.2
    patience: int = 50
    report_every: int = 0


def _loss_function(loss: object) -> Callable[..., jax.Array]:
    """The loss as a function: a name of the old string API is mapped to its function."""
    if isinstance(loss, str):
        if loss not in _LOSS_NAMES:
            raise ValueError(
                f"loss must be a function or one of {sorted(_LOSS_NAMES)}, got {loss!r}"
            )
        return _LOSS_NAMES[loss]
    if not callable(loss):
        raise ValueError(f"loss must be a function, got {loss!r}")
    return loss


def _loss(surrogate, loss, params, x, y, key):
    pred = surrogate.apply(params, x, key)
    if loss is gaussian_nll_loss:
        return gaussian_nll_loss(pred.mean, pred.variance, y)
    if loss is mixture_nll_loss:
        return mixture_nll_loss(*pred.mixture, y)
    if loss is mse_loss:
        return mse_loss(pred.mean, y)
    return loss(pred, y)


@functools.partial(
    jax.jit,
    static_argnames=(
        "surrogate",
        "optimizer",
        "loss",
        "epochs",
        "batch_size",
        "n_val",
        "patience",
        "report_every",
    ),
)
def _fit(
    key,
    x,
    y,
    params,
    learning_rate,
    *,
    surrogate,
    optimizer,
    loss,
    epochs,
    batch_size,
    n_val,
    patience,
    report_every,
):
    k_split, k_init, k_train = jax.random.split(key, 3)
    n = x.shape[0]
    perm = jax.random.permutation(k_split, n)
    x_val, y_val = x[perm[:n_val]], y[perm[:n_val]]
    x_tr, y_tr = x[perm[n_val:]], y[perm[n_val:]]
    n_tr = n - n_val
    n_batches = max(n_tr // batch_size, 1)
    bs = min(batch_size, n_tr)
    if params is None:
        params = surrogate.init(k_init, x[:1])
    opt = _ADAM if optimizer is None else optimizer
    opt_state = opt.init(params)
    grad_fn = jax.value_and_grad(functools.partial(_loss, surrogate, loss))

    def batch_step(carry: PyTree, batch: PyTree) -> tuple[PyTree, jax.Array]:
        p, s = carry
        xb, yb, kb = batch
        value, g = grad_fn(p, xb, yb, kb)
        updates, s = opt.update(g, s, p)
        if optimizer is None:
            updates = jax.tree.map(lambda u: -learning_rate * u, updates)
        return (optax.apply_updates(p, updates), s), value

    def epoch_body(state: PyTree) -> PyTree:
        epoch, p, s, best_p, best_val, best_epoch, wait, tr_hist, val_hist = state
        k_perm, k_drop = jax.random.split(jax.random.fold_in(k_train, epoch))
        idx = jax.random.permutation(k_perm, n_tr)[: n_batches * bs].reshape(n_batches, bs)
        drop_keys = jax.random.split(k_drop, n_batches)
        (p, s), values = jax.lax.scan(batch_step, (p, s), (x_tr[idx], y_tr[idx], drop_keys))
        tr = jnp.mean(values)
        if n_val > 0:
            val = _loss(surrogate, loss, p, x_val, y_val, None)
        else:
            val = -jnp.asarray(epoch, tr.dtype)  # every epoch improves: keep the last one
        improved = val < best_val
        best_p = jax.tree.map(lambda a, b: jnp.where(improved, a, b), p, best_p)
        best_epoch = jnp.where(improved, epoch, best_epoch)
        best_val = jnp.where(improved, val, best_val)
        wait = jnp.where(improved, 0, wait + 1)
        tr_hist = tr_hist.at[epoch].set(tr)
        if n_val > 0:
            val_hist = val_hist.at[epoch].set(val)
        if report_every > 0:
            jax.lax.cond(
                epoch % report_every == 0,
                lambda: jax.debug.print(
                    "epoch {e}: train {t:.4g} val {v:.4g}", e=epoch, t=tr, v=val
                ),
                lambda: None,
            )
        return epoch + 1, p, s, best_p, best_val, best_epoch, wait, tr_hist, val_hist

    def cond(state: PyTree) -> jax.Array:
        epoch, wait = state[0], state[6]
        return (epoch < epochs) & (wait < patience)

    dtype = jax.tree.leaves(params)[0].dtype
    nan_hist = jnp.full((epochs,), jnp.nan, dtype)
    init_state = (
        jnp.asarray(0),
        params,
        opt_state,
        params,
        jnp.asarray(jnp.inf, dtype),
        jnp.asarray(0),
        jnp.asarray(0),
        nan_hist,
        nan_hist,
    )
    epoch, _, _, best_p, _, best_epoch, _, tr_hist, val_hist = jax.lax.while_loop(
        cond, epoch_body, init_state
    )
    return TrainResult(best_p, tr_hist, val_hist, best_epoch, epoch)


_DEFAULTS = TrainingOptions()


def fit(
    key: jax.Array,
    surrogate: Surrogate | MLP | MDN,
    x: ArrayLike,
    y: ArrayLike,
    *,
    loss: Callable[..., jax.Array] | str = _DEFAULTS.loss,
    epochs: int = _DEFAULTS.epochs,
    batch_size: int = _DEFAULTS.batch_size,
    learning_rate: float = _DEFAULTS.learning_rate,
    optimizer: optax.GradientTransformation | None = _DEFAULTS.optimizer,
    validation_fraction: float = _DEFAULTS.validation_fraction,
    patience: int = _DEFAULTS.patience,
    params: PyTree = None,
    report_every: int = _DEFAULTS.report_every,
) -> TrainResult:
    r"""Train a surrogate by minibatch gradient descent with early stopping (jitted).

    A random ``validation_fraction`` of the rows is held out. Each epoch shuffles the training
    rows, runs one optimizer update per minibatch inside ``lax.scan``, and evaluates the
    validation loss; the parameters with the lowest validation loss are kept and training stops
    once it has not improved for ``patience`` (>= 1) consecutive epochs (``lax.while_loop``). The
    loss is e.g. the Gaussian negative log-likelihood
    :math:`\tfrac12[\log 2\pi\sigma^2(x) + (y-\mu(x))^2/\sigma^2(x)]` for heteroscedastic
    networks or the mean squared error. Dropout layers are active during training.

    The whole loop is one compiled program with the network, the loss and the optimizer as
    static arguments: calling again with new data of the same shape does not recompile, nor
    does a network built again with the same arguments (:class:`MLP` compares by value; pass
    the same ``optimizer`` object and loss function). The argument checks trace the network
    once per network and input layout and remember the shapes they read, so a repeated call
    costs little more than the compiled loop. ``jax.vmap`` over ``key`` trains an ensemble in
    parallel.

    Cost: :math:`O(\text{epochs} \cdot n \cdot C)` with :math:`C` the per-example cost of the
    network's forward and backward pass.

    Args:
        key: PRNG key (validation split, initialisation, shuffling, dropout).
        surrogate: the network, e.g. from :func:`~edtjax.surrogates.mlp`.
        x: inputs, shape ``(n, p)``.
        y: targets, shape ``(n, d)``.
        loss: a loss function (:func:`gaussian_nll_loss`, which needs a heteroscedastic
            network; :func:`mixture_nll_loss`, which needs a mixture density network;
            :func:`mse_loss`; or your own ``loss(predictive, y) -> scalar``). The names
            ``"gaussian_nll"``, ``"mixture_nll"`` and ``"mse"`` are accepted too.
        epochs: maximum number of epochs.
        batch_size: minibatch size (the last incomplete minibatch of each epoch is skipped).
        learning_rate: Adam step size, used when ``optimizer`` is ``None`` (traced, so changing
            it does not recompile).
        optimizer: an optax transformation producing the final updates; pass the same object on
            every call to avoid recompiling.
        validation_fraction: fraction of rows held out for early stopping, in ``[0, 1)``.
        patience: epochs without validation improvement before stopping.
        params: initial parameters; by default ``surrogate.init`` is called.
        report_every: print the losses every this many epochs (0: silent).

    Returns:
        A :class:`TrainResult`.

    Raises:
        ValueError: mismatched ``x``/``y`` lengths, non-finite data, a bad option, or
            :func:`gaussian_nll_loss` with a network that predicts no variance.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.surrogates import fit, mlp, mse_loss
        >>> x = jnp.linspace(-1, 1, 64)[:, None]
        >>> y = jnp.sin(3 * x)
        >>> res = fit(jax.random.key(0), mlp((16,)), x, y, loss=mse_loss, epochs=20)
        >>> res.train_loss.shape
        (20,)

    References:
        Kingma, D. P. and Ba, J. (2015). Adam: a method for stochastic optimization. ICLR.
        Prechelt, L. (1998). Early stopping - but when? In Neural Networks: Tricks of the Trade.
    """
    options = TrainingOptions(
        loss, epochs, batch_size, learning_rate, optimizer, validation_fraction, patience,
        report_every,
    )  # fmt: skip
    args, static = _fit_arguments(surrogate, x, y, options, params)
    return _fit(key, *args, **static)


@functools.lru_cache(maxsize=64)
def _prediction_shapes(surrogate, features: tuple[int, ...], dtype) -> Predictive:
    """Shapes of ``surrogate``'s prediction at one input row of shape ``(1, *features)``.

    Traced once per network and input layout and then remembered: tracing a flax network's
    ``init`` and ``apply`` costs milliseconds, as much as a short training run, on every call of
    :func:`fit` otherwise. ``init`` builds the parameters from the shape of its input alone
    (the :class:`~edtjax.surrogates.Surrogate` contract), so the shapes do not depend on values.
    """
    row = jax.ShapeDtypeStruct((1, *features), dtype)
    return jax.eval_shape(
        lambda k, r: surrogate.apply(surrogate.init(k, r), r), jax.random.key(0), row
    )


def _fit_arguments(surrogate, x, y, options: TrainingOptions, params):
    """Validate the arguments of :func:`fit`; return ``(x, y, params, learning_rate)`` and the
    static keyword arguments of the compiled loop ``_fit``."""
    x = as_array("x", x, ndim=2)
    y = as_array("y", y, ndim=2)
    n = check_same_length(("x", "y"), x, y)
    loss = _loss_function(options.loss)
    epochs = check_int("epochs", options.epochs, minimum=1)
    batch_size = check_int("batch_size", options.batch_size, minimum=1)
    patience = check_int("patience", options.patience, minimum=1)
    report_every = check_int("report_every", options.report_every, minimum=0)
    validation_fraction = check_real(
        "validation_fraction",
        options.validation_fraction,
        minimum=0.0,
        maximum=1.0,
        strict_maximum=True,
    )
    learning_rate = options.learning_rate
    check_real("learning_rate", learning_rate, minimum=0.0, strict_minimum=True)
    n_val = math.floor(validation_fraction * n)
    if n - n_val < 1:
        raise ValueError(f"x must leave at least one training row, got n={n}")
    if validation_fraction > 0 and n_val < 1:
        raise ValueError(
            f"validation_fraction={validation_fraction} leaves no validation row for n={n}"
        )
    probe = _prediction_shapes(surrogate, x.shape[1:], x.dtype)
    if probe.mean.shape[-1] != y.shape[1]:
        raise ValueError(f"y must have {probe.mean.shape[-1]} columns, got {y.shape[1]}")
    if loss is gaussian_nll_loss and probe.variance is None:
        raise ValueError("loss=gaussian_nll_loss needs a network that predicts a variance")
    if loss is mixture_nll_loss and probe.mixture is None:
        raise ValueError("loss=mixture_nll_loss needs a mixture density network")
    static = {
        "surrogate": surrogate,
        "optimizer": options.optimizer,
        "loss": loss,
        "epochs": epochs,
        "batch_size": batch_size,
        "n_val": n_val,
        "patience": patience,
        "report_every": report_every,
    }
    return (x, y, params, jnp.asarray(learning_rate, x.dtype)), static
