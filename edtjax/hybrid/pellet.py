r"""A surrogate of one time step of the thermodiffusion solver, called in the time loop under
the guard with the exact step as fallback.

Each backward-Euler step of :func:`edtjax.simulators.simulate_pellet` maps the profiles
:math:`(T^k, x^k)` on the ``n`` cells, the step :math:`\Delta t_k` and the pellet inputs to the
converged Picard fixed point :math:`(T^{k+1}, x^{k+1})` (two tridiagonal solves per Picard
iteration, until the relative change is below the tolerance). That map is the expensive part of
the time loop, and the part learnt here from solver runs, in the setting of Yahiaoui et al.
(2025), a neural network made reliable for accelerating this coupled simulation: a reliability
indicator decides at every step whether the network's prediction is used.

Speed: on a CPU the exact step of a 32-cell pellet costs tens of microseconds (Thomas sweeps,
a few Picard iterations), about as much as the guarded network step (ensemble forward passes,
indicator, conformal rank, the fallback loop), so one trajectory is not faster with the
surrogate; a batch of trajectories is, because the guard simulates only the compacted fallback
rows. ``benchmarks/hybrid.py`` measures both.

A step's input is one row of ``2 n + 7`` *step features* (:func:`pellet_step_features`):
``T (n), x (n), Δt, heat_source, surface_temperature, radius, conductivity_multiplier,
diffusivity_multiplier, surface_x``; its output the ``2 n`` new profiles. :func:`pellet_step`
is the exact step (the solver's own), :func:`pellet_rollout` runs a whole trajectory with any
step function (the exact one, or a :func:`edtjax.hybrid.guarded` hybrid), and
:func:`fit_pellet_step` learns the step from the step pairs of solver trajectories.

References:
    Yahiaoui et al. (2025). Reliable neural network model for accelerating coupled
    thermodiffusion simulation. Proc. ICAPP 2025.

    Mihaila, B. et al. (2009). Simultaneous coupled thermal and oxygen diffusion in UO2+x fuel.
    J. Nucl. Mater. 394, 182-189.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from edtjax._checks import as_array, check_int
from edtjax._typing import ArrayLike
from edtjax.hybrid.guard import GuardedOutput
from edtjax.simulators import (
    MIHAILA_2009_LAWS,
    MaterialLaws,
    PelletInputs,
    SolverConfig,
    check_solver_config,
    pellet_solver_step,
    solver_time_grid,
)
from edtjax.surrogates import Predictive, ensemble_predictive, fit_ensemble, mlp

__all__ = [
    "PelletStepModel",
    "PelletTrajectory",
    "fit_pellet_step",
    "pellet_rollout",
    "pellet_step",
    "pellet_step_features",
    "pellet_step_pairs",
]

_PARAMETERS = (
    "heat_source",
    "surface_temperature",
    "radius",
    "conductivity_multiplier",
    "diffusivity_multiplier",
    "surface_x",
)
"""Pellet inputs carried by every step's features (``initial_x`` only sets the first state)."""


class PelletTrajectory(NamedTuple):
    """Whole trajectories of a batch of ``b`` pellets over the solver's ``s`` steps.

    Attributes:
        times: ``(s + 1,)`` step times in s.
        temperature: ``(b, s + 1, n)`` temperature profiles (K).
        x: ``(b, s + 1, n)`` stoichiometry-deviation profiles.
        centre_temperature: ``(b, s + 1)`` centre temperature, ``(9 T_0 - T_1) / 8`` as in the
            solver.
        centre_x: ``(b, s + 1)`` centre stoichiometry deviation.
        used_surrogate: ``(b, s)`` bool, whether each step came from the surrogate (all
            ``False`` for the exact step).
    """

    times: jax.Array
    temperature: jax.Array
    x: jax.Array
    centre_temperature: jax.Array
    centre_x: jax.Array
    used_surrogate: jax.Array


class PelletStepModel(NamedTuple):
    """A learnt time step (see :func:`fit_pellet_step`).

    Attributes:
        predict: ``features (m, 2n + 7) -> Predictive`` of the new profiles ``(m, 2n)``: the
            ensemble mean and its between-member (epistemic) variance.
        encode: ``features (m, 2n + 7) -> (m, k)``, the standardised network inputs (``log Δt``
            and the inputs that vary), a representation for an indicator
            (:func:`edtjax.reliability.feature_space_indicator`).
    """

    predict: Callable[[jax.Array], Predictive]
    encode: Callable[[jax.Array], jax.Array]


