"""Smooth depths: gradients against finite differences, convergence to the hard depths."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.depth import (
    halfspace_depth_from_fit,
    halfspace_fit,
    lens_depth,
    projection_depth_from_fit,
    projection_fit,
    smooth_halfspace_depth_from_fit,
    smooth_lens_depth,
    smooth_projection_depth_from_fit,
)


def _fd(f, z0, eps=1e-6):
    return jnp.array([(f(z0 + eps * e) - f(z0 - eps * e)) / (2 * eps) for e in jnp.eye(z0.size)])


@pytest.mark.slow
def test_gradients_match_finite_differences(key, x64):
    k1, k2, k3 = jax.random.split(key, 3)
    x = jax.random.normal(k1, (80, 2), dtype=jnp.float64)
    z0 = jax.random.normal(k2, (2,), dtype=jnp.float64) * 0.7
    hfit = halfspace_fit(k3, x, n_directions=50)
    pfit = projection_fit(k3, x, n_directions=50)
    for f in (
        lambda z: smooth_lens_depth(z[None], x, temperature=0.2)[0],
        lambda z: smooth_halfspace_depth_from_fit(hfit, z[None], temperature=0.3)[0],
        lambda z: smooth_projection_depth_from_fit(pfit, z[None], temperature=0.2)[0],
    ):
        grad = jax.grad(f)(z0)
        assert jnp.linalg.norm(grad) > 0
        np.testing.assert_allclose(grad, _fd(f, z0), rtol=1e-5, atol=1e-9)


@pytest.mark.slow
def test_converge_to_hard_depths(key, x64):
    k1, k2, k3 = jax.random.split(key, 3)
    x = jax.random.normal(k1, (150, 2), dtype=jnp.float64)
    z = jax.random.normal(k2, (10, 2), dtype=jnp.float64)
    hfit = halfspace_fit(k3, x, n_directions=100)
    pfit = projection_fit(k3, x, n_directions=100)
    hard = (lens_depth(z, x), halfspace_depth_from_fit(hfit, z), projection_depth_from_fit(pfit, z))
    errors = []
    for tau in (1e-1, 1e-3, 1e-6):
        soft = (
            smooth_lens_depth(z, x, temperature=tau),
            smooth_halfspace_depth_from_fit(hfit, z, temperature=tau),
            smooth_projection_depth_from_fit(pfit, z, temperature=tau),
        )
        errors.append([float(jnp.max(jnp.abs(s - h))) for s, h in zip(soft, hard, strict=True)])
    errors = np.array(errors)
    assert np.all(errors[-1] < 1e-4)
    assert np.all(np.diff(errors, axis=0) <= 1e-12)


def test_bad_temperature(key):
    x = jax.random.normal(key, (20, 2))
    with pytest.raises(ValueError, match="temperature"):
        smooth_lens_depth(jnp.zeros((1, 2)), x, temperature=0.0)
    with pytest.raises(ValueError, match="temperature"):
        smooth_halfspace_depth_from_fit(halfspace_fit(key, x), jnp.zeros((1, 2)), temperature=-1.0)
    with pytest.raises(ValueError, match="x_query"):
        smooth_projection_depth_from_fit(projection_fit(key, x), jnp.zeros((1, 3)), temperature=1.0)
