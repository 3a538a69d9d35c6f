"""Sensitivity beyond Sobol': rank-based indices and HSIC tests, edtjax vs peers in one process.

* ``given_data_first_order`` (rank-based first-order Sobol' indices, Chatterjee's xi = the
  rank-based Cramer-von Mises index, their batch-means intervals and the asymptotic p-values of
  Chatterjee's test) on the Ishigami function vs ``scipy.stats.chatterjeexi`` (xi and its
  asymptotic p-value only, one call per input).
* ``hsic_indices`` (HSIC, R2, the Gamma-approximation p-values and one permutation) vs a NumPy
  transcription of the reference code of Gretton et al. (2008) for the Gamma test.
* ``shapley_effects`` (exact permutations, Gaussian conditional sampler) vs SALib's Shapley
  estimator (Goda 2021, independent inputs only) on a linear model with independent Gaussian
  inputs, at the same number of model evaluations (different estimators: errors reported).
* ``wasserstein_indices`` (binned optimal-transport indices of a 2-D output, Sinkhorn and Bures)
  vs the same binned estimator with exact transport between each bin and the whole sample
  (POT's ``emd2``, a loop over inputs and bins). jaxgsa, the JAX package with optimal-transport
  indices, does not install on Python 3.11, so it is not a peer here.

* ``--outputs P ...``: whole call against its parts on a model with ``P`` outputs (the
  Ishigami function with coefficients varying over the outputs, as in ``benchmarks/sobol.py``),
  to catch a compiled program that evaluates the model again inside the estimator's
  reductions. For ``dgsm_indices`` and ``shapley_effects`` (scalar models: the mean over the
  ``P`` outputs), ``parameter_sensitivity`` (every ``method``; the three coefficients as
  parameters, the ``P`` outputs at ``P`` input rows) and the given-data estimators (the
  model and the estimator in one ``jit``), the whole call is timed against the model alone
  (jitted, on the same points) plus the estimator alone on the materialised outputs
  (``whole_to_parts`` near 1: no recomputation). ``dgsm_indices`` is also timed against
  SALib's finite-difference DGSM on the same scalar model (SALib has no HSIC).

edtjax is compiled on a warm-up call outside the timed region. Prints one JSON line per
configuration, with the largest difference between the two on the quantity both compute.

Usage (from the repository root)::

    PYTHONPATH=. python benchmarks/sensitivity_beyond.py [--exponents 14 17] [--repeats 3] \
        [--wasserstein-sizes 500 1000] [--outputs 1 256 1000]
"""

from __future__ import annotations

import argparse
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from scipy import stats

from benchmarks._common import best_of
from edtjax.sensitivity import (
    cramer_von_mises_indices,
    dgsm_indices,
    given_data_first_order,
    given_data_shapley_effects,
    hsic_indices,
    parameter_sensitivity,
    shapley_effects,
    sobol_indices_from_outputs,
    uniform_sample,
    wasserstein_indices,
)
from edtjax.simulators.test_functions import ishigami


def _chatterjee(exponents, repeats):
    for e in exponents:
        n = 2**e
        x = jax.random.uniform(jax.random.key(e), (n, 3), minval=-jnp.pi, maxval=jnp.pi)
        y = ishigami(x)
        xn, yn = np.asarray(x, np.float64), np.asarray(y, np.float64)
        given_data_first_order(x, y)  # compile
        edt_s, r = best_of(lambda x=x, y=y: given_data_first_order(x, y), repeats)

        def peer(xn=xn, yn=yn):
            return [stats.chatterjeexi(xn[:, i], yn, y_continuous=True) for i in range(3)]

        peer_s, ref = best_of(peer, repeats)
        diff = max(abs(float(r.chatterjee[i]) - ref[i].statistic) for i in range(3))
        print(
            json.dumps(
                {
                    "name": f"chatterjee_xi/ishigami/n=2^{e}",
                    "edtjax_s": round(edt_s, 4),
                    "peer_s": round(peer_s, 4),
                    "ratio": round(peer_s / edt_s, 2),
                    "peer": "scipy.stats.chatterjeexi (xi and p-value, per input)",
                    "edtjax_computes": "first-order S, xi, batch-means intervals of both, "
                    "p-values, aggregated S",
                    "num_dims": 3,
                    "max_abs_diff_xi": diff,
                }
            ),
            flush=True,
        )


