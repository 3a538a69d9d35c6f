"""Tests for phi^4 observables and the exact free-field results."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.lattice import (
    HoppingCouplings,
    MassCouplings,
    abs_magnetisation,
    action_per_site,
    binder_cumulant,
    connected_two_point,
    free_field_exact,
    magnetisation,
    mass_to_hopping,
    momentum_two_point,
    phi4_action,
    susceptibility,
    two_point_function,
)


def test_two_point_function_matches_direct_sum(x64, key):
    phi = jax.random.normal(key, (4, 6), jnp.float64)
    direct = np.zeros((4, 6))
    p = np.asarray(phi)
    for x0, x1 in itertools.product(range(4), range(6)):
        direct[x0, x1] = np.mean(p * np.roll(p, (-x0, -x1), axis=(0, 1)))
    np.testing.assert_allclose(two_point_function(phi), direct, rtol=1e-12, atol=1e-14)
    # Zero momentum of the correlator is V m^2; C(0) is the mean of phi^2.
    np.testing.assert_allclose(momentum_two_point(phi)[0, 0], phi.size * magnetisation(phi) ** 2)
    np.testing.assert_allclose(jnp.sum(two_point_function(phi)), phi.size * magnetisation(phi) ** 2)
    np.testing.assert_allclose(two_point_function(phi)[0, 0], jnp.mean(phi**2))
    assert abs_magnetisation(-phi) == abs_magnetisation(phi) >= 0


def test_susceptibility_is_zero_momentum_connected_two_point(x64, key):
    fields = 0.3 + jax.random.normal(key, (50, 4, 4), jnp.float64)
    mags = jax.jit(jax.vmap(magnetisation))(fields)
    corr = jax.jit(jax.vmap(two_point_function))(fields)
    g_c = connected_two_point(corr, mags)
    np.testing.assert_allclose(jnp.sum(g_c), susceptibility(mags, 16, beta=1.0), rtol=1e-12)


def test_susceptibility_requires_the_convention():
    # beta has no default: phi^4 (beta = 1) and Ising (beta N Var(m)) differ by that factor.
    with pytest.raises(TypeError, match="beta"):
        susceptibility(jnp.array([1.0, -1.0]), 4)
    with pytest.raises(TypeError):
        susceptibility(jnp.array([1.0, -1.0]), 4, 0.5)  # keyword-only


def test_binder_cumulant_limits(x64, key):
    # Gaussian m: <m^4> = 3 <m^2>^2, so U4 = 0 up to sampling error; with 2e5 draws the standard
    # error of U4 is about sqrt(24/n)/3 ~ 0.004, so 0.02 is 5 standard errors.
    gauss = jax.random.normal(key, (200_000,), jnp.float64)
    assert abs(float(binder_cumulant(gauss))) < 0.02
    np.testing.assert_allclose(binder_cumulant(jnp.array([1.0, -1.0, 1.0])), 2 / 3)


def test_action_per_site(key):
    phi = jax.random.normal(key, (4, 8))
    c = HoppingCouplings(kappa=0.1, lam=0.3)
    np.testing.assert_allclose(action_per_site(phi, c), phi4_action(phi, c) / 32, rtol=1e-6)


def _quadratic_form(shape, couplings):
    """Matrix M with S = phi^T M phi / 2 for the free theory, built site by site."""
    sites = list(itertools.product(*[range(s) for s in shape]))
    index = {x: i for i, x in enumerate(sites)}
    if isinstance(couplings, HoppingCouplings):
        c, a = 2 * couplings.kappa, 1.0
    else:
        c, a = 1.0, len(shape) + couplings.mass_squared / 2
    m = np.zeros((len(sites), len(sites)))
    for x in sites:
        m[index[x], index[x]] += 2 * a
        for mu in range(len(shape)):
            y = list(x)
            y[mu] = (y[mu] + 1) % shape[mu]
            m[index[x], index[tuple(y)]] -= c
            m[index[tuple(y)], index[x]] -= c
    return m


@pytest.mark.parametrize(
    ("shape", "couplings"),
    [
        ((6,), MassCouplings(mass_squared=0.3, g=0.0)),
        ((4, 6), MassCouplings(mass_squared=0.7, g=0.0)),
        ((4, 6), HoppingCouplings(kappa=0.2, lam=0.0)),
        ((2, 4, 4), HoppingCouplings(kappa=-0.1, lam=0.0)),
    ],
)
def test_free_field_matches_inverse_of_quadratic_form(x64, shape, couplings):
    """The Fourier-sum propagator equals the covariance M^{-1} of the Gaussian exp(-S)."""
    cov = np.linalg.inv(_quadratic_form(shape, couplings))
    volume = cov.shape[0]
    exact = free_field_exact(shape, couplings)
    np.testing.assert_allclose(exact.phi_squared, np.trace(cov) / volume, rtol=1e-12)
    np.testing.assert_allclose(exact.susceptibility, cov.sum() / volume, rtol=1e-12)
    np.testing.assert_allclose(exact.position_propagator.ravel(), cov[0], rtol=1e-10, atol=1e-14)
    assert float(exact.action_per_site) == 0.5


def test_free_field_in_mass_form_is_lattice_propagator(x64):
    m2 = 0.25
    exact = free_field_exact((8, 16), MassCouplings(mass_squared=m2, g=0.0))
    p0 = 2 * np.pi * np.arange(8) / 8
    p1 = 2 * np.pi * np.arange(16) / 16
    phat2 = 4 * np.sin(p0[:, None] / 2) ** 2 + 4 * np.sin(p1[None, :] / 2) ** 2
    np.testing.assert_allclose(exact.propagator, 1 / (phat2 + m2), rtol=1e-13)
    assert float(exact.susceptibility) == pytest.approx(1 / m2, rel=1e-13)
    # Same theory in the hopping form: fields differ by sqrt(2 kappa).
    hop = mass_to_hopping(MassCouplings(mass_squared=m2, g=0.0), 2)
    exact_hop = free_field_exact((8, 16), hop)
    np.testing.assert_allclose(2 * hop.kappa * exact_hop.propagator, exact.propagator, rtol=1e-12)


def test_free_field_exact_respects_dtype():
    exact = free_field_exact((4, 4), MassCouplings(1.0, 0.0), dtype=jnp.float32)
    assert exact.propagator.dtype == jnp.float32


@pytest.mark.parametrize(
    ("shape", "couplings", "match"),
    [
        ((4, 4), HoppingCouplings(kappa=0.1, lam=0.2), "couplings.lam must be 0"),
        ((4, 4), MassCouplings(mass_squared=1.0, g=0.5), "couplings.g must be 0"),
        ((4, 1), MassCouplings(mass_squared=1.0, g=0.0), r"shape\[1\]"),
        (4, MassCouplings(mass_squared=1.0, g=0.0), "shape must be"),
        ((4, 4), MassCouplings(mass_squared=float("nan"), g=0.0), "mass_squared"),
        ((4, 4), HoppingCouplings(kappa=0.25, lam=0.0), "couplings.kappa"),
    ],
)
def test_free_field_bad_input(shape, couplings, match):
    with pytest.raises(ValueError, match=match):
        free_field_exact(shape, couplings)
