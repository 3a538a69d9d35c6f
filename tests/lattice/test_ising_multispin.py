"""Multi-spin coded Metropolis: packing, bitwise observables, equality with the int8 kernel, the
counter-based random words (against JAX's Threefry and for their statistics), the exact spin-flip
symmetry, and the Pallas kernel bit for bit against the XLA one.

Statistical criterion of the random-word tests: each of the five statistics is compared with the
1 - 1e-6 quantile of its null distribution, so the test fails by chance with probability below
5e-6. The seed is fixed and was not chosen.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.extend.random import threefry_2x32
from scipy import stats

from edtjax.lattice import (
    BETA_CRITICAL,
    MULTISPIN_GENERATORS,
    ising_energy,
    ising_exact,
    ising_magnetisation,
    ising_metropolis_kernel,
    ising_multispin_kernel,
    ising_observables,
    ising_pack,
    ising_packed_energy,
    ising_packed_magnetisation,
    ising_summary,
    ising_unpack,
)
from edtjax.lattice._counter_rng import sweep_seed, threefry2x32
from edtjax.lattice.ising_multispin import _counter_plane_pair, _word_counters
from edtjax.mcmc import run_chains

FALSE_FAILURE = 1e-6  # per statistic


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


@pytest.mark.parametrize("generator", MULTISPIN_GENERATORS)
def test_deterministic_limits_equal_int8_kernel(key, generator):
    # At beta = 0 every flip is accepted, at beta = 1e3 exactly those with Delta E <= 0: both
    # kernels are then deterministic and must give the same configurations sweep after sweep.
    spins = random_spins(key, 64)

    def run(beta, h, key):
        reference = ising_metropolis_kernel(beta, h=h)
        packed = ising_multispin_kernel(beta, h=h, generator=generator)

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
    with pytest.raises(ValueError, match="generator"):
        ising_multispin_kernel(0.3, generator="mt19937")
    with pytest.raises(ValueError, match="implementation"):
        ising_multispin_kernel(0.3, implementation="cuda")
    with pytest.raises(ValueError, match="needs generator='threefry'"):
        ising_multispin_kernel(0.3, generator="key", implementation="pallas")
    with pytest.raises(ValueError, match="block_rows"):
        ising_multispin_kernel(0.3, implementation="pallas", block_rows=0)
    with pytest.raises(ValueError, match="multiple of block_rows=128"):
        ising_multispin_kernel(0.3, implementation="pallas", block_rows=128).init(
            jnp.ones((64, 64), jnp.int8)
        )


def test_counter_words_are_jax_threefry(key):
    k_key, k_count = jax.random.split(key)
    seed = jax.random.bits(k_key, (2,), jnp.uint32)
    counters = jax.random.bits(k_count, (2, 1000), jnp.uint32)
    x0, x1 = jax.jit(threefry2x32)(seed[0], seed[1], counters[0], counters[1])
    expected = threefry_2x32(seed, counters.reshape(-1))
    np.testing.assert_array_equal(jnp.concatenate([x0, x1]), expected)


def sweep_words(key, size):
    """The random words of one sweep as the kernel consumes them: ``(2, 24, L, L // 64)``,
    colour, bit of the 24-bit random integer (least significant first), word row and column."""
    shape = (size, size // 64)
    seed, counter = sweep_seed(key), _word_counters(shape)
    colours = []
    for colour in (0, 1):
        pair = _counter_plane_pair(seed, counter, colour)
        colours.append(jnp.stack([w for p in range(12) for w in pair(jnp.int32(p))]))
    return np.asarray(jnp.stack(colours))


def chi2_below_quantile(statistic, dof, label):
    bound = stats.chi2.ppf(1.0 - FALSE_FAILURE, dof)
    print(f"{label}: chi2 = {statistic:.1f} on {dof} dof, bound {bound:.1f}")
    assert statistic < bound, f"{label}: chi2 = {statistic:.1f} exceeds {bound:.1f}"


def test_counter_words_are_fair_and_uncorrelated(key):
    words = sweep_words(key, 512)  # 2 x 24 x 4096 words, 6.3e6 bits
    bits = (words[..., None] >> np.arange(32, dtype=np.uint32)) & 1  # (2, 24, L, W, 32)
    signs = 2.0 * bits - 1.0
    # Every bit position of every random word is fair: 1536 binomial counts.
    per_cell = signs.sum(axis=(2, 3)) / np.sqrt(signs.shape[2] * signs.shape[3])
    chi2_below_quantile(float(np.sum(per_cell**2)), per_cell.size, "bit frequencies")
    # Pairwise independence of the bits that meet in one acceptance test (the 24 bits of one
    # spin) and of the same bit for neighbouring spins, sites and colours: z = sum(a b)/sqrt(n).
    per_spin = np.moveaxis(signs, 1, -1).reshape(-1, 24)
    n_spins = per_spin.shape[0]
    z = [(per_spin.T @ per_spin)[np.triu_indices(24, 1)] / np.sqrt(n_spins)]
    z.append(np.sum(signs[..., 1:] * signs[..., :-1], axis=(0, 2, 3, 4)))
    z[-1] = z[-1] / np.sqrt(signs[:, 0, ..., 1:].size)
    z.append(np.sum(signs[:, :, :, 1:] * signs[:, :, :, :-1], axis=(0, 2, 3, 4)))
    z[-1] = z[-1] / np.sqrt(signs[:, 0, :, 1:].size)
    z.append(np.sum(signs[0] * signs[1], axis=(1, 2, 3)) / np.sqrt(signs[0, 0].size))
    z = np.concatenate(z)
    chi2_below_quantile(float(np.sum(z**2)), z.size, "pair correlations")
    assert np.max(np.abs(z)) < stats.norm.isf(FALSE_FAILURE / (2 * z.size))
    # Bytes of the words, and the 24-bit integers compared with the thresholds (top 6 bits).
    counts = np.bincount(words.view(np.uint8).ravel(), minlength=256)
    expected = words.size * 4 / 256
    chi2_below_quantile(float(np.sum((counts - expected) ** 2 / expected)), 255, "bytes")
    weights = (2 ** np.arange(24, dtype=np.int64))[:, None]
    integers = weights.T @ np.moveaxis(bits, 1, 0).reshape(24, -1).astype(np.int64)
    counts = np.bincount((integers.ravel() >> 18).astype(np.int64), minlength=64)
    expected = integers.size / 64
    chi2_below_quantile(float(np.sum((counts - expected) ** 2 / expected)), 63, "integers")


def test_spin_flip_symmetry_is_exact(key):
    # H(-s; -h) = H(s; h), and the update of a spin reads its random integer whatever its sign:
    # flipping every spin and the field must flip the whole trajectory, word for word.
    spins = random_spins(key, 128)

    def run(h, flip, key):
        kernel = ising_multispin_kernel(0.4, h=h)
        state = jax.tree.map(lambda w: jnp.where(flip, ~w, w), kernel.init(spins))

        def sweep(state, k):
            return kernel.step(k, state)[0], None

        return jax.lax.scan(sweep, state, jax.random.split(key, 5))[0]

    run = jax.jit(run)
    plain, flipped = run(0.3, False, key), run(-0.3, True, key)
    np.testing.assert_array_equal(flipped.black, ~plain.black)
    np.testing.assert_array_equal(flipped.white, ~plain.white)
    assert 0.1 < abs(float(ising_packed_magnetisation(plain))) < 1.0


@pytest.mark.slow
def test_pallas_kernel_equals_xla_kernel_bit_for_bit(key):
    # L = 128 holds two words per row (carries between words) and block_rows = 32 four Pallas
    # programs per colour (rows wrapping between blocks); two vmapped chains, three sweeps.
    spins = jnp.stack([random_spins(k, 128) for k in jax.random.split(key)])

    def run(implementation):
        kernel = ising_multispin_kernel(0.41, h=0.2, implementation=implementation, block_rows=32)

        def chain(spins, key):
            def sweep(state, k):
                state, info = kernel.step(k, state)
                return state, info["flip_rate"]

            return jax.lax.scan(sweep, kernel.init(spins), jax.random.split(key, 3))

        return jax.jit(jax.vmap(chain))(spins, jax.random.split(key, 2))

    (xla, xla_rate), (pallas, pallas_rate) = run("xla"), run("pallas")
    np.testing.assert_array_equal(pallas.black, xla.black)
    np.testing.assert_array_equal(pallas.white, xla.white)
    np.testing.assert_array_equal(pallas_rate, xla_rate)
    assert float(jnp.min(xla_rate)) > 0.1


@pytest.mark.slow
def test_pallas_kernel_matches_kaufman(x64, key):
    # The Pallas kernel itself (interpret mode here, compiled on a GPU) against the exact
    # finite-L energy and specific heat; 5 Gamma-method standard errors per comparison (false
    # failure 5.7e-7 each for a Gaussian estimate). Below T_c the chains start ordered.
    size = 64
    for i, beta in enumerate((0.3, 0.6)):
        kernel = ising_multispin_kernel(beta, implementation="pallas")
        if beta > BETA_CRITICAL:
            spins = jnp.ones((8, size, size), jnp.int8)
        else:
            spins = jnp.stack([random_spins(k, size) for k in jax.random.split(key, 8)])
        out = run_chains(
            jax.random.fold_in(key, i),
            kernel,
            jax.vmap(kernel.init)(spins),
            4200,
            num_chains=8,
            burn_in=200,
            observables=ising_observables,
        )
        summary = ising_summary(out.traces, beta, size)
        exact = ising_exact(size, beta)
        for name in ("energy", "specific_heat"):
            res = summary[name]
            z = (float(res.mean) - float(getattr(exact, name))) / float(res.error)
            print(f"pallas L={size} beta={beta} {name}: {float(res.mean):.5f} ({z:+.2f} se)")
            assert abs(z) < 5.0