def pellet_step_features(
    inputs: PelletInputs, temperature: jax.Array, x: jax.Array, dt: jax.Array
) -> jax.Array:
    """Step features ``[T, x, Δt, heat_source, surface_temperature, radius,
    conductivity_multiplier, diffusivity_multiplier, surface_x]`` of a batch of pellets.

    Args:
        inputs: batch :class:`~edtjax.simulators.PelletInputs` (1-D fields of length ``b``).
        temperature: ``(b, n)`` current temperature profiles.
        x: ``(b, n)`` current stoichiometry profiles.
        dt: scalar step.

    Returns:
        ``(b, 2n + 7)`` features in the profiles' dtype.

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.simulators import default_pellet_inputs
        >>> p = default_pellet_inputs()
        >>> p = p._replace(**{f: jnp.broadcast_to(v, (2,)) for f, v in p._asdict().items()})
        >>> pellet_step_features(p, jnp.full((2, 4), 700.0), jnp.full((2, 4), 0.01), 1.0).shape
        (2, 15)
    """
    b = temperature.shape[0]
    dtype = temperature.dtype
    columns = [jnp.broadcast_to(jnp.asarray(dt, dtype), (b,))]
    columns += [jnp.broadcast_to(jnp.asarray(getattr(inputs, f), dtype), (b,)) for f in _PARAMETERS]
    return jnp.concatenate([temperature, x, jnp.stack(columns, axis=1)], axis=1)


def _split(features: jax.Array, n: int):
    temp, x, rest = features[..., :n], features[..., n : 2 * n], features[..., 2 * n :]
    return temp, x, rest[..., 0], rest[..., 1:]


def _one_step(row, n, config, laws):
    temp, x, dt, params = _split(row, n)
    fields = dict(zip(_PARAMETERS, params, strict=True))
    p = PelletInputs(initial_x=x[0], **fields)
    return jnp.concatenate(pellet_solver_step(p, temp, x, dt, config, laws))


def pellet_step(
    features: jax.Array, config: SolverConfig, laws: MaterialLaws = MIHAILA_2009_LAWS
) -> jax.Array:
    r"""The exact time step of :func:`edtjax.simulators.simulate_pellet`, on step features.

    One backward-Euler step of the solver (:func:`edtjax.simulators.pellet_solver_step`: the
    Picard iteration, heat solve with frozen coefficients, then oxygen solve, until the
    relative change of both fields is below ``max(config.picard_tol, 256 ε)``), vmapped over
    rows. Building block (not jitted).

    Args:
        features: ``(m, 2n + 7)`` step features (:func:`pellet_step_features`), ``n =
            config.n_cells``.
        config: the solver's :class:`~edtjax.simulators.SolverConfig` (its ``n_cells``,
            ``oxygen_boundary``, ``picard_tol`` and ``max_picard`` are used).
        laws: the material laws.

    Returns:
        ``(m, 2n)`` new profiles ``[T, x]``. Cost: ``O(m · iterations · n)``.

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.simulators import SolverConfig
        >>> row = jnp.concatenate([jnp.full(4, 700.0), jnp.full(4, 0.01),
        ...                        jnp.array([10.0, 3e8, 700.0, 4.1e-3, 1.0, 1.0, 0.01])])
        >>> pellet_step(row[None], SolverConfig(n_cells=4)).shape
        (1, 8)
    """
    n = config.n_cells
    return jax.vmap(lambda row: _one_step(row, n, config, laws))(features)


@functools.partial(jax.jit, static_argnames=("step", "config"))
def _rollout(inputs: PelletInputs, *, step: Callable, config: SolverConfig) -> PelletTrajectory:
    n = config.n_cells
    dtype = inputs.heat_source.dtype
    b = inputs.heat_source.shape[0]
    times = jnp.asarray(solver_time_grid(config, np.dtype(dtype)))
    temp0 = jnp.broadcast_to(inputs.surface_temperature[:, None], (b, n)).astype(dtype)
    x0 = jnp.broadcast_to(inputs.initial_x[:, None], (b, n)).astype(dtype)

    def body(
        state: tuple[jax.Array, jax.Array], dt: jax.Array
    ) -> tuple[tuple[jax.Array, jax.Array], tuple[jax.Array, jax.Array, jax.Array]]:
        temp, x = state
        out = step(pellet_step_features(inputs, temp, x, dt))
        if isinstance(out, GuardedOutput):
            new, used = out.output, out.used_surrogate
        else:
            new, used = out, jnp.zeros((b,), bool)
        new = new.astype(dtype)
        new_state = (new[:, :n], new[:, n:])
        return new_state, (*new_state, used)

    _, (temp_h, x_h, used) = jax.lax.scan(body, (temp0, x0), jnp.diff(times))
    temp_h = jnp.concatenate([temp0[None], temp_h]).transpose(1, 0, 2)
    x_h = jnp.concatenate([x0[None], x_h]).transpose(1, 0, 2)
    centre_t = (9.0 * temp_h[..., 0] - temp_h[..., 1]) / 8.0
    centre_x = (9.0 * x_h[..., 0] - x_h[..., 1]) / 8.0
    return PelletTrajectory(times, temp_h, x_h, centre_t, centre_x, used.T)


