"""DGSM: exact case, Poincare bound on Ishigami, grad check, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest

from edtjax.sensitivity import dgsm_indices
from edtjax.simulators.test_functions import ishigami, ishigami_indices


def test_linear_model_exact():
    # f = 2 a + b: gradients are constant, nu = (4, 1) exactly; V = 4 Var a + Var b.
    factors = {"a": dist.Normal(0.0, 1.5), "b": dist.Uniform(0.0, 2.0)}
    r = dgsm_indices(jax.random.key(0), lambda v: 2.0 * v["a"] + v["b"], factors, 512)
    assert float(r.nu["a"]) == pytest.approx(4.0, rel=1e-6)
    assert float(r.nu["b"]) == pytest.approx(1.0, rel=1e-6)
    # For a linear model the Poincare bound of a normal factor is attained: C nu / V = T.
    t_a = 4 * 1.5**2 / (4 * 1.5**2 + 4 / 12)
    assert float(r.total_order_bound["a"]) == pytest.approx(t_a, rel=0.15)


@pytest.mark.slow
def test_poincare_bound_holds_on_ishigami():
    ref = ishigami_indices()
    factors = dist.Uniform(-jnp.pi * jnp.ones(3), jnp.pi)
    r = dgsm_indices(jax.random.key(1), ishigami, factors, 4096)
    # nu_2 = E[(7 sin 2x)^2] = 24.5 exactly; 5 standard errors.
    assert abs(float(r.nu[1]) - 24.5) <= 5 * float(r.nu_stderr[1])
    assert np.all(np.asarray(r.total_order_bound) >= ref.total_order)


@pytest.mark.slow
def test_grad_through_nu(x64):
    def nu(c):
        f = lambda x: jnp.sin(c * x)  # noqa: E731
        return dgsm_indices(jax.random.key(2), f, dist.Normal(0.0, 1.0), 256).nu

    g = jax.jit(jax.grad(nu))(0.8)
    value = jax.jit(nu)
    h = 1e-6
    assert float(g) == pytest.approx(float((value(0.8 + h) - value(0.8 - h)) / (2 * h)), rel=1e-5)


@pytest.mark.slow
def test_bad_input(key):
    with pytest.raises(ValueError, match="Uniform or Normal"):
        dgsm_indices(key, lambda v: v, dist.Gumbel(0.0, 1.0), 16)
    with pytest.raises(ValueError, match="scalar"):
        dgsm_indices(key, lambda v: v, dist.Normal(jnp.zeros(2), 1.0), 16)
    with pytest.raises(ValueError, match="num_samples"):
        dgsm_indices(key, lambda v: v, dist.Normal(0.0, 1.0), 1)
    with pytest.raises(ValueError, match="zero variance"):
        dgsm_indices(key, lambda v: 0.0 * v, dist.Normal(0.0, 1.0), 16)


@pytest.mark.slow
def test_no_retrace_on_new_parameters():
    from edtjax.sensitivity.dgsm import _dgsm_core

    f = lambda v: jnp.sin(v[0]) * v[1]  # noqa: E731
    dgsm_indices(jax.random.key(0), f, dist.Normal(jnp.zeros(2), 1.0), 64)
    before = _dgsm_core._cache_size()
    dgsm_indices(jax.random.key(1), f, dist.Normal(jnp.ones(2), 2.0), 64)
    assert _dgsm_core._cache_size() == before