def _gamma_test_numpy(x, y):
    """Gretton et al. (2008)'s Gamma HSIC test, one input column ``x`` against ``y``."""
    n = len(x)

    def gram(v):
        v = v / v.std(ddof=1)
        return np.exp(-0.5 * (v[:, None] - v[None, :]) ** 2)

    k, l = gram(x), gram(y)
    kc = k - k.mean(0) - k.mean(1)[:, None] + k.mean()
    lc = l - l.mean(0) - l.mean(1)[:, None] + l.mean()
    stat = np.sum(kc * lc) / n
    v = (kc * lc / 6) ** 2
    v = (v.sum() - np.trace(v)) / n / (n - 1)
    v = 72 * (n - 4) * (n - 5) / n / (n - 1) / (n - 2) / (n - 3) * v
    mu_x = (k.sum() - n) / n / (n - 1)
    mu_y = (l.sum() - n) / n / (n - 1)
    m = (1 + mu_x * mu_y - mu_x - mu_y) / n
    return stats.gamma.sf(stat, m**2 / v, scale=v * n / m)


def _hsic(sizes, repeats):
    for n in sizes:
        x = jax.random.uniform(jax.random.key(n), (n, 3), minval=-jnp.pi, maxval=jnp.pi)
        y = ishigami(x)
        xn, yn = np.asarray(x, np.float64), np.asarray(y, np.float64)
        hsic_indices(jax.random.key(1), x, y, num_permutations=1)  # compile

        def edt(x=x, y=y):
            return hsic_indices(jax.random.key(0), x, y, num_permutations=1)

        def peer(xn=xn, yn=yn):
            return [_gamma_test_numpy(xn[:, i], yn) for i in range(3)]

        edt_s, r = best_of(edt, repeats)
        peer_s, ref = best_of(peer, repeats)
        diff = float(np.max(np.abs(np.asarray(r.gamma_p_value, np.float64) - np.asarray(ref))))
        print(
            json.dumps(
                {
                    "name": f"hsic_gamma_test/ishigami/n={n}",
                    "edtjax_s": round(edt_s, 4),
                    "peer_s": round(peer_s, 4),
                    "ratio": round(peer_s / edt_s, 2),
                    "peer": "NumPy transcription of Gretton et al. (2008) Gamma test (float64)",
                    "edtjax_computes": "HSIC, R2, Gamma p-values, 1 permutation (float32)",
                    "num_dims": 3,
                    "max_abs_diff_p_value": diff,
                }
            ),
            flush=True,
        )


def _shapley(repeats):
    """Independent inputs (SALib's estimator needs them): Y = 1 X1 + 2 X2 + 1.5 X3, X ~ N(0, I),
    Sh = beta^2 / |beta|^2; the same number of model evaluations for both."""
    from SALib.analyze import shapley as salib_analyze
    from SALib.sample import shapley as salib_sample

    beta = np.array([1.0, 2.0, 1.5])
    exact = beta**2 / np.sum(beta**2)

    def model(x):
        return x @ jnp.asarray(beta, x.dtype)

    num_outer, num_inner, num_variance = 2000, 3, 10_000
    evaluations = 6 * num_outer * num_inner + num_variance

    def edt(seed):
        return shapley_effects(
            jax.random.key(seed),
            model,
            jnp.zeros(3),
            jnp.eye(3),
            num_outer=num_outer,
            num_inner=num_inner,
            num_variance=num_variance,
        ).shapley

    edt(100)  # compile
    edt_s, sh = best_of(lambda: edt(0), repeats)
    problem = {
        "num_vars": 3,
        "names": ["x1", "x2", "x3"],
        "bounds": [[0.0, 1.0]] * 3,
        "dists": ["norm"] * 3,
    }
    n = evaluations // 4

    def peer():
        x = salib_sample.sample(problem, n, seed=1)
        y = np.asarray(model(jnp.asarray(x, jnp.float32)), np.float64)
        return salib_analyze.analyze(problem, x, y)["shapley_normalized"]

    peer_s, ref = best_of(peer, repeats)
    print(
        json.dumps(
            {
                "name": "shapley_effects/linear_gaussian_independent/d=3",
                "edtjax_s": round(edt_s, 4),
                "peer_s": round(peer_s, 4),
                "ratio": round(peer_s / edt_s, 2),
                "peer": "SALib shapley.sample + shapley.analyze (Goda 2021; independent inputs)",
                "model_evaluations": {"edtjax": evaluations, "peer": n * 4},
                "edtjax_max_abs_err": float(np.max(np.abs(np.asarray(sh) - exact))),
                "peer_max_abs_err": float(np.max(np.abs(np.asarray(ref) - exact))),
            }
        ),
        flush=True,
    )