def pellet_rollout(
    step: Callable[[jax.Array], jax.Array | GuardedOutput],
    inputs: PelletInputs,
    config: SolverConfig | None = None,
) -> PelletTrajectory:
    """Run whole trajectories of a batch of pellets with a given time step.

    Starts from the solver's initial state (``T = surface_temperature``, ``x = initial_x``) and
    applies ``step`` to the step features of the whole batch at each of the solver's time
    steps (``lax.scan`` over the time grid of ``config``). With
    ``step = functools.partial(pellet_step, config=config)`` this is the solver itself; with a
    :func:`edtjax.hybrid.guarded` function of the step features it is the hybrid, and
    ``used_surrogate`` records which steps the surrogate took. One jitted program, ``step`` and
    ``config`` static (reuse the same objects to reuse it).

    Args:
        step: ``features (b, 2n + 7) -> (b, 2n)`` or ``-> GuardedOutput``.
        inputs: batch :class:`~edtjax.simulators.PelletInputs` (1-D fields of length ``b``).
        config: :class:`~edtjax.simulators.SolverConfig` (``None``: the defaults).

    Returns:
        :class:`PelletTrajectory`. Cost: ``config.n_steps`` calls of ``step`` on ``b`` rows;
        memory ``O(b · n_steps · n_cells)``.

    Raises:
        ValueError: a bad ``config``, non-callable ``step``, or inputs that are not a batch
            ``PelletInputs`` of equal-length 1-D fields.

    Example:
        >>> import functools, jax.numpy as jnp
        >>> from edtjax.simulators import SolverConfig, default_pellet_inputs
        >>> cfg = SolverConfig(n_cells=6, n_steps=10)
        >>> p = default_pellet_inputs()
        >>> p = p._replace(**{f: jnp.broadcast_to(v, (3,)) for f, v in p._asdict().items()})
        >>> traj = pellet_rollout(functools.partial(pellet_step, config=cfg), p, cfg)
        >>> traj.centre_temperature.shape, bool(traj.used_surrogate.any())
        ((3, 11), False)

    References:
        Mihaila, B. et al. (2009). J. Nucl. Mater. 394, 182-189.
    """
    config = check_solver_config(config)
    if not callable(step):
        raise ValueError(f"step must be callable, got {type(step).__name__}")
    if not isinstance(inputs, PelletInputs):
        raise ValueError(f"inputs must be a PelletInputs, got {type(inputs).__name__}")
    fields = [as_array(f"inputs.{f}", v, ndim=1) for f, v in inputs._asdict().items()]
    if len({a.shape[0] for a in fields}) != 1:
        raise ValueError("inputs must have 1-D fields of equal length (a batch)")
    dtype = jnp.result_type(*fields, float)
    inputs = PelletInputs(*(a.astype(dtype) for a in fields))
    return _rollout(inputs, step=step, config=config)


def pellet_step_pairs(
    trajectory: PelletTrajectory, inputs: PelletInputs
) -> tuple[jax.Array, jax.Array]:
    """The ``(features, next profiles)`` pairs of every step of every trajectory.

    Args:
        trajectory: a :class:`PelletTrajectory` of ``b`` pellets and ``s`` steps.
        inputs: the batch inputs it was run with.

    Returns:
        ``(features (b s, 2n + 7), targets (b s, 2n))``, trajectory-major.

    Example:
        See :func:`fit_pellet_step`.
    """
    b, s1, n = trajectory.temperature.shape
    dts = jnp.diff(trajectory.times)
    feats = jax.vmap(
        lambda t, x, dt: pellet_step_features(inputs, t, x, dt), in_axes=(1, 1, 0), out_axes=1
    )(trajectory.temperature[:, :-1], trajectory.x[:, :-1], dts)
    targets = jnp.concatenate([trajectory.temperature[:, 1:], trajectory.x[:, 1:]], axis=2)
    return feats.reshape(b * (s1 - 1), -1), targets.reshape(b * (s1 - 1), 2 * n)


