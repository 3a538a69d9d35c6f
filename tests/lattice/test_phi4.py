"""Tests for the phi^4 action, its two parameterisations and the blackjax log-density."""

import itertools

import blackjax
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.lattice import (
    HoppingCouplings,
    MassCouplings,
    hopping_to_mass,
    local_coefficients,
    mass_to_hopping,
    phi4_action,
    phi4_logdensity_fn,
)


def _action_by_loops(phi, kappa, lam):
    """Hopping-form action written site by site, straight from the formula."""
    phi = np.asarray(phi)
    total = 0.0
    for x in itertools.product(*[range(s) for s in phi.shape]):
        hop = 0.0
        for mu in range(phi.ndim):
            y = list(x)
            y[mu] = (y[mu] + 1) % phi.shape[mu]
            hop += phi[x] * phi[tuple(y)]
        total += -2 * kappa * hop + phi[x] ** 2 + lam * (phi[x] ** 2 - 1) ** 2
    return total


@pytest.mark.parametrize("shape", [(6,), (4, 6), (2, 4, 6)])
def test_action_matches_site_by_site_formula(x64, key, shape):
    phi = jax.random.normal(key, shape, jnp.float64)
    got = phi4_action(phi, HoppingCouplings(kappa=0.13, lam=0.7))
    np.testing.assert_allclose(got, _action_by_loops(phi, 0.13, 0.7), rtol=1e-12)


@pytest.mark.parametrize("ndim", [1, 2, 3, 4])
def test_coupling_maps_are_inverse(x64, ndim):
    hop = HoppingCouplings(kappa=0.11, lam=0.37)
    back = mass_to_hopping(hopping_to_mass(hop, ndim), ndim)
    np.testing.assert_allclose(back, hop, rtol=1e-13)
    mass = MassCouplings(mass_squared=-0.8, g=2.4)
    back = hopping_to_mass(mass_to_hopping(mass, ndim), ndim)
    np.testing.assert_allclose(back, mass, rtol=1e-12)


@pytest.mark.parametrize("shape", [(8,), (6, 4), (4, 4, 4)])
def test_two_parameterisations_are_the_same_theory(x64, key, shape):
    """S_kappa[phi] = S_m[sqrt(2 kappa) phi] + lam V exactly, so the log-densities agree after
    the field rescaling up to a field-independent constant."""
    hop = HoppingCouplings(kappa=0.09, lam=0.8)
    mass = hopping_to_mass(hop, len(shape))
    scale = np.sqrt(2 * hop.kappa)
    volume = int(np.prod(shape))
    log_hop = phi4_logdensity_fn(hop, ndim=len(shape))
    log_mass = phi4_logdensity_fn(mass, ndim=len(shape))
    fields = 1.5 * jax.random.normal(key, (5, *shape), jnp.float64)
    diffs = jax.jit(jax.vmap(lambda f: log_hop(f) - log_mass(scale * f)))(fields)
    np.testing.assert_allclose(diffs, -hop.lam * volume, rtol=1e-12)


def test_local_coefficients_of_both_forms():
    hop = local_coefficients(HoppingCouplings(kappa=0.25, lam=0.5), ndim=3)
    assert hop == (0.5, 0.0, 0.5, 0.5)
    mass = local_coefficients(MassCouplings(mass_squared=-1.0, g=48.0), ndim=3)
    assert mass == (1.0, 2.5, 2.0, 0.0)


