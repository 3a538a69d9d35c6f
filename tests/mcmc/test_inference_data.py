"""ArviZ conversion: groups, dimensions and sample stats; ArviZ's R-hat and ESS against edtjax's."""

import subprocess
import sys

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.lattice import HoppingCouplings, IsingSample, sample_ising, sample_phi4
from edtjax.mcmc import (
    ChainResult,
    Kernel,
    gamma_method,
    run_chains,
    split_rhat,
    to_inference_data,
)
from edtjax.surrogates import PosteriorSamples, nuts_blackjax


@pytest.fixture
def az():
    return pytest.importorskip("arviz", reason="optional dependency arviz not installed")


def _ar1(rho):
    """Stationary AR(1) with unit variance: tau_int = (1 + rho) / (2 (1 - rho)) exactly."""

    def step(key, x):
        noise = jax.random.normal(key, x.shape, x.dtype)
        return rho * x + jnp.sqrt(1.0 - rho**2) * noise, {"positive": noise > 0}

    return Kernel(init=lambda x: x, step=step)


def _observe(x):
    return {"x": x, "x_squared": x**2}


def test_rhat_is_edtjax_split_rhat(az, key, x64):
    # Slowly mixing chains started apart (R-hat well above 1) and an odd length (the middle
    # draw is dropped by both): the same rank-normalised split R-hat, so they agree to float64
    # rounding of sums over 1600 draws (~1e-13).
    x0 = jnp.array([-6.0, -2.0, 2.0, 6.0], dtype=jnp.float64)
    chains = run_chains(key, _ar1(0.95), x0, 401, num_chains=4, observables=_observe)
    idata = to_inference_data(chains)
    rhat = az.rhat(idata, method="rank")
    for name in ("x", "x_squared"):
        assert idata.posterior[name].dims == ("chain", "draw")
        np.testing.assert_allclose(
            float(rhat[name]), float(split_rhat(chains.traces[name])), rtol=1e-10
        )
    assert float(rhat["x"]) > 1.05
    positive = idata.sample_stats["positive"]
    assert positive.dims == ("chain",)
    np.testing.assert_allclose(positive, chains.info["positive"])


def test_ess_agrees_with_gamma_method(az, key, x64):
    # The same quantity, N / (2 tau_int), by two estimators: Wolff's automatic window and
    # Geyer's initial monotone sequence on split chains (ArviZ's "mean" method). Both err by
    # about the Madras-Sokal error s = tau_int_error / tau_int of edtjax's estimate (~4 % here);
    # they are positively correlated (same draws), so their difference has sd <= sqrt(2) s:
    # bounds of 5 sd against the exact AR(1) value and 5 sqrt(2) s between them.
    rho, num_chains, n = 0.6, 4, 5000
    x0 = jax.random.normal(key, (num_chains,), dtype=jnp.float64)  # stationary start
    chains = run_chains(jax.random.key(1), _ar1(rho), x0, n, num_chains=num_chains)
    idata = to_inference_data(chains)
    gamma = gamma_method(chains.traces)
    s = float(gamma.tau_int_error / gamma.tau_int)
    ess_edtjax = num_chains * n / (2 * float(gamma.tau_int))
    ess_arviz = float(az.ess(idata, method="mean")["x"])
    exact = num_chains * n * (1 - rho) / (1 + rho)
    assert abs(ess_edtjax / exact - 1) < 5 * s
    assert abs(ess_arviz / exact - 1) < 5 * s
    assert abs(ess_arviz / ess_edtjax - 1) < 5 * np.sqrt(2) * s


def test_tied_draws(az, key):
    # integer-valued draws (as lattice energies are): many tied ranks, which both R-hats
    # average; float32 draws, so agreement to float32 rounding of sums over 800 draws (~1e-6).
    walk = jnp.cumsum(jax.random.normal(key, (4, 200)), axis=1)
    draws = jnp.round(walk / 3)
    assert len(np.unique(draws)) < 100
    idata = to_inference_data(IsingSample({"energy": draws}, None, {"flip_rate": jnp.ones(4)}, {}))
    np.testing.assert_allclose(float(az.rhat(idata)["energy"]), float(split_rhat(draws)), 1e-5)


