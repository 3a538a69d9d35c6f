"""Exact results for the finite periodic 2-D Ising model: Kaufman's formula and enumeration.

Both functions compute in float64 through JAX (so they are differentiable and can be
``jit``/``vmap``-ed over ``beta``); they require float64 to be enabled
(``jax.config.update("jax_enable_x64", True)``, or scoped: ``with jax.enable_x64(True):``)
and raise :class:`ValueError` otherwise, because the 1e-10 agreement they are used for is out
of reach in float32.

References:
    Kaufman, B. (1949). Crystal statistics. II. Partition function evaluated by spinor analysis.
    Phys. Rev. 76, 1232.

    Beale, P. D. (1996). Exact distribution of energies in the two-dimensional Ising model.
    Phys. Rev. Lett. 76, 78.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from edtjax._checks import check_even, check_int, check_real

__all__ = ["IsingEnumeration", "IsingExact", "ising_enumerate", "ising_exact"]


class IsingExact(NamedTuple):
    """Exact thermodynamics of the periodic ``L x L`` lattice at ``h = 0``.

    Attributes:
        log_z: :math:`\\ln Z`.
        free_energy: free energy per site :math:`f = -\\ln Z / (\\beta L^2)`.
        energy: mean energy per site :math:`\\langle H \\rangle / L^2`.
        specific_heat: :math:`\\beta^2 (\\langle H^2\\rangle - \\langle H\\rangle^2) / L^2`.
    """

    log_z: jax.Array
    free_energy: jax.Array
    energy: jax.Array
    specific_heat: jax.Array


class IsingEnumeration(NamedTuple):
    """Exact averages of a small periodic lattice from the full sum over configurations.

    Attributes:
        log_z: :math:`\\ln Z`.
        energy: :math:`\\langle H \\rangle / N`.
        specific_heat: :math:`\\beta^2 \\operatorname{Var}(H) / N`.
        magnetisation: :math:`\\langle m \\rangle`, :math:`m = \\sum_i s_i / N`.
        abs_magnetisation: :math:`\\langle |m| \\rangle`.
        magnetisation_sq: :math:`\\langle m^2 \\rangle`.
        magnetisation_4: :math:`\\langle m^4 \\rangle`.
        susceptibility: :math:`\\beta N (\\langle m^2\\rangle - \\langle m\\rangle^2)`.
        binder_cumulant: :math:`1 - \\langle m^4\\rangle / (3 \\langle m^2\\rangle^2)`.
    """

    log_z: jax.Array
    energy: jax.Array
    specific_heat: jax.Array
    magnetisation: jax.Array
    abs_magnetisation: jax.Array
    magnetisation_sq: jax.Array
    magnetisation_4: jax.Array
    susceptibility: jax.Array
    binder_cumulant: jax.Array


def _require_x64(name: str) -> None:
    if not jax.config.read("jax_enable_x64"):
        raise ValueError(
            f"{name} computes in float64: enable it with "
            'jax.config.update("jax_enable_x64", True) before calling'
        )


def _log_2cosh(x):
    ax = jnp.abs(x)
    return ax + jnp.log1p(jnp.exp(-2.0 * ax))


def _log_tanh(x):
    # log tanh x = -2 atanh(exp(-2x)) for x > 0, accurate for small and large x.
    return -2.0 * jnp.arctanh(jnp.exp(-2.0 * x))


def _log_neg_log_tanh(x):
    # log(-log tanh x) = log 2 + log atanh(q), q = exp(-2x), written so large x never underflows.
    q = jnp.exp(-2.0 * x)
    small = q < 1e-4
    q_safe = jnp.where(small, 0.5, q)
    log_ratio = jnp.where(small, jnp.log1p(q**2 / 3.0), jnp.log(jnp.arctanh(q_safe) / q_safe))
    return jnp.log(2.0) - 2.0 * x + log_ratio


def _log_one_minus_exp(log_u):
    # log(1 - exp(-u)) given log u, stable for u -> 0 and u large.
    u = jnp.exp(log_u)
    small = u < 1e-8
    u_safe = jnp.where(small, 1.0, u)
    return log_u + jnp.where(small, -u / 2.0, jnp.log(-jnp.expm1(-u_safe) / u_safe))


def _kaufman_log_z(coupling, size: int):
    """:math:`\\ln Z` of the periodic ``size x size`` lattice at reduced coupling ``K > 0``."""
    n = size
    two_k = 2.0 * coupling
    c = jnp.cosh(two_k) / jnp.tanh(two_k)
    # gamma_l for l = 1..2n-1 (arccosh of c - cos(l pi / n) >= 2 - cos > 1, so all > 0).
    ell = jnp.arange(1, 2 * n, dtype=coupling.dtype)
    arg = c - jnp.cos(ell * jnp.pi / n)
    gamma = jnp.log(arg + jnp.sqrt((arg - 1.0) * (arg + 1.0)))
    gamma_odd = gamma[0::2]  # gamma_{2r+1}, r = 0..n-1
    gamma_even = gamma[1::2]  # gamma_{2r}, r = 1..n-1
    gamma_0 = two_k + jnp.log(jnp.tanh(coupling))  # changes sign at K_c

    # Z1 + Z2 = prod 2cosh(x) + prod 2sinh(x) = prod 2cosh(x) * (1 + prod tanh(x)).
    x_odd = 0.5 * n * gamma_odd
    log_z12 = jnp.sum(_log_2cosh(x_odd)) + jax.nn.softplus(jnp.sum(_log_tanh(x_odd)))

    # Z3 + Z4 = P' [2cosh(a) + t 2sinh(a)] = P' [e^a (1 + t) + e^-a (1 - t)], |t| <= 1,
    # with a = n gamma_0 / 2, P' = prod_{r>=1} 2cosh(x_r), t = prod_{r>=1} tanh(x_r).
    x_even = 0.5 * n * gamma_even
    a = 0.5 * n * gamma_0
    log_t = jnp.sum(_log_tanh(x_even))
    log_one_minus_t = _log_one_minus_exp(jax.nn.logsumexp(_log_neg_log_tanh(x_even)))
    log_z34 = jnp.sum(_log_2cosh(x_even)) + jnp.logaddexp(
        a + jax.nn.softplus(log_t), -a + log_one_minus_t
    )

    prefactor = 0.5 * n * n * jnp.log(2.0 * jnp.sinh(two_k)) - jnp.log(2.0)
    return prefactor + jnp.logaddexp(log_z12, log_z34)


@functools.partial(jax.jit, static_argnames="size")
def _ising_exact(size: int, beta, J):
    n_sites = size * size

    def log_z_of(b):
        return _kaufman_log_z(b * J, size)

    log_z, d1 = jax.value_and_grad(log_z_of)(beta)
    d2 = jax.grad(jax.grad(log_z_of))(beta)
    return IsingExact(
        log_z=log_z,
        free_energy=-log_z / (beta * n_sites),
        energy=-d1 / n_sites,
        specific_heat=beta**2 * d2 / n_sites,
    )


def ising_exact(L: int, beta: Any, *, J: Any = 1.0) -> IsingExact:
    """Exact :math:`\\ln Z`, energy and specific heat per site of the periodic ``L x L`` lattice.

    Kaufman's finite-lattice partition function at ``h = 0``, in the form of Beale (1996):

    .. math::

        Z = \\tfrac12 (2\\sinh 2K)^{L^2/2} \\Big[\\prod_{r=0}^{L-1} 2\\cosh\\tfrac{L\\gamma_{2r+1}}2
        + \\prod 2\\sinh\\tfrac{L\\gamma_{2r+1}}2 + \\prod 2\\cosh\\tfrac{L\\gamma_{2r}}2
        + \\prod 2\\sinh\\tfrac{L\\gamma_{2r}}2\\Big],

    with :math:`K = \\beta J`,
    :math:`\\cosh\\gamma_\\ell = \\cosh 2K \\coth 2K - \\cos(\\ell\\pi/L)`
    and :math:`\\gamma_0 = 2K + \\ln\\tanh K` (negative above :math:`K_c`). The four products are
    combined in log space so that nothing overflows for large ``L`` or ``beta``. Energy and specific
    heat are the first and second derivatives of :math:`\\ln Z` in :math:`\\beta`, by autodiff.
    Cost :math:`O(L)` per ``beta``. Jitted; differentiable and vmappable in ``beta``.

    Args:
        L: even linear size, ``>= 2``.
        beta: inverse temperature, ``> 0`` (scalar; ``vmap`` for several).
        J: ferromagnetic coupling, ``> 0``.

    Returns:
        :class:`IsingExact` of float64 scalars.

    Raises:
        ValueError: if float64 is not enabled, ``L`` is not an even integer ``>= 2``, or
            ``beta``/``J`` are not positive finite numbers.

    Example:
        >>> import jax
        >>> from edtjax.lattice import ising_exact
        >>> with jax.enable_x64(True):  # float64 for this block only
        ...     exact = ising_exact(16, 0.4406867935)
        >>> round(float(exact.energy), 4)
        -1.4531

    References:
        Kaufman, B. (1949), Phys. Rev. 76, 1232, eq. (39); Beale, P. D. (1996), Phys. Rev. Lett.
        76, 78, eqs. (2)-(5).
    """
    _require_x64("ising_exact")
    size = check_int("L", L, minimum=2)
    check_even("L", size)
    check_real("beta", beta, minimum=0.0, strict_minimum=True)
    check_real("J", J, minimum=0.0, strict_minimum=True)
    beta = jnp.asarray(beta, jnp.float64)
    return _ising_exact(size, beta, jnp.asarray(J, jnp.float64))


@functools.lru_cache(maxsize=8)
def _density_of_states(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (bond sum, spin sum) pairs of the ``size x size`` torus and their counts."""
    n_sites = size * size
    codes = np.arange(2**n_sites, dtype=np.int64)
    bits = (codes[:, None] >> np.arange(n_sites)) & 1
    spins = (2 * bits - 1).astype(np.int8).reshape(-1, size, size)
    bond_sum = np.sum(
        spins * (np.roll(spins, 1, axis=-1) + np.roll(spins, 1, axis=-2)), axis=(-2, -1)
    )
    spin_sum = np.sum(spins, axis=(-2, -1), dtype=np.int64)
    pairs, counts = np.unique(np.stack([bond_sum, spin_sum], axis=1), axis=0, return_counts=True)
    return pairs[:, 0].astype(np.float64), pairs[:, 1].astype(np.float64), counts


