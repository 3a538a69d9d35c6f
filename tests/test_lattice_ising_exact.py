"""Kaufman's finite-lattice formula against full enumeration, Onsager's limit and autodiff."""

import importlib
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import ellipk

from edtjax.lattice import BETA_CRITICAL, ising_enumerate, ising_exact

BETAS = (0.05, 0.3, BETA_CRITICAL, 0.6, 1.5)


def onsager(beta):
    """Onsager's infinite-lattice free energy and energy per site (J = 1, h = 0)."""
    k2 = 2.0 * beta
    kappa = 2.0 * np.sinh(k2) / np.cosh(k2) ** 2
    theta = (np.arange(200_000) + 0.5) * (np.pi / 2) / 200_000
    integrand = np.log((1.0 + np.sqrt(1.0 - kappa**2 * np.sin(theta) ** 2)) / 2.0)
    minus_beta_f = np.log(2.0 * np.cosh(k2)) + integrand.mean() / 2.0
    energy = -(1.0 / np.tanh(k2)) * (
        1.0 + (2.0 / np.pi) * (2.0 * np.tanh(k2) ** 2 - 1.0) * ellipk(kappa**2)
    )
    return -minus_beta_f / beta, energy


def brute_force(size, beta, J=1.0, h=0.0):
    """Direct loop over all configurations, independent of the vectorised enumeration."""
    log_w, energies, mags = [], [], []
    for config in itertools.product((-1, 1), repeat=size * size):
        s = np.array(config, dtype=np.float64).reshape(size, size)
        energy = -J * np.sum(s * (np.roll(s, 1, 0) + np.roll(s, 1, 1))) - h * s.sum()
        log_w.append(-beta * energy)
        energies.append(energy)
        mags.append(s.mean())
    log_w = np.array(log_w)
    log_z = np.log(np.sum(np.exp(log_w - log_w.max()))) + log_w.max()
    p = np.exp(log_w - log_z)
    e = np.array(energies)
    m = np.array(mags)
    return log_z, p @ e / size**2, p @ np.abs(m), p @ m**2


@pytest.mark.parametrize("size", [2, 4])
@pytest.mark.parametrize("beta", BETAS)
def test_kaufman_matches_enumeration(x64, size, beta):
    exact = ising_exact(size, beta)
    enum = ising_enumerate(size, beta)
    assert abs(float(exact.log_z - enum.log_z)) < 1e-10
    assert abs(float(exact.energy - enum.energy)) < 1e-10
    assert abs(float(exact.specific_heat - enum.specific_heat)) < 1e-10


@pytest.mark.parametrize(("beta", "J", "h"), [(0.3, 1.0, 0.0), (0.5, -0.7, 0.4), (0.2, 1.3, -1.1)])
def test_enumeration_matches_brute_force(x64, beta, J, h):
    log_z, energy, abs_m, m2 = brute_force(3, beta, J, h)
    enum = ising_enumerate(3, beta, J=J, h=h)
    np.testing.assert_allclose(
        [enum.log_z, enum.energy, enum.abs_magnetisation, enum.magnetisation_sq],
        [log_z, energy, abs_m, m2],
        rtol=1e-12,
    )


def test_enumeration_derivatives_are_fluctuations(x64):
    # d<m>/dh = chi and -d ln Z / d beta = N e, by autodiff through the weighted sums.
    beta, h = 0.35, 0.2
    dm_dh = jax.grad(lambda hh: ising_enumerate(4, beta, h=hh).magnetisation)(h)
    enum = ising_enumerate(4, beta, h=h)
    assert abs(float(dm_dh - enum.susceptibility)) < 1e-10
    dlogz = jax.grad(lambda b: ising_enumerate(4, b, h=h).log_z)(beta)
    assert abs(float(-dlogz / 16 - enum.energy)) < 1e-10


def test_enumeration_limits(x64):
    enum = ising_enumerate(4, 0.0)
    assert abs(float(enum.log_z) - 16 * np.log(2.0)) < 1e-12
    cold = ising_enumerate(4, 20.0)
    assert abs(float(cold.energy) + 2.0) < 1e-12
    assert abs(float(cold.binder_cumulant) - 2.0 / 3.0) < 1e-12