def fit_pellet_step(
    key: jax.Array,
    features: ArrayLike,
    targets: ArrayLike,
    *,
    hidden: Sequence[int] = (64, 64),
    members: int = 4,
    epochs: int = 200,
    batch_size: int = 64,
    learning_rate: float = 3e-3,
) -> PelletStepModel:
    r"""Learn the time step from step pairs: a deep ensemble on standardised increments.

    The network inputs are the step features with :math:`\log x` for :math:`x` and
    :math:`\log \Delta t` for :math:`\Delta t`, constant columns dropped, standardised by the
    training mean and standard deviation; the targets are the increments
    :math:`(T^{k+1} - T^k, \log x^{k+1} - \log x^k)`, standardised per column (predicting
    :math:`\log x` keeps the stoichiometry deviation positive, where the material laws are
    defined). ``members`` MLPs (tanh, mean-squared error,
    :func:`edtjax.surrogates.fit_ensemble`) are trained; the prediction is the current profiles
    moved by the de-standardised ensemble mean increment, with the between-member variance as
    predictive variance (for :math:`x`, through the delta method,
    :math:`\mathrm{Var}\,x \approx x^2\,\mathrm{Var}\log x`).

    Args:
        key: PRNG key (initialisation, validation split, shuffling of every member).
        features: ``(N, 2n + 7)`` step features.
        targets: ``(N, 2n)`` next profiles.
        hidden: hidden layer widths.
        members: ensemble size ``>= 2`` (the variance needs two members).
        epochs, batch_size, learning_rate: passed to :func:`edtjax.surrogates.fit`.

    Returns:
        :class:`PelletStepModel`. Cost: ``members · epochs · N`` forward and backward passes
        (one compiled program); a prediction costs ``members`` forward passes.

    Raises:
        ValueError: shapes that do not match ``2n + 7`` and ``2n``, non-finite values, a
            stoichiometry deviation ``x <= 0``, ``members < 2``.

    Example:
        >>> import functools, jax, jax.numpy as jnp
        >>> from edtjax.simulators import SolverConfig, default_pellet_inputs
        >>> cfg = SolverConfig(n_cells=4, n_steps=8)
        >>> p = default_pellet_inputs()
        >>> p = p._replace(**{f: jnp.broadcast_to(v, (4,)) for f, v in p._asdict().items()})
        >>> p = p._replace(heat_source=jnp.array([1e8, 2e8, 3e8, 3.5e8]))
        >>> traj = pellet_rollout(functools.partial(pellet_step, config=cfg), p, cfg)
        >>> f, y = pellet_step_pairs(traj, p)
        >>> model = fit_pellet_step(jax.random.key(0), f, y, hidden=(8,), members=2, epochs=3)
        >>> model.predict(f[:5]).mean.shape
        (5, 8)
    """
    features = as_array("features", features, ndim=2)
    targets = as_array("targets", targets, ndim=2)
    members = check_int("members", members, minimum=2)
    n2 = targets.shape[1]
    if n2 % 2 or features.shape[1] != n2 + 1 + len(_PARAMETERS):
        raise ValueError(
            f"features must have 2n + 7 columns and targets 2n, got {features.shape[1]} and {n2}"
        )
    if features.shape[0] != targets.shape[0]:
        raise ValueError(
            f"features and targets must have the same rows, got {features.shape[0]} and "
            f"{targets.shape[0]}"
        )
    n = n2 // 2

    def raw(f: jax.Array) -> jax.Array:
        temp, x, dt, params = _split(f, n)
        return jnp.concatenate([temp, jnp.log(x), jnp.log(dt)[:, None], params], axis=1)

    z = raw(features)
    z_mean, z_sd = jnp.mean(z, axis=0), jnp.std(z, axis=0)
    varying = np.flatnonzero(np.asarray(z_sd) > 1e-6 * (1.0 + np.abs(np.asarray(z_mean))))
    z_mean, z_sd = z_mean[varying], z_sd[varying]

    def encode(f: jax.Array) -> jax.Array:
        return (raw(f)[:, varying] - z_mean) / z_sd

    def state(u: jax.Array) -> jax.Array:  # (T, log x)
        return jnp.concatenate([u[:, :n], jnp.log(u[:, n:n2])], axis=1)

    if not (bool(jnp.all(features[:, n:n2] > 0)) and bool(jnp.all(targets[:, n:] > 0))):
        raise ValueError("features and targets must have positive stoichiometry deviations x")
    delta = state(targets) - state(features)
    d_mean, d_sd = jnp.mean(delta, axis=0), jnp.std(delta, axis=0)
    d_sd = jnp.where(d_sd > 0, d_sd, 1.0)
    net = mlp(tuple(hidden), n2)
    result = fit_ensemble(
        key,
        net,
        encode(features),
        (delta - d_mean) / d_sd,
        members,
        loss="mse",
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
    )
    params = result.params

    def predict(f: jax.Array) -> Predictive:
        pred = ensemble_predictive(net, params, encode(f))
        new = state(f) + d_mean + d_sd * pred.mean
        x_new = jnp.exp(new[:, n:])
        mean = jnp.concatenate([new[:, :n], x_new], axis=1)
        jacobian = jnp.concatenate([jnp.ones_like(x_new), x_new], axis=1)
        return Predictive(mean=mean, variance=pred.variance * (d_sd * jacobian) ** 2)

    return PelletStepModel(predict, encode)
