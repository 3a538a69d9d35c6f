"""The public seams of the pick-freeze engine: Factors, pick_freeze_indices, map_groups."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest

from edtjax.sensitivity import Factors, pick_freeze_indices, sobol_indices


def test_factors_map_unit_rows_through_the_inverse_cdfs_and_split_back():
    f = Factors.from_tree({"a": dist.Uniform(1.0, 3.0), "b": dist.Normal(jnp.zeros((2, 2)))})
    assert f.sizes == (1, 4) and f.num_dims == 5
    u = jnp.array([[0.25, 0.5, 0.5, 0.975, 0.5]])
    v = f.values(u)
    np.testing.assert_allclose(v["a"], [1.5])
    np.testing.assert_allclose(v["b"][0], [[0.0, 0.0], [1.959964, 0.0]], atol=1e-5)
    tree = f.split(jnp.arange(5.0))
    np.testing.assert_array_equal(tree["b"], [[1.0, 2.0], [3.0, 4.0]])
    assert f.group_ids() == ((0, 1, 2, 3, 4), None)
    assert f.group_ids({"a": "z", "b": "y"}) == ((1, 0, 0, 0, 0), ["y", "z"])


def test_factors_refuse_what_a_design_cannot_use():
    with pytest.raises(ValueError, match=r"factors\['a'\] is a float"):
        Factors.from_tree({"a": 1.0})
    with pytest.raises(ValueError, match="univariate"):
        Factors.from_tree(dist.MultivariateNormal(jnp.zeros(2), jnp.eye(2)))
    with pytest.raises(ValueError, match="at least one"):
        Factors.from_tree({})
    with pytest.raises(ValueError, match="structure of factors"):
        Factors.from_tree({"a": dist.Normal()}).group_ids({"b": "x"})


def test_grouped_engine_equals_sobol_indices_with_the_same_groups():
    """Additive model on three uniforms grouped (0, 0, 1): S_0 = 2/3, S_1 = 1/3 exactly, and
    the engine with explicit ids gives bitwise the numbers of sobol_indices with labels."""
    f = Factors.from_tree(dist.Uniform(-jnp.ones(3), 1.0))
    key = jax.random.key(3)

    def model(v):
        return v[0] + v[1] + v[2]

    flat = pick_freeze_indices(key, model, f, 1024, group_ids=(0, 0, 1))
    tree = sobol_indices(
        key,
        lambda v: v["p"][0] + v["p"][1] + v["q"],
        {"p": dist.Uniform(-jnp.ones(2), 1.0), "q": dist.Uniform(-1.0, 1.0)},
        1024,
        groups={"p": "g0", "q": "g1"},
    )
    np.testing.assert_array_equal(
        flat.first_order, [tree.first_order["g0"], tree.first_order["g1"]]
    )
    assert np.all(
        np.abs(flat.first_order - np.array([2 / 3, 1 / 3])) <= 5 * flat.first_order_stderr
    )
    mapped = flat.map_groups(lambda x: {"p": x[0], "q": x[1]})
    assert mapped.first_order_interval.low["q"] == flat.first_order_interval.low[1]
    assert mapped.second_order is None and mapped.variance is flat.variance


def test_model_args_are_traced_and_bad_group_ids_refused():
    f = Factors.from_tree(dist.Uniform(-jnp.ones(2), 1.0))

    def model(v, w):
        return w[0] * v[0] + w[1] * v[1]

    est = pick_freeze_indices(jax.random.key(0), model, f, 1024, model_args=jnp.array([1.0, 2.0]))
    assert np.all(np.abs(est.first_order - np.array([0.2, 0.8])) <= 5 * est.first_order_stderr)
    with pytest.raises(ValueError, match="group_ids"):
        pick_freeze_indices(
            jax.random.key(0), model, f, 64, group_ids=(0, 2), model_args=jnp.ones(2)
        )
    with pytest.raises(ValueError, match="must be a Factors"):
        pick_freeze_indices(jax.random.key(0), model, {"a": dist.Normal()}, 64)
