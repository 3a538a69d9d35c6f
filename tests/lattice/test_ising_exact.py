"""Kaufman's finite-lattice formula against full enumeration, Onsager's limit and autodiff."""

import decimal
import functools
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


# --- An independent high-precision oracle: Beale's four products evaluated directly ------------
# (no log-space regrouping, no autodiff) in 100-digit decimal arithmetic, with derivatives in beta
# by central finite differences of step 1e-25. Rounding of ln Z (about 1e6 at L = 1024) is then
# ~1e-94, so the finite-difference second derivative is exact to ~1e-44 and its truncation error
# (h^2 d^4 ln Z / 12, d^4 ln Z <= ~1e13) to ~1e-38: far below the 1e-10 being tested.

_DIGITS = 100


def _decimal_context():
    return decimal.Context(prec=_DIGITS, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)


def _decimal_pi():
    # Machin: pi = 16 atan(1/5) - 4 atan(1/239), each by its alternating series.
    def atan_inv(n):
        x = decimal.Decimal(1) / n
        total, term, k = x, x, 1
        while True:
            term = -term * x * x
            updated = total + term / (2 * k + 1)
            if updated == total:
                return total
            total, k = updated, k + 1

    return 16 * atan_inv(5) - 4 * atan_inv(239)


def _decimal_cos(x):
    total, term, k = decimal.Decimal(1), decimal.Decimal(1), 0
    while True:
        term = -term * x * x / ((2 * k + 1) * (2 * k + 2))
        updated = total + term
        if updated == total:
            return total
        total, k = updated, k + 1


@functools.lru_cache(maxsize=4)
def _decimal_cosines(n):
    with decimal.localcontext(_decimal_context()) as ctx:
        ctx.prec = _DIGITS + 10
        pi = _decimal_pi()
        return tuple(+_decimal_cos(pi * ell / n) for ell in range(2 * n))


def _decimal_log_z(n, beta):
    """ln Z of the periodic n x n lattice (J = 1) from Beale (1996), eqs. (2)-(5), directly."""
    with decimal.localcontext(_decimal_context()):
        k = decimal.Decimal(beta)
        e2k = (2 * k).exp()
        sinh_2k, cosh_2k = (e2k - 1 / e2k) / 2, (e2k + 1 / e2k) / 2
        c = cosh_2k * cosh_2k / sinh_2k
        cosines = _decimal_cosines(n)
        gamma = [None] * (2 * n)
        for ell in range(1, 2 * n):
            arg = c - cosines[ell]
            gamma[ell] = (arg + (arg * arg - 1).sqrt()).ln()
        ek = k.exp()
        gamma[0] = 2 * k + ((ek - 1 / ek) / (ek + 1 / ek)).ln()
        total = decimal.Decimal(0)
        for parity in (1, 0):
            prod_cosh, prod_sinh = decimal.Decimal(1), decimal.Decimal(1)
            for r in range(n):
                y = (n * gamma[2 * r + parity] / 2).exp()
                prod_cosh *= y + 1 / y
                prod_sinh *= y - 1 / y
            total += prod_cosh + prod_sinh
        return (total / 2 * (2 * sinh_2k) ** (n * n // 2)).ln()


def decimal_exact(n, beta):
    """(ln Z, energy per site, specific heat per site) as floats, from the 100-digit oracle."""
    with decimal.localcontext(_decimal_context()):
        b, h = decimal.Decimal(beta), decimal.Decimal("1e-25")
        lo, mid, hi = (_decimal_log_z(n, x) for x in (b - h, b, b + h))
        energy = -(hi - lo) / (2 * h) / (n * n)
        specific_heat = b * b * (hi - 2 * mid + lo) / (h * h) / (n * n)
        return float(mid), float(energy), float(specific_heat)


@pytest.mark.parametrize("beta", BETAS)
def test_decimal_oracle_matches_enumeration(x64, beta):
    # The oracle itself, against the full sum over the 2^16 states of the 4 x 4 torus.
    enum = ising_enumerate(4, beta)
    np.testing.assert_allclose(
        decimal_exact(4, beta),
        [enum.log_z, enum.energy, enum.specific_heat],
        rtol=1e-13,
        atol=1e-14,
    )


def _assert_stated_accuracy(size, beta):
    # The accuracy ising_exact's docstring states: ln Z to a relative 1e-14, energy and specific
    # heat per site to an absolute 1e-10.
    log_z, energy, specific_heat = decimal_exact(size, beta)
    exact = ising_exact(size, beta)
    assert abs(float(exact.log_z) - log_z) <= 1e-14 * abs(log_z)
    assert abs(float(exact.energy) - energy) <= 1e-10
    assert abs(float(exact.specific_heat) - specific_heat) <= 1e-10


@pytest.mark.parametrize(
    "size",
    [256, pytest.param(512, marks=pytest.mark.slow), pytest.param(1024, marks=pytest.mark.slow)],
)
@pytest.mark.parametrize("beta", [BETA_CRITICAL, 0.7])
def test_kaufman_is_accurate_at_large_l(x64, size, beta):
    # Second-order autodiff through logaddexp missed the specific heat by 3.7e-8, 1.2e-6 and
    # 1.5e-5 at beta = 0.7 and L = 256, 512, 1024 (2e-10 at beta_c, L = 1024).
    _assert_stated_accuracy(size, beta)


@pytest.mark.slow
@pytest.mark.parametrize("size", [6, 64, 1024])
@pytest.mark.parametrize("beta", [0.05, 0.3, 0.42, 0.46, 0.9, 0.92, 1.5, 5.0])
def test_kaufman_is_accurate_over_beta(x64, size, beta):
    # Both sides of beta_c and of the switch of the gamma_l formula at sinh 2K = 3 (K = 0.909).
    _assert_stated_accuracy(size, beta)


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
        [enum.log_z, enum.energy, enum.abs_magnetisation, enum.magnetisation_squared],
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


@pytest.mark.slow
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
    betas = jnp.array([0.1, BETA_CRITICAL, 3.0, 50.0, 200.0, 1000.0])
    out = jax.vmap(lambda b: ising_exact(32, b))(betas)
    assert np.all(np.isfinite(np.asarray(out.log_z)))
    assert np.all(np.isfinite(np.asarray(out.energy)))
    assert np.all(np.isfinite(np.asarray(out.specific_heat)))
    # Ground state: energy -2 and a specific heat below beta^2 64 e^{-8 beta} < 1e-160 (one flipped
    # spin costs 8J), i.e. 0 to float64 rounding; it used to be -4e-6 at beta = 50 and NaN beyond.
    np.testing.assert_allclose(out.energy[3:], -2.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(out.specific_heat[3:], 0.0, rtol=0, atol=1e-12)


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
