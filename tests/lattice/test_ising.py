"""Ising energy, observables and the checkerboard Metropolis / heat-bath kernels."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.lattice import (
    binder_cumulant,
    ising_energy,
    ising_heatbath_kernel,
    ising_magnetisation,
    ising_metropolis_kernel,
    specific_heat,
    susceptibility,
)


def loop_energy(spins, J, h):
    """Energy per site by an explicit loop over the 2 L^2 bonds."""
    size = spins.shape[0]
    total = 0.0
    for i in range(size):
        for j in range(size):
            s = spins[i, j]
            total -= J * s * (spins[i, (j + 1) % size] + spins[(i + 1) % size, j]) + h * s
    return total / size**2


def random_spins(key, shape):
    return jnp.where(jax.random.bernoulli(key, 0.5, shape), 1, -1).astype(jnp.int8)


def test_energy_and_magnetisation_match_loops(key):
    spins = random_spins(key, (3, 6, 6))
    energies, mags = jax.jit(lambda s: (ising_energy(s, 0.7, -0.4), ising_magnetisation(s)))(spins)
    chex.assert_shape([energies, mags], (3,))
    for b, s in enumerate(np.asarray(spins, dtype=np.float64)):
        assert abs(float(energies[b]) - loop_energy(s, 0.7, -0.4)) < 1e-5
        assert abs(float(mags[b]) - s.mean()) < 1e-6
    assert float(ising_energy(jnp.ones((4, 4), jnp.int8))) == -2.0
    checkerboard = jnp.asarray((np.indices((4, 4)).sum(0) % 2) * 2 - 1, jnp.int8)
    assert float(ising_energy(checkerboard)) == 2.0


def test_energy_respects_dtype_and_grad_matches_finite_differences(key, x64):
    spins = random_spins(key, (6, 6))
    assert ising_energy(spins, jnp.float32(1.0), jnp.float32(0.0)).dtype == jnp.float32
    energy = jax.jit(lambda J, h: ising_energy(spins, J, h))
    grad = jax.jit(jax.grad(energy, argnums=(0, 1)))(0.8, 0.3)
    eps = 1e-6
    fd_j = (energy(0.8 + eps, 0.3) - energy(0.8 - eps, 0.3)) / (2 * eps)
    fd_h = (energy(0.8, 0.3 + eps) - energy(0.8, 0.3 - eps)) / (2 * eps)
    assert abs(float(grad[0] - fd_j)) < 1e-8
    assert abs(float(grad[1] - fd_h)) < 1e-8


def test_derived_observables_match_numpy(key):
    rng = np.random.default_rng(0)
    e = jnp.asarray(rng.normal(size=(3, 50)), jnp.float32)
    m = jnp.asarray(np.tanh(rng.normal(size=(3, 50))), jnp.float32)
    en, mn = np.asarray(e, np.float64), np.asarray(m, np.float64)

    @jax.jit
    def derived(e, m, b):
        return specific_heat(e, b, 64), susceptibility(m, 64, beta=b), binder_cumulant(m)

    c, chi, u_binder = derived(e, m, 0.4)
    assert abs(float(c) - 0.16 * 64 * en.var()) < 1e-4
    assert abs(float(chi) - 0.4 * 64 * mn.var()) < 1e-4
    u = 1 - np.mean(mn**4) / (3 * np.mean(mn**2) ** 2)
    assert abs(float(u_binder) - u) < 1e-5
    g = jax.jit(jax.grad(lambda b: derived(e, m, b)[0]))(0.4)
    assert abs(float(g) - 2 * 0.4 * 64 * en.var()) < 1e-3


@pytest.mark.parametrize("make", [ising_metropolis_kernel, ising_heatbath_kernel])
def test_zero_temperature_keeps_ground_state(key, make):
    kernel = make(1e3)
    state = kernel.init(jnp.ones((8, 8), jnp.int8))
    state, info = jax.jit(kernel.step)(key, state)
    assert bool(jnp.all(state.spins == 1))
    assert float(info["flip_rate"]) == 0.0


def test_metropolis_at_infinite_temperature_flips_every_spin(key):
    kernel = ising_metropolis_kernel(0.0)
    spins = random_spins(key, (6, 6))
    state, info = jax.jit(kernel.step)(key, kernel.init(spins))
    assert bool(jnp.all(state.spins == -spins))
    assert float(info["flip_rate"]) == 1.0


def test_heatbath_at_infinite_temperature_is_uniform(key):
    # 64 chains x 100 sites x 20 sweeps of fair coins: P(up) = 1/2 within 5 standard errors.
    kernel = ising_heatbath_kernel(0.0)
    states = jax.vmap(kernel.init)(jnp.ones((64, 10, 10), jnp.int8))

    @jax.jit
    def run(states, key):
        def sweep(states, k):
            states, _ = jax.vmap(kernel.step)(jax.random.split(k, 64), states)
            return states, jnp.mean(states.spins == 1)

        return jax.lax.scan(sweep, states, jax.random.split(key, 20))[1]

    up = float(jnp.mean(run(states, key)))
    n = 64 * 100 * 20
    assert abs(up - 0.5) < 5 * np.sqrt(0.25 / n)


def test_kernels_vmap_over_chains_and_beta(key):
    def one(beta, k):
        kernel = ising_metropolis_kernel(beta)
        _, info = kernel.step(k, kernel.init(jnp.ones((8, 8), jnp.int8)))
        return info["flip_rate"]

    betas = jnp.array([0.0, 0.2, 1e3])
    rates = jax.jit(jax.vmap(one))(betas, jax.random.split(key, 3))
    chex.assert_shape(rates, (3,))
    assert float(rates[0]) == 1.0
    assert float(rates[2]) == 0.0


@pytest.mark.parametrize("make", [ising_metropolis_kernel, ising_heatbath_kernel])
def test_kernel_bad_input(make):
    for beta in (-0.1, float("nan")):
        with pytest.raises(ValueError, match="beta"):
            make(beta)
    with pytest.raises(ValueError, match="J"):
        make(0.3, J=float("nan"))
    with pytest.raises(ValueError, match="h"):
        make(0.3, h=float("inf"))
    kernel = make(0.3)
    with pytest.raises(ValueError, match="L must be even"):
        kernel.init(jnp.ones((5, 5), jnp.int8))
    with pytest.raises(ValueError, match="shape"):
        kernel.init(jnp.ones((4, 6), jnp.int8))
    with pytest.raises(ValueError, match="-1 and"):
        kernel.init(jnp.zeros((4, 4), jnp.int8))
