"""Sobol' indices: edtjax vs SALib, full pipeline in one process.

Pipeline timed for both: design (scrambled Sobol'), model evaluation, first and total indices,
bootstrap with ``--resamples`` resamples (no second order). edtjax is compiled on a warm-up call
with another key outside the timed region. Prints one JSON line per configuration.

Usage (from the repository root)::

    PYTHONPATH=. python benchmarks/sobol.py [--exponents 14 16] [--resamples 100] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from SALib.analyze import sobol as salib_analyze
from SALib.sample import sobol as salib_sample

from edtjax.sensitivity import sobol_indices
from edtjax.simulators.test_functions import (
    ishigami,
    ishigami_indices,
    sobol_g,
    sobol_g_indices,
)

G_A = np.array([0.0, 0.5, 1.0, 2.0, 4.5, 9.0] + [99.0] * 14)


def _cases():
    return {
        "ishigami": (
            3,
            [[-np.pi, np.pi]] * 3,
            dist.Uniform(-jnp.pi * jnp.ones(3), jnp.pi),
            ishigami,
            ishigami_indices(),
        ),
        "sobol_g_20d": (
            20,
            [[0.0, 1.0]] * 20,
            dist.Uniform(jnp.zeros(20), 1.0),
            lambda x: sobol_g(x, jnp.asarray(G_A, jnp.float32)),
            sobol_g_indices(G_A),
        ),
    }


def _edtjax(key, model, factors, n, resamples):
    r = sobol_indices(key, model, factors, n, num_bootstrap=resamples)
    jax.block_until_ready((r.first_order, r.total_order, r.first_order_bootstrap))
    return np.asarray(r.first_order), np.asarray(r.total_order)


def _salib(d, bounds, model, n, resamples, seed):
    problem = {"num_vars": d, "names": [f"x{i}" for i in range(d)], "bounds": bounds}
    x = salib_sample.sample(problem, n, calc_second_order=False, seed=seed)
    y = np.asarray(model(jnp.asarray(x, jnp.float32)), np.float64)
    s = salib_analyze.analyze(
        problem, y, calc_second_order=False, num_resamples=resamples, seed=seed
    )
    return np.asarray(s["S1"]), np.asarray(s["ST"])


def _mlp_parameter_gsa(num_samples: int, repeats: int) -> None:
    """Time parameter GSA of a 3x64 tanh MLP (every weight a factor, grouped by layer)."""
    import flax.linen as nn

    from edtjax.sensitivity import parameter_sensitivity

    class MLP(nn.Module):
        @nn.compact
        def __call__(self, x):
            for _ in range(3):
                x = nn.tanh(nn.Dense(64)(x))
            return nn.Dense(1)(x)

    net = MLP()
    params = net.init(jax.random.key(0), jnp.ones((1, 8)))
    x = jax.random.normal(jax.random.key(1), (32, 8))

    def run(key):
        r = parameter_sensitivity(key, net.apply, params, x, num_samples=num_samples)
        jax.block_until_ready(r.first_order)

    run(jax.random.key(100))  # compile
    times = []
    for rep in range(repeats):
        t0 = time.perf_counter()
        run(jax.random.key(rep))
        times.append(time.perf_counter() - t0)
    num_params = sum(int(np.size(p)) for p in jax.tree.leaves(params))
    print(
        json.dumps(
            {
                "name": f"parameter_sensitivity/mlp3x64/N={num_samples}",
                "edtjax_s": round(min(times), 4),
                "peer_s": None,
                "ratio": None,
                "peer": "none (no peer computes GSA over a parameter pytree)",
                "num_parameters": num_params,
                "groups": "layer (4 groups)",
                "network_evaluations": num_samples * 6,
                "inputs_per_evaluation": 32,
            }
        ),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--exponents", type=int, nargs="+", default=[14, 16])
    parser.add_argument("--resamples", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--mlp-samples", type=int, default=10_000)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    for name, (d, bounds, factors, model, ref) in _cases().items():
        for e in args.exponents:
            n = 2**e
            _edtjax(jax.random.key(100), model, factors, n, args.resamples)  # compile
            t_e, t_s = [], []
            for rep in range(args.repeats):
                t0 = time.perf_counter()
                s1, st = _edtjax(jax.random.key(rep), model, factors, n, args.resamples)
                t_e.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                p1, pt = _salib(d, bounds, model, n, args.resamples, rep + 1)
                t_s.append(time.perf_counter() - t0)
            edt_s, peer_s = min(t_e), min(t_s)
            print(
                json.dumps(
                    {
                        "name": f"sobol_indices/{name}/N=2^{e}",
                        "edtjax_s": round(edt_s, 4),
                        "peer_s": round(peer_s, 4),
                        "ratio": round(peer_s / edt_s, 2),
                        "peer": "SALib sobol.sample + sobol.analyze",
                        "num_dims": d,
                        "model_evaluations": n * (d + 2),
                        "bootstrap_resamples": args.resamples,
                        "edtjax_max_abs_err_first": float(np.max(np.abs(s1 - ref.first_order))),
                        "peer_max_abs_err_first": float(np.max(np.abs(p1 - ref.first_order))),
                        "edtjax_max_abs_err_total": float(np.max(np.abs(st - ref.total_order))),
                        "peer_max_abs_err_total": float(np.max(np.abs(pt - ref.total_order))),
                    }
                ),
                flush=True,
            )
    _mlp_parameter_gsa(args.mlp_samples, args.repeats)


if __name__ == "__main__":
    main()
