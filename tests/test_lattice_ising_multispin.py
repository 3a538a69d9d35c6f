"""Multi-spin coded Metropolis: packing, bitwise observables, and equality with the int8 kernel."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.lattice import (
    ising_energy,
    ising_magnetisation,
    ising_metropolis_kernel,
    ising_multispin_kernel,
    ising_pack,
    ising_packed_energy,
    ising_packed_magnetisation,
    ising_unpack,
)


def random_spins(key, size):
    return jnp.where(jax.random.bernoulli(key, 0.5, (size, size)), 1, -1).astype(jnp.int8)


def test_pack_roundtrip_and_observables(key):
    spins = random_spins(key, 128)

    @jax.jit
    def check(spins):
        state = ising_pack(spins)
        return (
            ising_unpack(state),
            ising_packed_energy(state, 0.7, -0.3),
            ising_energy(spins, 0.7, -0.3),
            ising_packed_magnetisation(state),
            ising_magnetisation(spins),
        )

    unpacked, e_packed, e, m_packed, m = check(spins)
    assert state_shape(ising_pack(spins)) == (128, 2)
    np.testing.assert_array_equal(unpacked, spins)
    assert abs(float(e_packed - e)) < 1e-6
    assert float(m_packed) == float(m)


def state_shape(state):
    return state.black.shape


def test_deterministic_limits_equal_int8_kernel(key):
    # At beta = 0 every flip is accepted, at beta = 1e3 exactly those with Delta E <= 0: both
    # kernels are then deterministic and must give the same configurations sweep after sweep.
    spins = random_spins(key, 64)

    def run(beta, h, key):
        reference, packed = ising_metropolis_kernel(beta, h=h), ising_multispin_kernel(beta, h=h)

        def sweep(carry, k):
            a, b = carry
            a, info_a = reference.step(k, a)
            b, info_b = packed.step(jax.random.fold_in(k, 1), b)
            same = jnp.all(ising_unpack(b) == a.spins)
            return (a, b), (same, info_a["flip_rate"], info_b["flip_rate"])

        start = (reference.init(spins), packed.init(spins))
        return jax.lax.scan(sweep, start, jax.random.split(key, 6))[1]

    betas = jnp.array([1e3, 1e3, 1e3, 0.0])
    fields = jnp.array([0.0, 0.5, -0.7, 0.3])
    keys = jax.random.split(key, 4)
    same, rate_a, rate_b = jax.jit(jax.vmap(run))(betas, fields, keys)
    assert bool(jnp.all(same))
    np.testing.assert_array_equal(rate_a, rate_b)
    assert float(jnp.min(rate_a[:3, 0])) > 0.1  # the dynamics is not trivially frozen


def test_multispin_bad_input():
    with pytest.raises(ValueError, match="beta"):
        ising_multispin_kernel(-0.5)
    with pytest.raises(ValueError, match="J"):
        ising_multispin_kernel(0.3, J=float("nan"))
    kernel = ising_multispin_kernel(0.3)
    with pytest.raises(ValueError, match="multiple of 64"):
        kernel.init(jnp.ones((32, 32), jnp.int8))
    with pytest.raises(ValueError, match="L must be even"):
        kernel.init(jnp.ones((65, 65), jnp.int8))