@pytest.mark.slow
def test_sampler_outputs(az, key):
    ising = sample_ising(key, 8, 0.35, 400, num_chains=4)
    idata = to_inference_data(ising)
    assert set(idata.posterior.data_vars) == {"energy", "magnetisation"}
    chex.assert_shape(idata.posterior["energy"], (4, 400))
    np.testing.assert_allclose(idata.sample_stats["flip_rate"], ising.info["flip_rate"])

    phi4 = sample_phi4(key, 4, HoppingCouplings(0.2, 0.0), 40, num_chains=2, burn_in=40)
    idata = to_inference_data(phi4)
    assert set(idata.posterior.data_vars) == set(phi4.traces)
    for name in ("step_size", "acceptance_rate"):
        assert idata.sample_stats[name].dims == ("chain",)
        np.testing.assert_allclose(idata.sample_stats[name], phi4.info[name])

    def logdensity(params):
        return -0.5 * (jnp.sum(params["w"] ** 2) + jnp.sum(params["b"] ** 2))

    init = {"w": jnp.zeros((2, 3, 2)), "b": jnp.zeros((2,))}
    bnn = nuts_blackjax(key, logdensity, init, num_warmup=30, num_samples=20)
    idata = to_inference_data(bnn)
    assert idata.posterior["w"].dims == ("chain", "draw", "w_dim_0", "w_dim_1")
    chex.assert_shape(idata.posterior["w"], (2, 20, 3, 2))
    np.testing.assert_array_equal(idata.posterior["b"], bnn.samples["b"])
    np.testing.assert_array_equal(idata.sample_stats["divergences"], bnn.divergences)
    np.testing.assert_allclose(idata.sample_stats["acceptance_rate"], bnn.acceptance_rate)
    assert idata.sample_stats.attrs["gradient_evaluations"] == int(bnn.gradient_evaluations)


def test_posterior_samples(az):
    samples = {"w": np.zeros((2, 7, 3)), "b": np.ones((2, 7))}
    out = PosteriorSamples(samples, jnp.array([0, 3]), jnp.array([0.8, 0.9]), jnp.array(1234))
    idata = to_inference_data(out)
    assert idata.posterior["w"].dims == ("chain", "draw", "w_dim_0")
    np.testing.assert_array_equal(idata.sample_stats["divergences"], [0, 3])
    np.testing.assert_allclose(idata.sample_stats["acceptance_rate"], [0.8, 0.9])
    assert idata.sample_stats.attrs["gradient_evaluations"] == 1234


def test_leaf_names_follow_key_paths(az):
    draws = {"params": {"dense": {"kernel": np.zeros((2, 5, 3))}}, "loss": [np.ones((2, 5))]}
    idata = to_inference_data(ChainResult(draws, None, {}))
    assert set(idata.posterior.data_vars) == {"params.dense.kernel", "loss.0"}
    idata = to_inference_data(ChainResult(np.zeros((3, 4)), None, np.ones((3,))))
    chex.assert_shape(idata.posterior["x"], (3, 4))
    assert idata.sample_stats["info"].dims == ("chain",)


def test_bad_input():
    with pytest.raises(ValueError, match="result must be"):
        to_inference_data({"x": np.zeros((2, 5))})
    with pytest.raises(ValueError, match="leading axes"):
        to_inference_data(ChainResult({"x": np.zeros(5)}, None, {}))
    with pytest.raises(ValueError, match="'draw'"):
        to_inference_data(ChainResult({"a": np.zeros((2, 5)), "b": np.zeros((2, 6))}, None, {}))
    with pytest.raises(ValueError, match="'chain'"):
        to_inference_data(ChainResult({"a": np.zeros((2, 5))}, None, {"rate": np.zeros(3)}))
    with pytest.raises(ValueError, match="no recorded draws"):
        to_inference_data(ChainResult({}, None, {}))


def test_arviz_without_inference_data_is_refused(az, monkeypatch):
    monkeypatch.delattr(az, "InferenceData")
    with pytest.raises(ImportError, match="arviz<1"):
        to_inference_data(ChainResult({"x": np.zeros((2, 5))}, None, {}))


def test_arviz_is_not_imported_with_edtjax():
    code = "import sys, edtjax.mcmc, edtjax.lattice; assert 'arviz' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
