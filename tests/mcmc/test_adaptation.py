"""Warm-up adaptation: blackjax as the reference, tuned kernels sampling known Gaussians."""

import blackjax
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from numpyro.diagnostics import effective_sample_size

from edtjax.mcmc import (
    Adapted,
    adapted_kernel,
    chees_adaptation,
    run_chains,
    step_size_adaptation,
    window_adaptation,
)
from edtjax.mcmc import adaptation as adaptation_module

SD = jnp.array([1.0, 2.0, 0.5])


def _logp(z):
    """Independent Gaussian, standard deviations SD."""
    return -0.5 * jnp.sum((z / SD) ** 2)


def _check_moments(draws):
    """Means within 5 MC standard errors (sd / sqrt(ESS)), variances within 5 * sqrt(2 / ESS)
    (Gaussian draws: the variance estimate's relative standard error is sqrt(2 / ESS)); a false
    failure needs a 5-sigma deviation in one of six checks, probability below 4e-6."""
    draws = np.asarray(draws)  # (chains, draws, 3)
    ess = effective_sample_size(draws)
    flat = draws.reshape(-1, draws.shape[-1])
    sd = np.asarray(SD)
    assert np.all(np.abs(flat.mean(0)) < 5 * sd / np.sqrt(ess)), (flat.mean(0), ess)
    assert np.all(np.abs(flat.var(0) / sd**2 - 1) < 5 * np.sqrt(2 / ess)), (flat.var(0), ess)


@pytest.mark.slow
def test_window_adaptation_is_blackjax_per_chain(key):
    """Chain c is blackjax's window adaptation run with split(key, num_chains)[c] (the same
    vmapped computation written with blackjax directly: equal to rounding)."""
    positions = jnp.stack([jnp.ones(3), -jnp.ones(3)])
    tuned = jax.jit(
        lambda k, p: window_adaptation(k, blackjax.nuts, _logp, p, 60, initial_step_size=0.5)
    )(key, positions)
    warmup = blackjax.window_adaptation(blackjax.nuts, _logp, initial_step_size=0.5)
    (state, params), _ = jax.jit(jax.vmap(lambda k, p: warmup.run(k, p, num_steps=60)))(
        jax.random.split(key, 2), positions
    )
    np.testing.assert_allclose(tuned.state.position, state.position, rtol=1e-6)
    for name in ("step_size", "inverse_mass_matrix"):
        np.testing.assert_allclose(tuned.parameters[name], params[name], rtol=1e-6)


@pytest.mark.slow
def test_window_adapted_nuts_samples_the_target(key):
    k_warm, k_run = jax.random.split(key)
    tuned = window_adaptation(k_warm, blackjax.nuts, _logp, jnp.zeros((2, 3)), 200)
    kernel = adapted_kernel(lambda **p: blackjax.nuts(_logp, **p))
    res = run_chains(
        k_run, kernel, tuned, 400, num_chains=2, observables=lambda s: s.state.position
    )
    _check_moments(res.traces)


def test_zero_steps_keep_the_start(key):
    positions = jnp.arange(6.0).reshape(2, 3)
    tuned = window_adaptation(
        key, blackjax.hmc, _logp, positions, 0, initial_step_size=0.3, num_integration_steps=5
    )
    np.testing.assert_array_equal(tuned.state.position, positions)
    np.testing.assert_allclose(tuned.parameters["step_size"], [0.3, 0.3], rtol=1e-6)
    np.testing.assert_array_equal(tuned.parameters["inverse_mass_matrix"], np.ones((2, 3)))
    da = step_size_adaptation(
        key,
        lambda s: blackjax.mala(_logp, s),
        positions,
        0,
        initial_step_size=jnp.asarray(0.2),
        target_acceptance_rate=0.5,
    )
    np.testing.assert_array_equal(da.state.position, positions)
    np.testing.assert_allclose(da.parameters["step_size"], [0.2, 0.2], rtol=1e-6)


@pytest.mark.slow
def test_step_size_adaptation_reaches_the_target_acceptance(key):
    """MALA on a 3-d Gaussian, tuned for 0.574 from a step size 20x too small. The acceptance
    over 4 x 1000 frozen transitions has a standard error near 0.01 (autocorrelation
    included); dual averaging's averaged step leaves an offset of a few hundredths, so the
    bound 0.08 is several standard errors beyond the expected deviation."""
    k_warm, k_run = jax.random.split(key)
    tuned = step_size_adaptation(
        k_warm,
        lambda s: blackjax.mala(_logp, s),
        jnp.zeros((4, 3)),
        1000,
        initial_step_size=jnp.asarray(0.01),
        target_acceptance_rate=0.574,
    )
    kernel = adapted_kernel(lambda **p: blackjax.mala(_logp, **p))

    def step(k, s):
        s, info = kernel.step(k, s)
        return s, {"acceptance_rate": info.acceptance_rate}

    res = run_chains(
        k_run,
        kernel._replace(step=step),
        tuned,
        1000,
        num_chains=4,
        observables=lambda s: s.state.position,
    )
    assert abs(float(jnp.mean(res.info["acceptance_rate"])) - 0.574) < 0.08
    _check_moments(res.traces)