def _wasserstein(sizes, repeats):
    """Y = (tanh(X1 + X2 / 2), X3^2 + X1 / 4) + noise, X ~ N(0, I_3); default bins."""
    import ot

    for n in sizes:
        kx, ke = jax.random.split(jax.random.key(n))
        x = jax.random.normal(kx, (n, 3))
        noise = 0.3 * jax.random.normal(ke, (n, 2))
        y = jnp.stack([jnp.tanh(x[:, 0] + 0.5 * x[:, 1]), x[:, 2] ** 2 + 0.25 * x[:, 0]], 1)
        y = y + noise
        xn, yn = np.asarray(x, np.float64), np.asarray(y, np.float64)
        num_bins = max(2, round(n ** (1 / 3)))
        m = n // num_bins

        def peer(xn=xn, yn=yn, num_bins=num_bins, m=m, n=n):
            z = yn - yn.mean(0)
            z = z / np.sqrt(np.sum(np.mean(z**2, axis=0)))
            out = []
            for i in range(xn.shape[1]):
                order = np.argsort(xn[:, i], kind="stable")
                dists = [
                    ot.emd2(
                        np.full(m, 1 / m),
                        np.full(n, 1 / n),
                        ot.dist(z[order[(b * n) // num_bins :][:m]], z),
                        numItermax=10**7,
                    )
                    for b in range(num_bins)
                ]
                out.append(np.mean(dists) / 2)
            return np.array(out)

        peer_s, ref = best_of(peer, repeats)
        for method in ("sinkhorn", "bures"):
            wasserstein_indices(None, x, y, method=method)  # compile
            edt_s, r = best_of(
                lambda x=x, y=y, method=method: wasserstein_indices(None, x, y, method=method),
                repeats,
            )
            print(
                json.dumps(
                    {
                        "name": f"wasserstein_indices/{method}/n={n}",
                        "edtjax_s": round(edt_s, 4),
                        "peer_s": round(peer_s, 4),
                        "ratio": round(peer_s / edt_s, 2),
                        "peer": "POT emd2 per input and bin (exact W2, same bins)",
                        "num_bins": num_bins,
                        "max_abs_diff": float(np.max(np.abs(np.asarray(r.first_order) - ref))),
                        "note": "Bures is the Gaussian lower bound, not the exact index"
                        if method == "bures"
                        else "Sinkhorn divergence at epsilon = 0.01 tr Cov Y",
                    }
                ),
                flush=True,
            )


def _varying_ishigami(num_outputs: int):
    """``(..., 3)`` inputs to ``(..., num_outputs)``: ``ishigami(x; a_t, b_t)`` over ``t``."""
    t = np.linspace(0.0, 1.0, num_outputs)
    a = jnp.asarray(7.0 * (0.25 + t), jnp.float32)
    b = jnp.asarray(0.1 * (2.0 - t), jnp.float32)

    def model(x):
        s1 = jnp.sin(x[..., :1])
        return s1 + a * jnp.sin(x[..., 1:2]) ** 2 + b * x[..., 2:3] ** 4 * s1

    return model


def _whole_vs_parts(name, whole, model, estimator, repeats, **extra):
    """Time ``whole()`` against ``model()`` then ``estimator(model())`` (compiled first)."""
    jax.block_until_ready(whole())
    outputs = jax.block_until_ready(model())
    jax.block_until_ready(estimator(outputs))
    whole_s, _ = best_of(whole, repeats)
    model_s, _ = best_of(model, repeats)
    estimator_s, _ = best_of(lambda: estimator(outputs), repeats)
    record = {
        "name": name,
        "whole_s": round(whole_s, 5),
        "model_s": round(model_s, 5),
        "estimator_s": round(estimator_s, 5),
        "whole_to_parts": round(whole_s / (model_s + estimator_s), 2),
        "loadavg": [round(v, 2) for v in os.getloadavg()],
    }
    print(json.dumps({**record, **extra}), flush=True)
    return whole_s


def _dgsm_many(num_outputs, repeats):
    """DGSM of the mean of the ``P`` outputs, n = 4096, vs SALib's finite-difference DGSM."""
    from SALib.analyze import dgsm as salib_dgsm
    from SALib.sample import finite_diff

    outputs = _varying_ishigami(num_outputs)

    def scalar(x):
        return jnp.mean(outputs(x), axis=-1)

    n = 4096
    factors = dist.Uniform(-jnp.pi * jnp.ones(3), jnp.pi)
    key = jax.random.key(0)

    @jax.jit
    def model(key):
        u = uniform_sample(key, n, 3, dtype=jnp.float32)
        return jax.vmap(jax.value_and_grad(scalar))(factors.icdf(u))

    @jax.jit
    def estimator(outputs):
        y, grads = outputs
        sq = grads**2
        return jnp.mean(sq, 0), jnp.std(sq, 0, ddof=1), jnp.var(y, ddof=1)

    edt_s = _whole_vs_parts(
        f"dgsm_indices/mean_of_{num_outputs}_outputs/n={n}",
        lambda: dgsm_indices(key, scalar, factors, n),
        lambda: model(key),
        estimator,
        repeats,
    )
    problem = {"num_vars": 3, "names": ["x1", "x2", "x3"], "bounds": [[-np.pi, np.pi]] * 3}
    jit_scalar = jax.jit(scalar)

    def peer():
        x = finite_diff.sample(problem, n, seed=1)
        y = np.asarray(jit_scalar(jnp.asarray(x, jnp.float32)), np.float64)
        return salib_dgsm.analyze(problem, x, y, num_resamples=100, seed=1)["vi"]

    peer_s, _ = best_of(peer, repeats)
    print(
        json.dumps(
            {
                "name": f"dgsm_vs_salib/mean_of_{num_outputs}_outputs/n={n}",
                "edtjax_s": round(edt_s, 5),
                "peer_s": round(peer_s, 5),
                "ratio": round(peer_s / edt_s, 2),
                "peer": "SALib finite_diff.sample + dgsm.analyze (100 resamples), jitted model",
                "edtjax_computes": "exact gradients (jax.grad), nu, stderr, Poincare bounds",
                "loadavg": [round(v, 2) for v in os.getloadavg()],
            }
        ),
        flush=True,
    )


def _shapley_many(num_outputs, repeats):
    """Shapley effects (exact permutations) of the mean of the ``P`` outputs, X ~ N(0, I)."""
    outputs = _varying_ishigami(num_outputs)

    def scalar(x):
        return jnp.mean(outputs(x), axis=-1)

    num_outer, num_inner, num_variance = 2000, 3, 10_000
    key = jax.random.key(0)

    @jax.jit
    def model(key):
        # the same number of evaluations: six subsets of num_outer x num_inner, one sample
        k_sub, k_var = jax.random.split(key)
        x = jax.random.normal(k_sub, (6, num_outer, num_inner, 3))
        return jax.lax.map(scalar, x), scalar(jax.random.normal(k_var, (num_variance, 3)))

    @jax.jit
    def estimator(outputs):
        inner, y = outputs
        cost = jnp.var(inner, axis=-1, ddof=1)
        return cost.mean(1), cost.var(1), jnp.var(y), jnp.mean((y - y.mean()) ** 4)

    _whole_vs_parts(
        f"shapley_effects/mean_of_{num_outputs}_outputs/d=3",
        lambda: shapley_effects(
            key,
            scalar,
            jnp.zeros(3),
            jnp.eye(3),
            num_outer=num_outer,
            num_inner=num_inner,
            num_variance=num_variance,
        ),
        lambda: model(key),
        estimator,
        repeats,
    )


def _coefficient_model(params, x):
    """Ishigami with its three coefficients as parameters, at the ``(m, 3)`` rows of ``x``."""
    s1 = jnp.sin(params["a"] * x[:, 0])
    return s1 + params["b"] * jnp.sin(x[:, 1]) ** 2 + params["c"] * x[:, 2] ** 4 * s1


def _parameters_many(num_outputs, repeats):
    """parameter_sensitivity, every method, of the coefficients at ``P`` input rows."""
    params = {"a": jnp.float32(1.0), "b": jnp.float32(7.0), "c": jnp.float32(0.1)}
    x = jax.random.uniform(jax.random.key(1), (num_outputs, 3), minval=-jnp.pi, maxval=jnp.pi)
    key = jax.random.key(0)
    coefficients = jnp.stack([params["a"], params["b"], params["c"]])

    @jax.jit
    def evaluate(xi):  # (m, 3) multiplicative factors -> (m, P) outputs
        def one(e):
            c = coefficients * (1.0 + 0.1 * e)
            return _coefficient_model({"a": c[0], "b": c[1], "c": c[2]}, x)

        return jax.vmap(one)(xi)

    # per method: samples, evaluations per sample, estimator on the (m, P) outputs
    def sobol(xi_y):
        _, y = xi_y
        y = y.reshape(5, -1, num_outputs)
        return sobol_indices_from_outputs(key, y[0], y[1], y[2:])

    def pick_freeze(xi_y):
        _, y = xi_y
        y = y.reshape(4, -1, num_outputs)
        return cramer_von_mises_indices(key, y[0], y[1:])

    methods = {
        "sobol": (1024, 5, sobol),
        "hsic": (500, 1, lambda xi_y: hsic_indices(key, *xi_y)),
        "given_data": (1024, 1, lambda xi_y: given_data_first_order(*xi_y)),
        "cramer_von_mises": (256, 4, pick_freeze),
    }
    for method, (n, evaluations, estimator) in methods.items():
        xi = jax.random.normal(jax.random.key(2), (n * evaluations, 3))
        _whole_vs_parts(
            f"parameter_sensitivity/{method}/{num_outputs}_outputs/n={n}",
            lambda n=n, method=method: parameter_sensitivity(
                key, _coefficient_model, params, x, groups="weight", num_samples=n, method=method
            ),
            lambda xi=xi: (xi, evaluate(xi)),
            estimator,
            repeats,
            model_evaluations=n * evaluations,
        )


def _given_data_many(num_outputs, repeats):
    """Given-data estimators with the model in the same jit, against the two apart."""
    model = _varying_ishigami(num_outputs)
    jit_model = jax.jit(model)
    key = jax.random.key(0)
    cases = {
        "given_data_first_order": (4096, given_data_first_order),
        "given_data_shapley_effects": (
            1000,
            lambda x, y: given_data_shapley_effects(key, x, y),
        ),
        "hsic_indices": (500, lambda x, y: hsic_indices(key, x, y, num_permutations=19)),
        "wasserstein_indices/bures/first_8_outputs": (
            4096,
            lambda x, y: wasserstein_indices(key, x, y[:, :8], num_bootstrap=5),
        ),
    }
    for name, (n, estimator) in cases.items():
        x = jax.random.uniform(jax.random.key(1), (n, 3), minval=-jnp.pi, maxval=jnp.pi)
        whole = jax.jit(lambda x, estimator=estimator: estimator(x, model(x)))
        _whole_vs_parts(
            f"jit_model_and_{name}/{num_outputs}_outputs/n={n}",
            lambda x=x, whole=whole: whole(x),
            lambda x=x: jit_model(x),
            lambda y, x=x, estimator=estimator: estimator(x, y),
            repeats,
        )
    # Cramer-von Mises on a pick-freeze sample: B and the three AB_i
    n = 512
    x = jax.random.uniform(jax.random.key(1), (4, n, 3), minval=-jnp.pi, maxval=jnp.pi)

    def cvm(y):
        return cramer_von_mises_indices(key, y[0], y[1:], num_bootstrap=10)

    whole = jax.jit(lambda x: cvm(model(x)))
    _whole_vs_parts(
        f"jit_model_and_cramer_von_mises_indices/{num_outputs}_outputs/n={n}",
        lambda: whole(x),
        lambda: jit_model(x),
        cvm,
        repeats,
    )


def _many_outputs(num_outputs, repeats):
    _dgsm_many(num_outputs, repeats)
    _shapley_many(num_outputs, repeats)
    _parameters_many(num_outputs, repeats)
    _given_data_many(num_outputs, repeats)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--exponents", type=int, nargs="+", default=[14, 17])
    parser.add_argument("--hsic-sizes", type=int, nargs="+", default=[500, 2000])
    parser.add_argument("--wasserstein-sizes", type=int, nargs="+", default=[500, 1000])
    parser.add_argument("--outputs", type=int, nargs="*", default=[])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only-outputs", action="store_true", help="run the --outputs cases only")
    args = parser.parse_args()
    for num_outputs in args.outputs:
        _many_outputs(num_outputs, args.repeats)
    if args.only_outputs:
        return
    _chatterjee(args.exponents, args.repeats)
    _hsic(args.hsic_sizes, args.repeats)
    _shapley(args.repeats)
    _wasserstein(args.wasserstein_sizes, args.repeats)


if __name__ == "__main__":
    main()