@functools.partial(jax.jit, static_argnames="size")
def _ising_enumerate(size: int, beta, J, h):
    bond_sum, spin_sum, counts = (jnp.asarray(a) for a in _density_of_states(size))
    n_sites = size * size
    energy = -J * bond_sum - h * spin_sum
    log_w = jnp.log(counts.astype(jnp.float64)) - beta * energy
    log_z = jax.nn.logsumexp(log_w)
    p = jnp.exp(log_w - log_z)
    m = spin_sum / n_sites
    mean_e = jnp.sum(p * energy)
    var_e = jnp.sum(p * (energy - mean_e) ** 2)
    mean_m = jnp.sum(p * m)
    m2 = jnp.sum(p * m**2)
    m4 = jnp.sum(p * m**4)
    return IsingEnumeration(
        log_z=log_z,
        energy=mean_e / n_sites,
        specific_heat=beta**2 * var_e / n_sites,
        magnetisation=mean_m,
        abs_magnetisation=jnp.sum(p * jnp.abs(m)),
        magnetisation_sq=m2,
        magnetisation_4=m4,
        susceptibility=beta * n_sites * jnp.sum(p * (m - mean_m) ** 2),
        binder_cumulant=1.0 - m4 / (3.0 * m2**2),
    )


def ising_enumerate(L: int, beta: Any, *, J: Any = 1.0, h: Any = 0.0) -> IsingEnumeration:
    """Exact averages of the periodic ``L x L`` Ising model by summing all :math:`2^{L^2}` states.

    The configurations are reduced once (cached) to their distinct pairs (bond sum
    :math:`\\sum_{\\langle ij\\rangle} s_i s_j`, spin sum :math:`\\sum_i s_i`) with multiplicities
    :math:`g`, so :math:`Z = \\sum g\\, e^{\\beta (J b + h M)}` and every average is a weighted sum
    over a few hundred terms. Cost :math:`O(2^{L^2} L^2)` once per ``L`` (about 1 MB for
    ``L = 4``), then :math:`O(\\#\\text{pairs})` per call. Jitted; differentiable in ``beta``,
    ``J`` and ``h`` (``jax.grad`` of ``magnetisation`` in ``h`` is the susceptibility / beta N).

    Args:
        L: linear size, ``2 <= L <= 4`` (odd ``L = 3`` allowed: no checkerboard is involved).
        beta: inverse temperature, ``>= 0``.
        J: coupling, finite (either sign).
        h: field, finite.

    Returns:
        :class:`IsingEnumeration` of float64 scalars.

    Raises:
        ValueError: if float64 is not enabled, ``L`` is outside ``[2, 4]``, ``beta < 0`` or NaN,
            or ``J``/``h`` are not finite.

    Example:
        >>> import jax
        >>> from edtjax.lattice import ising_enumerate
        >>> with jax.enable_x64(True):  # float64 for this block only
        ...     log_z = ising_enumerate(2, 0.0).log_z
        >>> round(float(log_z), 6)  # ln 2^4
        2.772589

    References:
        Beale, P. D. (1996), Phys. Rev. Lett. 76, 78 (density of states of finite lattices);
        Newman and Barkema (1999), Monte Carlo Methods in Statistical Physics, ch. 3.
    """
    _require_x64("ising_enumerate")
    size = check_int("L", L, minimum=2, maximum=4)
    check_real("beta", beta, minimum=0.0)
    check_real("J", J)
    check_real("h", h)
    f64 = functools.partial(jnp.asarray, dtype=jnp.float64)
    return _ising_enumerate(size, f64(beta), f64(J), f64(h))