def test_kaufman_near_onsager_at_l128(x64):
    betas = (0.3, BETA_CRITICAL, 0.6)
    exact = jax.vmap(lambda b: ising_exact(128, b))(jnp.array(betas))
    reference = np.array([onsager(b) for b in betas])
    # Exponentially small finite-size gaps off criticality; 1/L-like at beta_c (0.0049 at L=128).
    np.testing.assert_allclose(exact.free_energy, reference[:, 0], atol=1e-4)
    np.testing.assert_allclose(np.asarray(exact.energy)[[0, 2]], reference[[0, 2], 1], atol=1e-10)
    assert 1e-3 < reference[1, 1] - float(exact.energy[1]) < 1e-2


@pytest.mark.slow
def test_kaufman_approaches_onsager(x64):
    betas = jnp.array([0.3, BETA_CRITICAL, 0.6])
    reference = np.array([onsager(float(b)) for b in betas])  # (beta, [f, e])
    gaps = []
    for size in (32, 128, 512):
        exact = jax.vmap(lambda b, size=size: ising_exact(size, b))(betas)
        gaps.append(
            np.abs(np.stack([exact.free_energy, exact.energy], axis=-1) - reference)
        )  # (beta, [f, e])
    gaps = np.array(gaps)  # (size, beta, [f, e])
    # Off criticality the finite-size gap closes exponentially, down to float64 rounding of the
    # O(L) terms of ln Z (about 1e-11 at L = 512); at beta_c it closes like 1/L.
    assert np.all(gaps[1:] <= np.maximum(gaps[:-1], 1e-10))
    assert np.all(gaps[-1, :, 0] < 1e-5)
    assert np.all(gaps[-1, [0, 2], 1] < 1e-10)
    critical_energy_gap = gaps[:, 1, 1]
    assert critical_energy_gap[-1] < critical_energy_gap[-2] / 3.5 < critical_energy_gap[0] / 12


def test_kaufman_grad_matches_finite_differences(x64):
    def energy(b):
        return ising_exact(4, b).energy

    beta, step = 0.42, 1e-5
    fd = (energy(beta + step) - energy(beta - step)) / (2 * step)
    # dE/dbeta = -Var(H)/N = -c / beta^2
    assert abs(float(jax.grad(energy)(beta) - fd)) < 1e-6
    c = ising_exact(4, beta).specific_heat
    assert abs(float(fd + c / beta**2)) < 1e-6


def test_kaufman_vmaps_and_large_beta_is_finite(x64):
    betas = jnp.array([0.1, BETA_CRITICAL, 3.0, 50.0])
    out = jax.vmap(lambda b: ising_exact(32, b))(betas)
    assert np.all(np.isfinite(np.asarray(out.energy)))
    assert np.all(np.isfinite(np.asarray(out.specific_heat)))
    # Ground state energy -2 up to float64 rounding of the O(L) terms (cosh 2K ~ e^100).
    assert abs(float(out.energy[-1]) + 2.0) < 1e-10


def test_exact_and_enumeration_do_not_retrace(x64):
    exact_module = importlib.import_module("edtjax.lattice.ising_exact")

    ising_exact(32, 0.31)
    ising_enumerate(4, 0.31, h=0.1)
    sizes = (exact_module._ising_exact._cache_size(), exact_module._ising_enumerate._cache_size())
    ising_exact(32, 0.47)
    ising_enumerate(4, 0.52, h=-0.3)
    after = (exact_module._ising_exact._cache_size(), exact_module._ising_enumerate._cache_size())
    assert after == sizes


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"L": 5, "beta": 0.3}, "L must be even"),
        ({"L": 0, "beta": 0.3}, "L must be >= 2"),
        ({"L": 4, "beta": -0.1}, "beta"),
        ({"L": 4, "beta": float("nan")}, "beta"),
        ({"L": 4, "beta": 0.0}, "beta"),
        ({"L": 4, "beta": 0.3, "J": float("nan")}, "J"),
    ],
)
def test_exact_bad_input(x64, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ising_exact(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"L": 5, "beta": 0.3}, "L must be <= 4"),
        ({"L": 4, "beta": -1.0}, "beta"),
        ({"L": 4, "beta": 0.3, "h": float("nan")}, "h"),
    ],
)
def test_enumerate_bad_input(x64, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ising_enumerate(**kwargs)


def test_float32_is_refused():
    if jax.config.read("jax_enable_x64"):
        pytest.skip("float64 is enabled globally")
    with pytest.raises(ValueError, match="float64"):
        ising_exact(4, 0.3)
    with pytest.raises(ValueError, match="float64"):
        ising_enumerate(4, 0.3)
