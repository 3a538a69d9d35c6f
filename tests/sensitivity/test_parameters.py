"""parameter_sensitivity: analytic linear model (Sobol', rank-based, Cramer-von Mises and HSIC
estimators), zero-outgoing-weight layer ranked by every estimator, groups, bad input."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.sensitivity import (
    CramerVonMisesIndices,
    GivenDataIndices,
    HSICResult,
    parameter_sensitivity,
)
from edtjax.sensitivity.parameters import _group_outputs

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
    with pytest.raises(ValueError, match="method"):
        parameter_sensitivity(key, f, p, jnp.ones(2), method="pawn")
    with pytest.raises(ValueError, match="num_samples"):
        parameter_sensitivity(key, f, p, jnp.ones(2), method="hsic", num_samples=5)
    with pytest.raises(ValueError, match="devices applies to method='sobol' only"):
        parameter_sensitivity(key, f, p, jnp.ones(2), method="given_data", devices=1)


# --- other estimators (method=) -------------------------------------------------------------

W_LIN = jnp.array([1.0, -2.0, 0.5])
X_LIN = jnp.array([1.0, 0.0, 2.0])  # the middle weight meets a zero input: no effect


def _apply_linear(p, x):
    return x @ p["w"]


def _linear_additive(method, num_samples, seed=5, **kw):
    return parameter_sensitivity(
        jax.random.key(seed),
        _apply_linear,
        {"w": W_LIN},
        X_LIN,
        perturbation="additive",
        groups="weight",
        num_samples=num_samples,
        method=method,
        **kw,
    )


def _cvm_gaussian(s):
    """Cramer-von Mises index of a Gaussian pair ``(Y, Y^i)`` with correlation ``s`` (the
    first-order Sobol' index): ``6 (P(Y <= Z, Y^i <= Z) - 1/3)`` with ``Z`` an independent
    copy, an orthant probability of correlation ``(1 + s) / 2``."""
    return 3.0 / np.pi * np.arcsin((1.0 + s) / 2.0) - 0.5


def test_linear_model_given_data_and_cramer_von_mises_closed_forms():
    # f = w.x, w_i + s xi_i: S_i = x_i^2 / sum_j x_j^2 and Y Gaussian, so the Cramer-von Mises
    # index is _cvm_gaussian(S_i). Every estimate within 5 of its standard errors (batch means
    # or bootstrap) plus 0.02 for the O(1/n) bias of the rank and pick-freeze estimators.
    exact = np.asarray(X_LIN**2 / jnp.sum(X_LIN**2))
    g = _linear_additive("given_data", 2048)
    assert isinstance(g, GivenDataIndices) and g.num_batches == 10
    s1, se = np.asarray(g.first_order["w"]), np.asarray(g.first_order_stderr["w"])
    assert np.all(np.abs(s1 - exact) <= K * se + 0.02), (s1, exact)
    xi, se = np.asarray(g.chatterjee["w"]), np.asarray(g.chatterjee_stderr["w"])
    assert np.all(np.abs(xi - _cvm_gaussian(exact)) <= K * se + 0.02), (xi, _cvm_gaussian(exact))
    c = _linear_additive("cramer_von_mises", 1024, num_bootstrap=100)
    assert isinstance(c, CramerVonMisesIndices)
    s, se = np.asarray(c.first_order["w"]), np.asarray(c.first_order_stderr["w"])
    assert np.all(np.abs(s - _cvm_gaussian(exact)) <= K * se + 0.02), (s, _cvm_gaussian(exact))


def test_linear_model_hsic_ranks_and_tests():
    # the inert weight: permutation p-value above 0.001 (false failure 1e-3, uniform under
    # independence); the others are strongly dependent: the smallest attainable p-value.
    h = _linear_additive("hsic", 256)
    assert isinstance(h, HSICResult)
    r2, p = np.asarray(h.r2["w"]), np.asarray(h.p_value["w"])
    assert r2[2] > r2[0] > r2[1]
    assert p[0] == p[2] == pytest.approx(1 / 200) and p[1] > 1e-3
    # a new draw of the same size reuses the compiled sampler
    before = _group_outputs._cache_size()
    _linear_additive("hsic", 256, seed=6)
    assert _group_outputs._cache_size() == before


@pytest.mark.slow
@pytest.mark.parametrize("method", ["hsic", "given_data", "cramer_von_mises"])
def test_every_method_ranks_the_layers_of_a_network(method):
    # head_b's kernel is zero: neither branch_b nor head_b (zero bias, scaled) can move the
    # output, so both rank below the two live layers; their indices are within 5 standard
    # errors of 0 where the estimator gives one.
    net = _TwoBranch()
    params = net.init(jax.random.key(2), jnp.ones((1, 3)))
    head_b = params["params"]["head_b"]
    params["params"]["head_b"] = {
        "kernel": jnp.zeros_like(head_b["kernel"]),
        "bias": head_b["bias"],
    }
    x = jax.random.normal(jax.random.key(3), (6, 3))
    r = parameter_sensitivity(
        jax.random.key(4),
        net.apply,
        params,
        x,
        scale=0.2,
        num_samples=512,
        output_fn=lambda y: y.mean(),
        method=method,
        num_bootstrap=100,
    )
    index = r.r2 if method == "hsic" else r.first_order
    live = min(float(index["params/branch_a"]), float(index["params/head_a"]))
    dead = max(float(index["params/branch_b"]), float(index["params/head_b"]))
    assert live > dead, index
    if method != "hsic":
        for name in ("params/branch_b", "params/head_b"):
            assert abs(float(index[name])) <= K * float(r.first_order_stderr[name])