def test_adapted_kernel_steps_each_chain_with_its_parameters(key):
    states = jax.vmap(blackjax.mala(_logp, 0.1).init)(jnp.ones((2, 3)))
    adapted = Adapted(states, {"step_size": jnp.array([0.1, 0.7])})
    kernel = adapted_kernel(lambda **p: blackjax.mala(_logp, **p))
    for c, eps in enumerate((0.1, 0.7)):
        one = jax.tree.map(lambda a, c=c: a[c], adapted)
        new, _ = kernel.step(key, one)
        want, _ = blackjax.mala(_logp, eps).step(key, one.state)
        np.testing.assert_array_equal(new.state.position, want.position)
        assert float(new.parameters["step_size"]) == pytest.approx(eps)


@pytest.mark.slow
def test_chees_runs_equal_trajectories_and_samples_the_target(key):
    """ChEES: the Halton jitter is shared, so every chain takes the same number of leapfrog
    steps at every transition (equal means per chain), and the draws match the target."""
    k_warm, k_run = jax.random.split(key)
    start = {"z": jax.random.normal(k_warm, (16, 3))}
    tuned = chees_adaptation(k_warm, _logp_tree, start, 200, max_sampling_steps=200)
    assert tuned.step_size.shape == () and float(tuned.step_size) > 0

    def step(k, s):
        s, info = tuned.kernel.step(k, s)
        return s, {"steps": info.num_integration_steps}

    res = run_chains(
        k_run,
        tuned.kernel._replace(step=step),
        tuned.state,
        200,
        num_chains=16,
        observables=lambda s: tuned.unravel(s.position),
    )
    steps = np.asarray(res.info["steps"])
    assert np.all(steps == steps[0]) and steps[0] >= 1
    _check_moments(res.traces["z"])


def _logp_tree(position):
    return _logp(position["z"])


@pytest.mark.slow
def test_chees_warmup_and_kernel_are_blackjax(key, x64):
    """The compiled warm-up gives blackjax's tuned values (the same computation run op by op:
    equal to float64 rounding, amplified over 20 transitions), and the kernel's jitter is
    blackjax's: the same leapfrog counts at every transition of warm-up and sampling, and the
    same random-argument update."""
    start = {"z": jax.random.normal(key, (8, 3))}
    tuned = chees_adaptation(key, _logp_tree, start, 20, max_sampling_steps=6)
    warmup = blackjax.chees_adaptation(
        lambda z: _logp_tree(tuned.unravel(z)),
        8,
        target_acceptance_rate=0.651,
        adaptation_info_fn=lambda *args: None,
        mass_matrix_estimation="diagonal",
    )
    (state, params), _ = warmup.run(
        key, start["z"], 0.1, optax.adam(0.025), 20, max_sampling_steps=6
    )
    assert tuned.state.position.dtype == jnp.float64
    np.testing.assert_allclose(tuned.step_size, params["step_size"], rtol=1e-10)
    np.testing.assert_allclose(tuned.inverse_mass_matrix, params["inverse_mass_matrix"], rtol=1e-10)
    np.testing.assert_allclose(tuned.state.position, state.position, rtol=1e-10, atol=1e-12)
    index = jnp.arange(26)
    (mean_steps,) = params["integration_steps_params"]
    ours = jax.vmap(
        lambda i: adaptation_module._halton_integration_steps(
            adaptation_module._halton_bits(20, 6), i, mean_steps
        )
    )(index)
    np.testing.assert_array_equal(
        ours, jax.vmap(lambda i: params["integration_steps_fn"](i, mean_steps))(index)
    )
    assert len(set(np.asarray(ours).tolist())) > 1  # the jitter varies the counts
    np.testing.assert_array_equal(
        adaptation_module._next_random_arg(index), params["next_random_arg_fn"](index)
    )


def test_bad_input(key):
    with pytest.raises(ValueError, match="num_steps"):
        window_adaptation(key, blackjax.nuts, _logp, jnp.zeros((2, 3)), -1)
    with pytest.raises(ValueError, match="target_acceptance_rate"):
        step_size_adaptation(
            key,
            lambda s: blackjax.mala(_logp, s),
            jnp.zeros((2, 3)),
            5,
            initial_step_size=0.1,
            target_acceptance_rate=1.0,
        )
    with pytest.raises(ValueError, match="at least 2 chains"):
        chees_adaptation(key, _logp, jnp.zeros((1, 3)), 10)
    with pytest.raises(ValueError, match="learning_rate"):
        chees_adaptation(key, _logp, jnp.zeros((4, 3)), 10, learning_rate=0.0)
    with pytest.raises(ValueError, match="leading"):
        window_adaptation(
            key, blackjax.nuts, _logp, {"a": jnp.zeros((2, 3)), "b": jnp.zeros((3,))}, 5
        )
