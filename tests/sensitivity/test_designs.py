"""Sobol' sequence and Saltelli designs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import qmc

from edtjax.sensitivity import saltelli_design, sobol_sequence, uniform_sample


@pytest.mark.parametrize("num_dims", [1, 7, 1111, 4096])
def test_unscrambled_matches_scipy(num_dims, x64):
    # Same Joe-Kuo direction numbers: points agree up to the half-cell centring 2^-33.
    x = np.asarray(sobol_sequence(None, 128, num_dims))
    ref = qmc.Sobol(num_dims, scramble=False).random(128)
    np.testing.assert_allclose(x, ref, rtol=0, atol=2.0**-32)


def test_offset_continues_the_sequence(x64):
    full = sobol_sequence(None, 64, 5)
    tail = sobol_sequence(None, 32, 5, offset=32)
    np.testing.assert_array_equal(full[32:], tail)


def test_points_use_only_the_index_bits_they_need(key):
    # Point n only reads the Gray-code bits of n, so a sequence of 1005 points (10 bits), one
    # of 5 points from offset 1000, and the first 5 points (3 bits) all agree with the full
    # 32-bit evaluation of the same indices, bitwise.
    full = sobol_sequence(key, 2048, 4)
    np.testing.assert_array_equal(sobol_sequence(key, 1005, 4), full[:1005])
    np.testing.assert_array_equal(sobol_sequence(key, 5, 4, offset=1000), full[1000:1005])
    np.testing.assert_array_equal(sobol_sequence(key, 5, 4), full[:5])


def test_scrambled_points_form_a_net(key):
    # A scrambled (0, m, 1)-net: each of the 2^m dyadic cells of every coordinate holds one point,
    # and the first two coordinates form a (0, 10, 2)-net (one point per 2^-5 x 2^-5 box).
    x = np.asarray(sobol_sequence(key, 1024, 3))
    assert 0.0 < x.min() and x.max() < 1.0
    for j in range(3):
        assert len(np.unique(np.floor(x[:, j] * 1024))) == 1024
    boxes = np.floor(x[:, 0] * 32) * 32 + np.floor(x[:, 1] * 32)
    assert len(np.unique(boxes)) == 1024


@pytest.mark.slow
def test_scramble_is_uniform_over_keys():
    # Owen/Matousek scrambling makes each point uniform: the mean of point 5 over 400 keys is
    # 1/2 within 5 standard errors (sd of U(0,1) is 0.2887).
    keys = jax.random.split(jax.random.key(3), 400)
    pts = jax.vmap(lambda k: sobol_sequence(k, 8, 2)[5])(keys)
    assert np.all(np.abs(np.asarray(pts.mean(0)) - 0.5) < 5 * 0.2887 / np.sqrt(400))


@pytest.mark.slow
def test_sobol_sequence_jits_with_key_argument(key):
    f = jax.jit(lambda k: sobol_sequence(k, 16, 4))
    np.testing.assert_array_equal(f(key), sobol_sequence(key, 16, 4))


def test_uniform_sample_range_and_dtype(key, x64):
    x = uniform_sample(key, 1000, 3, dtype=jnp.float64)
    assert x.dtype == jnp.float64 and float(x.min()) > 0 and float(x.max()) < 1
    assert abs(float(x.mean()) - 0.5) < 5 * 0.2887 / np.sqrt(3000)


@pytest.mark.slow
def test_saltelli_design_structure(key):
    d = saltelli_design(key, 16, 3, groups=np.array([0, 1, 0]), second_order=True)
    assert d.ab.shape == (2, 16, 3) and d.ba.shape == (2, 16, 3)
    np.testing.assert_array_equal(d.ab[0][:, [0, 2]], d.b[:, [0, 2]])
    np.testing.assert_array_equal(d.ab[0][:, 1], d.a[:, 1])
    np.testing.assert_array_equal(d.ba[1][:, 1], d.a[:, 1])
    np.testing.assert_array_equal(d.ba[1][:, [0, 2]], d.b[:, [0, 2]])


def test_bad_arguments(key):
    with pytest.raises(ValueError, match="num_samples"):
        saltelli_design(key, 1, 2)
    with pytest.raises(ValueError, match="num_dims"):
        sobol_sequence(key, 4, 4097)
    with pytest.raises(ValueError, match="num_dims"):
        saltelli_design(key, 4, 3000)
    with pytest.raises(ValueError, match="sampler"):
        saltelli_design(key, 4, 2, sampler="lhs")
    with pytest.raises(ValueError, match="groups"):
        saltelli_design(key, 4, 3, groups=np.array([0, 2, 2]))
    with pytest.warns(UserWarning, match="power of two"):
        saltelli_design(key, 12, 2)
