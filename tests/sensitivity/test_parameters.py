"""parameter_sensitivity: analytic linear model, zero-outgoing-weight layer, groups, bad input."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.sensitivity import parameter_sensitivity

# Tolerance: 5 delta-method standard errors (false-failure rate < 1e-6 per comparison).
K = 5.0


def test_linear_model_additive_weight_indices():
    # f = w.x with w_i + s xi_i (common RMS scale s): S_i = x_i^2 / sum_j x_j^2, no interactions.
    w = jnp.array([1.0, -2.0, 0.5])
    x = jnp.array([1.0, 1.0, 2.0])
    r = parameter_sensitivity(
        jax.random.key(0),
        lambda p, x: x @ p["w"],
        {"w": w},
        x,
        perturbation="additive",
        groups="weight",
        num_samples=4096,
    )
    exact = np.asarray(x**2 / jnp.sum(x**2))
    s1, se = np.asarray(r.first_order["w"]), np.asarray(r.first_order_stderr["w"])
    assert np.all(np.abs(s1 - exact) <= K * se + 1e-4)
    st, se = np.asarray(r.total_order["w"]), np.asarray(r.total_order_stderr["w"])
    assert np.all(np.abs(st - exact) <= K * se + 1e-4)


@pytest.mark.slow
def test_linear_model_multiplicative_custom_groups():
    # w_i (1 + s xi_i): S_i proportional to (w_i x_i)^2; group {0, 1} gets the sum of the two.
    w = jnp.array([1.0, -2.0, 0.5])
    x = jnp.array([1.0, 1.0, 2.0])
    r = parameter_sensitivity(
        jax.random.key(1),
        lambda p, x: x @ p["w"],
        {"w": w},
        x,
        groups={"w": np.array([0, 0, 1])},
        num_samples=4096,
    )
    v = np.asarray((w * x) ** 2)
    exact = np.array([v[0] + v[1], v[2]]) / v.sum()
    for g in (0, 1):
        assert abs(float(r.first_order[g]) - exact[g]) <= K * float(r.first_order_stderr[g]) + 1e-4


class _TwoBranch(nn.Module):
    @nn.compact
    def __call__(self, x):
        a = nn.tanh(nn.Dense(4, name="branch_a")(x))
        b = nn.tanh(nn.Dense(4, name="branch_b")(x))
        return nn.Dense(1, name="head_a")(a) + nn.Dense(1, name="head_b")(b)


@pytest.mark.slow
@pytest.mark.parametrize("perturbation", ["multiplicative", "mask"])
def test_layer_with_zero_outgoing_weights_has_zero_index(perturbation):
    net = _TwoBranch()
    params = net.init(jax.random.key(2), jnp.ones((1, 3)))
    head_b = params["params"]["head_b"]
    zero = jnp.zeros_like(head_b["kernel"])
    params["params"]["head_b"] = {"kernel": zero, "bias": head_b["bias"]}
    x = jax.random.normal(jax.random.key(3), (6, 3))
    r = parameter_sensitivity(
        jax.random.key(4),
        net.apply,
        params,
        x,
        perturbation=perturbation,
        scale=0.8 if perturbation == "mask" else 0.2,
        num_samples=1024,
    )
    # branch_b cannot reach the output: the Jansen total index is exactly zero.
    np.testing.assert_allclose(r.total_order["params/branch_b"], 0.0, atol=1e-6)
    assert float(r.aggregated_total_order["params/branch_a"]) > 0.05
    if perturbation == "multiplicative":
        units = parameter_sensitivity(
            jax.random.key(4), net.apply, params, x, groups="unit", num_samples=256
        )
        assert units.first_order["params/branch_a"].shape == (4, 6, 1)
        np.testing.assert_allclose(units.total_order["params/branch_b"], 0.0, atol=1e-6)


def test_bad_input(key):
    p = {"w": jnp.ones(2)}
    f = lambda p, x: x @ p["w"]  # noqa: E731
    with pytest.raises(ValueError, match="perturbation"):
        parameter_sensitivity(key, f, p, jnp.ones(2), perturbation="gaussian")
    with pytest.raises(ValueError, match="scale"):
        parameter_sensitivity(key, f, p, jnp.ones(2), perturbation="mask", scale=1.5)
    with pytest.raises(ValueError, match="groups"):
        parameter_sensitivity(key, f, p, jnp.ones(2), groups="neuron")
    with pytest.raises(ValueError, match="apply_fn"):
        parameter_sensitivity(key, f, p, jnp.ones(3))
    with pytest.raises(ValueError, match="num_samples"):
        parameter_sensitivity(key, f, p, jnp.ones(2), num_samples=1)
