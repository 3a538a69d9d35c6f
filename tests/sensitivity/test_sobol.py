"""sobol_indices over pytrees of distributions: analytic cases, peers, jit, grad, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest

from edtjax.sensitivity import sobol_indices
from edtjax.sensitivity.sobol import _sobol_outputs
from edtjax.simulators.test_functions import (
    ishigami,
    ishigami_indices,
    sobol_g,
    sobol_g_indices,
)

# Tolerance: every comparison with an exact index allows 5 delta-method standard errors (a
# false-failure rate below 1e-6 per comparison for a normal estimate; the standard errors are
# conservative for scrambled Sobol' rows), plus 1e-4 for float32 rounding of the sums.
K = 5.0


def _ishigami_factors():
    return {"x12": dist.Uniform(-jnp.pi * jnp.ones(2), jnp.pi), "x3": dist.Uniform(-jnp.pi, jnp.pi)}


def _ishigami_model(v):
    return ishigami(jnp.concatenate([v["x12"], v["x3"][None]]))


def _flat(tree):
    return np.concatenate([np.ravel(tree["x12"]), np.ravel(tree["x3"])])


@pytest.mark.parametrize("sampler", [pytest.param("sobol", marks=pytest.mark.slow), "mc"])
def test_ishigami_first_total_second(sampler):
    ref = ishigami_indices(7.0, 0.1)
    r = sobol_indices(
        jax.random.key(11),
        _ishigami_model,
        _ishigami_factors(),
        2**13,
        second_order=True,
        sampler=sampler,
    )
    for est, se, exact in [
        (r.first_order, r.first_order_stderr, ref.first_order),
        (r.total_order, r.total_order_stderr, ref.total_order),
    ]:
        assert np.all(np.abs(_flat(est) - exact) <= K * _flat(se) + 1e-4)
    s2 = np.asarray(r.second_order)
    assert np.all(np.abs(s2 - ref.second_order) <= K * np.asarray(r.second_order_stderr) + 1e-4)
    assert float(r.variance) == pytest.approx(ref.variance, rel=0.05)


@pytest.mark.slow
@pytest.mark.parametrize(
    "a", [[0.0, 1.0, 4.5, 9.0, 99.0, 99.0], [0.0, 0.0, 0.0], [1.0, 2.0, 5.0, 10.0, 20.0, 50.0]]
)
def test_sobol_g(a):
    ref = sobol_g_indices(a)
    a = jnp.asarray(a)
    factors = dist.Uniform(jnp.zeros(len(a)), 1.0)
    r = sobol_indices(jax.random.key(5), lambda x: sobol_g(x, a), factors, 2**13, second_order=True)
    assert np.all(np.abs(r.first_order - ref.first_order) <= K * r.first_order_stderr + 1e-4)
    assert np.all(np.abs(r.total_order - ref.total_order) <= K * r.total_order_stderr + 1e-4)
    assert np.all(np.abs(r.second_order - ref.second_order) <= K * r.second_order_stderr + 1e-4)


@pytest.mark.slow
def test_agrees_with_salib_pipeline_within_monte_carlo_error():
    from SALib.analyze import sobol as salib_analyze
    from SALib.sample import sobol as salib_sample

    problem = {"num_vars": 3, "names": ["a", "b", "c"], "bounds": [[-np.pi, np.pi]] * 3}
    x = salib_sample.sample(problem, 2**12, calc_second_order=False, seed=3)
    s = salib_analyze.analyze(
        problem,
        np.asarray(ishigami(jnp.asarray(x)), np.float64),
        calc_second_order=False,
        num_resamples=200,
        seed=4,
    )
    r = sobol_indices(
        jax.random.key(2),
        _ishigami_model,
        _ishigami_factors(),
        2**12,
        num_bootstrap=200,
        estimator="saltelli2010",
    )
    # SALib's conf is 1.96 sd; two independent estimates differ by < 5 sqrt(sd1^2 + sd2^2).
    sd = np.sqrt((np.asarray(s["S1_conf"]) / 1.96) ** 2 + _flat(r.first_order_stderr) ** 2)
    assert np.all(np.abs(_flat(r.first_order) - s["S1"]) < K * sd)
    sd = np.sqrt((np.asarray(s["ST_conf"]) / 1.96) ** 2 + _flat(r.total_order_stderr) ** 2)
    assert np.all(np.abs(_flat(r.total_order) - s["ST"]) < K * sd)
    lo, hi = _flat(r.first_order_bootstrap.low), _flat(r.first_order_bootstrap.high)
    assert np.all(lo <= _flat(r.first_order)) and np.all(_flat(r.first_order) <= hi)


@pytest.mark.slow
def test_groups_and_vector_output_with_aggregated_indices():
    # y = (x1 + x2, x3) with independent standard normals: per-component indices are exact and
    # the aggregated index of x3 is Var(x3) / (Var(y1) + Var(y2)) = 1/3 (Gamma et al. 2014).
    factors = {"a": dist.Normal(jnp.zeros(2), 1.0), "b": dist.Normal(0.0, 1.0)}

    def model(v):
        return jnp.stack([v["a"][0] + v["a"][1], v["b"]])

    r = sobol_indices(jax.random.key(7), model, factors, 2**12)
    np.testing.assert_allclose(r.first_order["a"], [[0.5, 0.0], [0.5, 0.0]], atol=0.03)
    np.testing.assert_allclose(r.aggregated_first_order["b"], 1 / 3, atol=0.03)
    se = r.aggregated_first_order_stderr["a"]
    assert np.all(np.abs(r.aggregated_first_order["a"] - 1 / 3) <= K * se + 1e-4)
    g = sobol_indices(jax.random.key(7), model, factors, 2**12, groups={"a": "pair", "b": "z"})
    assert set(g.first_order) == {"pair", "z"}
    np.testing.assert_allclose(g.first_order["pair"], [1.0, 0.0], atol=0.02)
    np.testing.assert_allclose(g.total_order["z"], [0.0, 1.0], atol=0.02)


def test_no_retrace_on_new_key_and_distribution_parameters():
    factors = {"x12": dist.Uniform(-jnp.pi * jnp.ones(2), jnp.pi), "x3": dist.Uniform(-3.0, 3.0)}
    sobol_indices(jax.random.key(0), _ishigami_model, factors, 256, sampler="mc")
    before = _sobol_outputs._cache_size()
    other = {"x12": dist.Uniform(-2.0 * jnp.ones(2), 2.0), "x3": dist.Uniform(-1.0, 1.0)}
    sobol_indices(jax.random.key(1), _ishigami_model, other, 256, sampler="mc")
    sobol_indices(jax.random.key(2), _ishigami_model, factors, 256, sampler="mc")
    assert _sobol_outputs._cache_size() == before


@pytest.mark.slow
def test_whole_estimator_under_outer_jit():
    factors = _ishigami_factors()
    whole = jax.jit(lambda k: sobol_indices(k, _ishigami_model, factors, 256).first_order)
    np.testing.assert_allclose(
        _flat(whole(jax.random.key(4))),
        _flat(sobol_indices(jax.random.key(4), _ishigami_model, factors, 256).first_order),
        rtol=1e-5,
    )


@pytest.mark.slow
def test_grad_of_first_order_wrt_model_parameter(x64):
    # f = x1 + theta x2, x ~ U(0,1)^2: S1 = 1 / (1 + theta^2); derivative checked against central
    # finite differences of the same estimator (same key, so the same design).
    factors = dist.Uniform(jnp.zeros(2), 1.0)

    def s1(theta):
        r = sobol_indices(jax.random.key(3), lambda x: x[0] + theta * x[1], factors, 512)
        return r.first_order[0]

    theta = 0.7
    g = jax.jit(jax.grad(s1))(theta)
    value = jax.jit(s1)
    h = 1e-5
    fd = (value(theta + h) - value(theta - h)) / (2 * h)
    assert float(g) == pytest.approx(float(fd), rel=1e-5)
    assert float(value(theta)) == pytest.approx(1 / (1 + theta**2), abs=0.05)


def test_bad_input(key):
    factors = {"x": dist.Normal(jnp.zeros(2), 1.0)}
    with pytest.raises(ValueError, match="num_samples"):
        sobol_indices(key, lambda v: v["x"].sum(), factors, 1)
    with pytest.raises(ValueError, match="shaped like factors"):
        sobol_indices(key, lambda v: v["y"], factors, 64)
    with pytest.raises(ValueError, match="icdf"):
        sobol_indices(key, lambda v: v["x"], {"x": dist.VonMises(0.0, 1.0)}, 64)
    with pytest.raises(ValueError, match="numpyro distributions"):
        sobol_indices(key, lambda v: v["x"], {"x": 1.0}, 64)
    with pytest.raises(ValueError, match="groups"):
        sobol_indices(key, lambda v: v["x"].sum(), factors, 64, groups={"y": "a"})
    with pytest.raises(ValueError, match="estimator"):
        sobol_indices(key, lambda v: v["x"].sum(), factors, 64, estimator="sobol")


@pytest.mark.slow
def test_interval_coverage_over_independent_runs():
    # 200 independent Monte Carlo runs on Ishigami (n = 1024, 200 bootstrap resamples): the
    # empirical coverage of each nominal 95% interval is within 5 binomial sd (5 * 0.0154) of
    # 0.95 from below; the exact index values are known.
    ref = ishigami_indices()
    reps = 200
    hits = {k: np.zeros(3) for k in ("s1_boot", "st_boot", "s1_asym", "st_asym")}
    for rep in range(reps):
        r = sobol_indices(
            jax.random.key(1000 + rep),
            _ishigami_model,
            _ishigami_factors(),
            1024,
            num_bootstrap=200,
            sampler="mc",
        )
        for name, ci, exact in [
            ("s1_boot", r.first_order_bootstrap, ref.first_order),
            ("st_boot", r.total_order_bootstrap, ref.total_order),
            ("s1_asym", r.first_order_interval, ref.first_order),
            ("st_asym", r.total_order_interval, ref.total_order),
        ]:
            hits[name] += (_flat(ci.low) <= exact) & (exact <= _flat(ci.high))
    for name, h in hits.items():
        coverage = h / reps
        assert np.all(coverage >= 0.95 - 5 * 0.0154), (name, coverage)


@pytest.mark.slow
def test_evaluation_errors(key):
    factors = {"x": dist.Normal(jnp.zeros(2), 1.0)}
    with pytest.raises(ValueError, match="non-finite outputs; the first at design matrix A"):
        sobol_indices(key, lambda v: jnp.log(v["x"][0]), factors, 64)
    with pytest.raises(ValueError, match="zero variance"):
        sobol_indices(key, lambda v: jnp.stack([v["x"][0], 0.0 * v["x"][1]]), factors, 64)
