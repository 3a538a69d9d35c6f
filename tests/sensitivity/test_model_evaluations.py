"""Programs that hold a model and an estimator evaluate the model once per sample.

In one compiled program XLA may fuse a cheap elementwise model into every reduction that reads
its outputs and evaluate it again there: on 256 outputs this made Sobol' indices twenty times
slower. The models below (Ishigami with coefficients varying over the outputs, or as
parameters) compute two sines per evaluation; a program must hold two sine instructions per
sample the model is evaluated on, however many reductions read the outputs.
"""

import re

import jax
import jax.numpy as jnp
import numpyro.distributions as dist
import pytest

from edtjax.sensitivity import dgsm_indices, parameter_sensitivity, shapley_effects

NUM_OUTPUTS = 64


def _ishigami_outputs(x):
    """``(..., 3)`` inputs on ``[-pi, pi]^3`` to ``(..., NUM_OUTPUTS)`` outputs."""
    t = jnp.linspace(0.0, 1.0, NUM_OUTPUTS)
    a, b = 7.0 * (0.25 + t), 0.1 * (2.0 - t)
    s1 = jnp.sin(x[..., :1])
    return s1 + a * jnp.sin(x[..., 1:2]) ** 2 + b * x[..., 2:3] ** 4 * s1


def _sines(fn, *args):
    """Number of sine instructions from ``jnp.sin`` in the compiled program of ``fn`` (not
    those of other functions, such as ``lgamma``, that XLA expands with a sine)."""
    text = jax.jit(fn).lower(*args).compile().as_text()
    return len(re.findall(r"\bsine\(.*op_name=\"[^\"]*/sin\"", text))


def _inputs(key, shape):
    return jax.random.uniform(key, shape, minval=-jnp.pi, maxval=jnp.pi)


def _coefficient_model(params, x):
    """Ishigami with its three coefficients as parameters, at the ``(m, 3)`` rows of ``x``."""
    s1 = jnp.sin(params["a"] * x[:, 0])
    return s1 + params["b"] * jnp.sin(x[:, 1]) ** 2 + params["c"] * x[:, 2] ** 4 * s1


@pytest.mark.parametrize("method", ["hsic", "given_data"])
def test_parameter_sensitivity_under_jit_evaluates_the_network_once(method):
    params = {"a": jnp.float32(1.0), "b": jnp.float32(7.0), "c": jnp.float32(0.1)}
    x = _inputs(jax.random.key(0), (NUM_OUTPUTS, 3))

    def run(key, params, x):
        return parameter_sensitivity(
            key, _coefficient_model, params, x, groups="weight", num_samples=64, method=method
        )

    assert _sines(run, jax.random.key(2), params, x) == 2


def test_dgsm_evaluates_value_and_gradient_once():
    factors = dist.Uniform(-jnp.pi * jnp.ones(3), jnp.pi)

    def scalar(x):
        return jnp.mean(_ishigami_outputs(x))

    # the gradient adds cosines, not sines
    assert _sines(lambda k: dgsm_indices(k, scalar, factors, 256).nu, jax.random.key(0)) == 2


def test_shapley_effects_evaluates_the_model_once_per_sample():
    # one evaluation on the variance sample, one in the loop over the subsets
    def scalar(x):
        return jnp.mean(_ishigami_outputs(x), axis=-1)

    def run(key):
        return shapley_effects(
            key, scalar, jnp.zeros(3), jnp.eye(3), num_outer=64, num_variance=256
        ).shapley

    assert _sines(run, jax.random.key(0)) == 4