@pytest.mark.parametrize(
    "couplings", [HoppingCouplings(kappa=0.2, lam=0.6), MassCouplings(mass_squared=-0.5, g=3.0)]
)
def test_gradient_matches_finite_differences(x64, key, couplings):
    k_phi, k_dir = jax.random.split(key)
    phi = jax.random.normal(k_phi, (6, 6), jnp.float64)
    direction = jax.random.normal(k_dir, (6, 6), jnp.float64)
    action = jax.jit(phi4_action)
    grad = jax.jit(jax.grad(phi4_action))(phi, couplings)
    eps = 1e-5
    fd = (action(phi + eps * direction, couplings) - action(phi - eps * direction, couplings)) / (
        2 * eps
    )
    # Central differences have O(eps^2) truncation error (~1e-9 here) and ~1e-11 rounding.
    np.testing.assert_allclose(jnp.vdot(grad, direction), fd, rtol=1e-7)
    # Derivative in the couplings too (used for reweighting and coupling sensitivities).
    g_c = jax.jit(jax.grad(phi4_action, argnums=1))(phi, couplings)
    for i in range(2):
        up = list(couplings)
        down = list(couplings)
        up[i] += eps
        down[i] -= eps
        fd_c = phi4_action(phi, type(couplings)(*up)) - phi4_action(phi, type(couplings)(*down))
        np.testing.assert_allclose(g_c[i], fd_c / (2 * eps), rtol=1e-7)


def test_gradient_of_coupling_map_matches_finite_differences(x64):
    def kappa_of(m2):
        return mass_to_hopping(MassCouplings(m2, 1.7), 2).kappa

    eps = 1e-6
    fd = (kappa_of(0.3 + eps) - kappa_of(0.3 - eps)) / (2 * eps)
    np.testing.assert_allclose(jax.grad(kappa_of)(jnp.float64(0.3)), fd, rtol=1e-7)


def test_action_respects_dtype_and_composes_with_jit_vmap(key):
    couplings = HoppingCouplings(kappa=0.2, lam=0.5)
    fields = jax.random.normal(key, (3, 4, 4), jnp.float32)
    batched = jax.jit(jax.vmap(lambda f: phi4_action(f, couplings)))(fields)
    assert batched.dtype == jnp.float32 and batched.shape == (3,)
    np.testing.assert_allclose(batched[1], phi4_action(fields[1], couplings), rtol=1e-6)


def test_logdensity_drives_blackjax_hmc(key):
    logdensity = phi4_logdensity_fn(HoppingCouplings(kappa=0.2, lam=0.5))
    hmc = blackjax.hmc(logdensity, 0.2, jnp.ones(16), num_integration_steps=5)
    state = hmc.init(jnp.zeros((4, 4)))
    state, _ = jax.jit(hmc.step)(key, state)
    chex.assert_shape(state.position, (4, 4))
    assert np.isfinite(float(state.logdensity))


@pytest.mark.parametrize(
    ("couplings", "match"),
    [
        (HoppingCouplings(kappa=0.2, lam=-0.1), "couplings.lam"),
        (HoppingCouplings(kappa=float("nan"), lam=0.1), "couplings.kappa"),
        (HoppingCouplings(kappa=0.3, lam=0.0), "couplings.kappa"),
        (MassCouplings(mass_squared=1.0, g=-2.0), "couplings.g"),
        (MassCouplings(mass_squared=float("inf"), g=1.0), "couplings.mass_squared"),
        (MassCouplings(mass_squared=-0.1, g=0.0), "couplings.mass_squared"),
        ((0.2, 0.1), "couplings must be"),
    ],
)
def test_bad_couplings_raise(couplings, match):
    with pytest.raises(ValueError, match=match):
        phi4_logdensity_fn(couplings, ndim=2)


def test_bad_map_arguments_raise():
    with pytest.raises(ValueError, match=r"couplings\.kappa"):
        hopping_to_mass(HoppingCouplings(kappa=0.0, lam=0.1), 2)
    with pytest.raises(ValueError, match="ndim"):
        hopping_to_mass(HoppingCouplings(kappa=0.1, lam=0.1), 0)
    with pytest.raises(ValueError, match=r"couplings\.mass_squared"):
        mass_to_hopping(MassCouplings(mass_squared=-4.0, g=0.0), 2)


def test_logdensity_rejects_wrong_field_rank():
    logdensity = phi4_logdensity_fn(HoppingCouplings(kappa=0.2, lam=0.5), ndim=2)
    with pytest.raises(ValueError, match="phi must have 2"):
        logdensity(jnp.zeros((4, 4, 4)))
