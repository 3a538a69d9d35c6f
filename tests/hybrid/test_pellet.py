"""Tests for edtjax.hybrid.pellet: the exact step reproduces the solver bitwise, the guarded
time loop falls back exactly, and the learnt step beats persistence. Float64 (``x64``) where
the solver is compared with itself."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.hybrid import (
    calibrate_guard,
    fit_pellet_step,
    guarded,
    pellet_rollout,
    pellet_step,
    pellet_step_features,
    pellet_step_pairs,
)
from edtjax.reliability import Indicator
from edtjax.simulators import (
    DEFAULT_INPUT_BOX,
    SolverConfig,
    design_to_inputs,
    simulate_pellet_batch,
    sobol_design,
)
from edtjax.surrogates import Predictive


def _batch(n, seed=0):
    design, names = sobol_design(jax.random.key(seed), DEFAULT_INPUT_BOX, n)
    return design_to_inputs(design, names)


def _flag_all_calibration(features):
    """An indicator whose state 1 puts every query above all calibration scores (state 0)."""
    ind = Indicator(lambda key, x: 0.0, lambda state, x: x[:, 0] * 0.0 + state)
    cal = calibrate_guard(lambda z: Predictive(mean=z[:, :1]), ind, 0.0, features[:19])
    return cal._replace(state=1.0)


@pytest.mark.parametrize("boundary", ["zero_flux", pytest.param("fixed", marks=pytest.mark.slow)])
def test_exact_step_rollout_is_the_solver_bitwise(x64, boundary):
    cfg = SolverConfig(n_cells=6, n_steps=12, oxygen_boundary=boundary)
    p = _batch(3)
    p = p._replace(surface_x=p.initial_x * 0.5)
    traj = pellet_rollout(functools.partial(pellet_step, config=cfg), p, cfg)
    ref = simulate_pellet_batch(p, cfg)
    np.testing.assert_array_equal(traj.times, ref.times[0])
    np.testing.assert_array_equal(traj.centre_temperature, ref.centre_temperature)
    np.testing.assert_array_equal(traj.centre_x, ref.centre_x)
    np.testing.assert_array_equal(traj.temperature[:, -1], ref.temperature)
    np.testing.assert_array_equal(traj.x[:, -1], ref.x)
    assert not traj.used_surrogate.any()


@pytest.mark.parametrize("batch", [1, pytest.param(4, marks=pytest.mark.slow)])
def test_guard_flagging_every_step_reproduces_the_solver_exactly(x64, batch):
    cfg = SolverConfig(n_cells=6, n_steps=12)
    exact = functools.partial(pellet_step, config=cfg)
    p4 = _batch(4)
    features, _ = pellet_step_pairs(pellet_rollout(exact, p4, cfg), p4)
    nan_step = lambda f: Predictive(mean=jnp.full((f.shape[0], 12), jnp.nan))  # noqa: E731
    step = guarded(
        nan_step, exact, _flag_all_calibration(features), alpha=0.1, fallback_batch=batch
    )
    for trajectories in (1, 4) if batch == 4 else (1,):
        p = _batch(trajectories)
        traj = pellet_rollout(step, p, cfg)
        assert not traj.used_surrogate.any()
        if trajectories == 1:  # bitwise the exact-step time loop
            loop = pellet_rollout(exact, p, cfg)
            np.testing.assert_array_equal(traj.centre_temperature, loop.centre_temperature)
            np.testing.assert_array_equal(traj.centre_x, loop.centre_x)
        # against the solver's own program: XLA compiles the step differently inside the
        # guard's loop (last bits move, measured 2e-15 relative), and a row simulated apart
        # from the others of its batch may stop its Picard iteration earlier than the batched
        # solver, which iterates until every row converges (a change below the tolerance 1e-9)
        ref = simulate_pellet_batch(p, cfg)
        np.testing.assert_allclose(traj.centre_temperature, ref.centre_temperature, rtol=1e-9)
        np.testing.assert_allclose(traj.centre_x, ref.centre_x, rtol=1e-9)


@pytest.mark.slow
def test_exact_surrogate_under_the_guard_gives_the_solver_trajectory(x64):
    # the surrogate is the exact step itself and the indicator scores the step size: the steps
    # longer than the calibrated threshold (the last ones of the geometric grid) fall back, the
    # others take the surrogate, and the trajectory is the solver's to rounding (the two paths
    # compile the same step in different programs)
    cfg = SolverConfig(n_cells=6, n_steps=16)
    exact = functools.partial(pellet_step, config=cfg)
    p_cal, p = _batch(4, seed=1), _batch(1, seed=2)
    f_cal, _ = pellet_step_pairs(pellet_rollout(exact, p_cal, cfg), p_cal)
    ind = Indicator(lambda key, x: 0.0, lambda state, x: x[:, 12] + state)  # column 12: dt

    def surrogate(f):
        return Predictive(mean=exact(f))

    cal = calibrate_guard(surrogate, ind, 0.0, f_cal)
    traj = pellet_rollout(guarded(surrogate, exact, cal, alpha=0.2), p, cfg)
    # 64 calibration steps, 4 per step size: k = ceil(65 * 0.8) = 52, the 13th size; the 3
    # longer steps fall back
    np.testing.assert_array_equal(traj.used_surrogate[0], [True] * 13 + [False] * 3)
    ref = simulate_pellet_batch(p, cfg)
    np.testing.assert_allclose(traj.centre_temperature, ref.centre_temperature, rtol=1e-12)
    np.testing.assert_allclose(traj.centre_x, ref.centre_x, rtol=1e-10)


def test_step_features_layout():
    p = _batch(2)
    temp, x = jnp.full((2, 3), 700.0), jnp.full((2, 3), 0.01)
    f = pellet_step_features(p, temp, x, 5.0)
    chex.assert_shape(f, (2, 13))
    np.testing.assert_allclose(f[:, 6], 5.0)
    np.testing.assert_allclose(f[:, 7], p.heat_source, rtol=1e-6)
    np.testing.assert_allclose(f[:, 12], p.surface_x, rtol=1e-6)


@pytest.mark.slow
def test_learnt_step_beats_persistence_on_held_out_trajectories():
    # On held-out trajectories the learnt step's error must be well below that of keeping the
    # profiles unchanged (the naive step); a factor 5 leaves room for training noise.
    cfg = SolverConfig(n_cells=6, n_steps=20)
    exact = functools.partial(pellet_step, config=cfg)
    p_train, p_test = _batch(48, seed=3), _batch(8, seed=4)
    f, y = pellet_step_pairs(pellet_rollout(exact, p_train, cfg), p_train)
    f_t, y_t = pellet_step_pairs(pellet_rollout(exact, p_test, cfg), p_test)
    model = fit_pellet_step(jax.random.key(0), f, y, hidden=(32, 32), members=3, epochs=150)
    pred = model.predict(f_t)
    err_t = float(jnp.sqrt(jnp.mean((pred.mean[:, :6] - y_t[:, :6]) ** 2)))
    naive_t = float(jnp.sqrt(jnp.mean((f_t[:, :6] - y_t[:, :6]) ** 2)))
    assert err_t < naive_t / 5
    assert bool(jnp.all(pred.mean[:, 6:] > 0)) and bool(jnp.all(pred.variance >= 0))


def test_bad_arguments_raise():
    cfg = SolverConfig(n_cells=4, n_steps=3)
    p = _batch(2)
    with pytest.raises(ValueError, match="step must be callable"):
        pellet_rollout("exact", p, cfg)
    with pytest.raises(ValueError, match="inputs must be a PelletInputs"):
        pellet_rollout(functools.partial(pellet_step, config=cfg), tuple(p), cfg)
    with pytest.raises(ValueError, match="config"):
        pellet_rollout(functools.partial(pellet_step, config=cfg), p, "cfg")
    with pytest.raises(ValueError, match="2n \\+ 7 columns"):
        fit_pellet_step(jax.random.key(0), jnp.ones((5, 10)), jnp.ones((5, 4)))
    with pytest.raises(ValueError, match="members"):
        fit_pellet_step(jax.random.key(0), jnp.ones((5, 15)), jnp.ones((5, 8)), members=1)
    with pytest.raises(ValueError, match="positive"):
        fit_pellet_step(jax.random.key(0), -jnp.ones((5, 15)), jnp.ones((5, 8)))
