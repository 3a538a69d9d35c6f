"""Weight-space OT: permutation invariance, translation closed form, pytrees, bad input."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.transport.weights import (
    layer_ot_distance,
    layer_units,
    parameter_ot_distance,
    parameter_point_cloud,
)


@pytest.mark.slow
def test_layer_distance_is_invariant_to_unit_permutations(key, x64):
    k1, k2, k3 = jax.random.split(key, 3)
    w = jax.random.normal(k1, (6, 24))
    b = jax.random.normal(k2, (24,))
    perm = jax.random.permutation(k3, 24)
    kw = dict(epsilon=0.1, threshold=1e-10, max_iterations=20_000)
    same = layer_ot_distance(w, w[:, perm], bias_a=b, bias_b=b[perm], **kw)
    assert abs(float(same)) < 1e-8
    # a parameter-wise distance would see a large change
    assert float(jnp.sum((w - w[:, perm]) ** 2)) > 10.0
    # translating every unit by t gives exactly |t|^2 (Sinkhorn divergence closed form)
    t = jnp.linspace(-0.5, 0.5, 7)
    shifted = layer_ot_distance(w, w + t[:6, None], bias_a=b, bias_b=b + t[6], **kw)
    np.testing.assert_allclose(float(shifted), float(t @ t), rtol=1e-7)


@pytest.mark.slow
def test_layer_distance_differentiable_and_widths_may_differ(key):
    k1, k2 = jax.random.split(key)
    wa = jax.random.normal(k1, (4, 10))
    wb = jax.random.normal(k2, (4, 15))
    g = jax.grad(lambda w: layer_ot_distance(w, wb, epsilon=0.5))(wa)
    chex.assert_equal_shape([g, wa])
    chex.assert_tree_all_finite(g)


@pytest.mark.slow
def test_parameter_distance_of_translated_ensemble(key, x64):
    k1, k2 = jax.random.split(key)
    ens = {"dense": {"w": jax.random.normal(k1, (12, 3, 2)), "b": jax.random.normal(k2, (12, 2))}}
    moved = jax.tree_util.tree_map(lambda leaf: leaf + 0.25, ens)
    cloud = parameter_point_cloud(ens)
    chex.assert_shape(cloud, (12, 8))
    # costs here are ~16 (8 coordinates of variance 1 each); epsilon of that order lets
    # Sinkhorn reach the 1e-10 tolerance within the iteration cap, so only round-off remains
    kw = dict(epsilon=4.0, threshold=1e-10, max_iterations=20_000)
    # every one of the 8 parameters moves by 0.25: divergence = 8 * 0.25^2 exactly
    np.testing.assert_allclose(float(parameter_ot_distance(ens, moved, **kw)), 0.5, rtol=1e-7)
    # reordering members changes nothing
    rev = jax.tree_util.tree_map(lambda leaf: leaf[::-1], ens)
    assert abs(float(parameter_ot_distance(ens, rev, **kw))) < 1e-8


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: layer_ot_distance(np.eye(3, 4), np.eye(2, 4)), "same fan-in"),
        (lambda: layer_ot_distance(np.eye(3, 4), np.eye(3, 4), bias_a=np.zeros(4)), "together"),
        (lambda: layer_units(np.eye(3, 4), np.zeros(3)), "one entry per unit"),
        (lambda: layer_units(np.full((3, 4), np.nan)), "finite"),
        (lambda: layer_ot_distance(np.eye(3, 4), np.eye(3, 4), epsilon=0.0), "epsilon"),
        (lambda: parameter_ot_distance({"w": np.eye(3)}, {"v": np.eye(3)}), "same structure"),
        (lambda: parameter_ot_distance({"w": np.eye(3)}, {"w": np.eye(3, 4)}), "parameters"),
        (lambda: parameter_point_cloud({"w": np.eye(3), "b": np.zeros(4)}), "leading member"),
        (lambda: parameter_point_cloud({}), "at least one"),
        (lambda: parameter_ot_distance({"w": np.ones((1, 3))}, {"w": np.eye(3)}), "at least 2"),
        (lambda: parameter_point_cloud({"w": np.array([[np.inf]])}), "finite"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
