"""Tests for the checkerboard local Metropolis kernel of phi^4."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.lattice import (
    HoppingCouplings,
    MassCouplings,
    free_field_exact,
    magnetisation,
    phi4_metropolis,
)


def _run(kernel, key, initial, num_sweeps):
    """Independent chains (leading axis of ``initial``) -> per-sweep <phi^2>, m, acceptance."""

    def one_chain(key, phi):
        def body(state, k):
            state, info = kernel.step(k, state)
            return state, (jnp.mean(state.position**2), magnetisation(state.position), info)

        return jax.lax.scan(body, kernel.init(phi), jax.random.split(key, num_sweeps))[1]

    keys = jax.random.split(key, initial.shape[0])
    return jax.jit(jax.vmap(one_chain))(keys, initial)


def _chain_means_z(values, exact):
    """z-score of the mean of independent chain means (each chain's own autocorrelation is
    absorbed by treating chain means as i.i.d. draws)."""
    means = np.asarray(values).mean(axis=1)
    se = means.std(ddof=1) / np.sqrt(len(means))
    return (means.mean() - exact) / se, se


def test_free_field_against_exact_propagator(key):
    """<phi^2> and chi = V <m^2> = G(p=0) within 5 standard errors (false-failure rate ~6e-7 per
    comparison for a Gaussian mean; 16 chain means give a t-distributed statistic with 15 dof,
    for which |t| > 5 has probability ~2e-4)."""
    # Mass form here; the hopping form is sampled by the same kernel in the sample_phi4 tests.
    couplings = MassCouplings(mass_squared=0.5, g=0.0)
    shape, chains, sweeps, burn = (8, 8), 16, 6000, 500
    kernel = phi4_metropolis(couplings, step_size=1.5)
    phi2, mags, info = _run(kernel, key, jnp.zeros((chains, *shape)), sweeps)
    exact = free_field_exact(shape, couplings)
    z_phi2, _ = _chain_means_z(phi2[:, burn:], float(exact.phi_squared))
    z_chi, _ = _chain_means_z(64 * mags[:, burn:] ** 2, float(exact.susceptibility))
    print(f"free field {couplings}: z(<phi^2>) = {z_phi2:.2f}, z(chi) = {z_chi:.2f}")
    assert abs(z_phi2) < 5 and abs(z_chi) < 5
    assert 0.2 < float(info.acceptance_rate.mean()) < 0.9


@pytest.mark.slow
def test_free_field_three_dimensions_long(key):
    couplings = MassCouplings(mass_squared=0.2, g=0.0)
    shape, chains, sweeps, burn = (6, 6, 6), 16, 10000, 1000
    kernel = phi4_metropolis(couplings, step_size=1.2)
    phi2, mags, _ = _run(kernel, key, jnp.zeros((chains, *shape)), sweeps)
    exact = free_field_exact(shape, couplings)
    z_phi2, _ = _chain_means_z(phi2[:, burn:], float(exact.phi_squared))
    z_chi, _ = _chain_means_z(216 * mags[:, burn:] ** 2, float(exact.susceptibility))
    print(f"3-d free field: z(<phi^2>) = {z_phi2:.2f}, z(chi) = {z_chi:.2f}")
    assert abs(z_phi2) < 5 and abs(z_chi) < 5


def test_single_site_exact_distribution(key):
    """A 2-site lattice in d = 1 with kappa = 0 factorises: each site has density proportional to
    exp(-phi^2 - lam (phi^2 - 1)^2); compare <phi^2> with the quadrature value."""
    lam = 0.8
    grid = np.linspace(-4, 4, 20001)
    w = np.exp(-(grid**2) - lam * (grid**2 - 1) ** 2)
    exact = float(np.sum(grid**2 * w) / np.sum(w))
    kernel = phi4_metropolis(HoppingCouplings(kappa=0.0, lam=lam), step_size=1.5)
    phi2, _, _ = _run(kernel, key, jnp.zeros((16, 2)), 4000)
    z, _ = _chain_means_z(phi2[:, 200:], exact)
    assert abs(z) < 5


def test_kernel_respects_dtype_and_vmaps(key):
    kernel = phi4_metropolis(HoppingCouplings(kappa=0.2, lam=0.5), step_size=1.0)
    states = jax.vmap(kernel.init)(jnp.zeros((3, 4, 4), jnp.float32))
    new, info = jax.jit(jax.vmap(kernel.step))(jax.random.split(key, 3), states)
    assert new.position.shape == (3, 4, 4) and new.position.dtype == jnp.float32
    chex.assert_shape(info.acceptance_rate, (3,))
    # Different keys give different chains.
    assert not np.allclose(new.position[0], new.position[1])


def test_bad_input():
    with pytest.raises(ValueError, match="step_size"):
        phi4_metropolis(HoppingCouplings(kappa=0.2, lam=0.5), step_size=0.0)
    kernel = phi4_metropolis(HoppingCouplings(kappa=0.2, lam=0.5))
    with pytest.raises(ValueError, match="even"):
        kernel.init(jnp.zeros((4, 5)))
    with pytest.raises(ValueError, match="floating"):
        kernel.init(jnp.zeros((4, 4), jnp.int32))
    with pytest.raises(ValueError, match=r"couplings\.lam"):
        phi4_metropolis(HoppingCouplings(kappa=0.2, lam=-0.5)).init(jnp.zeros((4, 4)))
