"""Sobol' indices: edtjax vs SALib and jaxgsa, full pipeline in one process.

Pipeline timed for each library: design (scrambled Sobol'), model evaluation, first and total
indices (and second order on Ishigami, as a second case), bootstrap with ``--resamples``
resamples. edtjax and jaxgsa are compiled on a warm-up call with another key outside the timed
region; jaxgsa evaluates the model jitted on its design rows. Prints one JSON line per
configuration, with ``ratio = peer_s / edtjax_s`` for SALib and ``jaxgsa_ratio = jaxgsa_s /
edtjax_s``. jaxgsa (Saltelli design and SALib's default estimators, in JAX) is optional: without
it every line says ``"jaxgsa": "absent"`` and gives no jaxgsa figures.

``--outputs T ...`` adds a many-output case: an Ishigami function whose coefficients vary over
``T`` "time points", ``y_t = ishigami(x; a_t, b_t)``, so every component has exact indices;
SALib analyses one output at a time (a loop over the components, as its users do). edtjax runs
with its default first-order estimator (``janon2014``) and with ``saltelli2010``, the pairing
of jaxgsa's default (Saltelli first order, Jansen total): ``edtjax_saltelli2010_s`` and
``jaxgsa_ratio_saltelli2010``.

``--accuracy-seeds K`` adds an accuracy study: root-mean-square and median absolute errors
against the exact Ishigami indices (first, total and second order) over ``K`` seeds at
``N = 2^--accuracy-exponent`` for both of edtjax's first-order estimators, SALib and jaxgsa
(its default ``saltelli-jansen``, SALib's pairing, and ``janon-monod``), all at the same number
of model evaluations ``N (2d + 2)``. Scrambled Sobol' errors are heavy-tailed: over 24 seeds
the RMSE ranking of two designs can flip; use 100 or more.

Usage (from the repository root)::

    PYTHONPATH=. python benchmarks/sobol.py [--exponents 14 16] [--resamples 100] [--repeats 1]
        [--outputs 256 1000] [--accuracy-seeds 24 --accuracy-exponent 12] [--peers salib jaxgsa]

Every line records ``os.getloadavg()`` at its end: timings on a shared machine are noisy, so
take the best of several ``--repeats``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
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

try:
    import jaxgsa
    from jaxgsa import sobol as jaxgsa_sobol
except ImportError:  # optional peer
    jaxgsa = None
JAXGSA_VERSION = "absent" if jaxgsa is None else jaxgsa.__version__

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


def _edtjax(key, model, factors, n, resamples, second_order=False, estimator="janon2014"):
    r = sobol_indices(
        key,
        model,
        factors,
        n,
        num_bootstrap=resamples,
        second_order=second_order,
        estimator=estimator,
    )
    jax.block_until_ready(r)
    s2 = None if r.second_order is None else np.asarray(r.second_order)
    return np.asarray(r.first_order), np.asarray(r.total_order), s2


def _salib(d, bounds, model, n, resamples, seed, second_order=False):
    """SALib's sample + analyze; a vector output is analysed one component at a time."""
    problem = {"num_vars": d, "names": [f"x{i}" for i in range(d)], "bounds": bounds}
    x = salib_sample.sample(problem, n, calc_second_order=second_order, seed=seed)
    y = np.asarray(model(jnp.asarray(x, jnp.float32)), np.float64)
    columns = y[:, None] if y.ndim == 1 else y
    first, total, second = [], [], []
    for col in columns.T:
        s = salib_analyze.analyze(
            problem, col, calc_second_order=second_order, num_resamples=resamples, seed=seed
        )
        first.append(s["S1"])
        total.append(s["ST"])
        second.append(s["S2"] if second_order else None)
    if y.ndim == 1:
        return first[0], total[0], second[0]
    return np.stack(first, -1), np.stack(total, -1), None


_JITTED = {}


def _jaxgsa(d, bounds, model, n, resamples, seed, second_order=False, estimator="saltelli-jansen"):
    """jaxgsa's ``sobol.sample`` + jitted model + ``sobol.analyze`` (all output components
    in one call); indices laid out as edtjax's, ``(d, *out)``."""
    problem = jaxgsa.Problem.from_dict({f"x{i}": tuple(b) for i, b in enumerate(bounds)})
    design = jaxgsa_sobol.sample(
        problem, base_n=n, calc_second_order=second_order, seed=seed, verbose=False
    )
    jitted = _JITTED.setdefault(model, jax.jit(model))
    y = jitted(jnp.asarray(design.samples, jnp.float32))
    r = jaxgsa_sobol.analyze(
        design,
        y,
        estimator=estimator,
        n_bootstrap=resamples,
        key=jax.random.key(seed) if resamples else None,
        verbose=False,
    )
    jax.block_until_ready((r.S1, r.ST, r.S1_conf, r.ST_conf, r.S2, r.S2_conf))
    first, total = np.asarray(r.S1).T, np.asarray(r.ST).T
    return first, total, None if r.S2 is None else np.asarray(r.S2)


def _peer_runs(peers, d, bounds, model, n, resamples, second_order=False):
    """The peers' timed runs by name (seed ``rep + 1``), and jaxgsa's warm-up call."""
    runs = {}
    if "salib" in peers:
        runs["salib"] = lambda rep: _salib(d, bounds, model, n, resamples, rep + 1, second_order)
    if "jaxgsa" in peers and jaxgsa is not None:
        _jaxgsa(d, bounds, model, n, resamples, 100, second_order)  # compile
        runs["jaxgsa"] = lambda rep: _jaxgsa(d, bounds, model, n, resamples, rep + 1, second_order)
    return runs


def _interleaved(runs, repeats):
    """Best wall time of each run over ``repeats`` rounds (one call of each per round, seed
    ``rep``) and each run's last result."""
    times = {name: [] for name in runs}
    results = {}
    for rep in range(repeats):
        for name, run in runs.items():
            t0 = time.perf_counter()
            results[name] = run(rep)
            times[name].append(time.perf_counter() - t0)
    return {name: min(t) for name, t in times.items()}, results


def _comparison(times, results, first, total):
    """The timings, ratios and maximum absolute errors of a record."""
    edt_s = times["edtjax"]
    record = {"edtjax_s": round(edt_s, 4)}
    for name, (time_key, ratio_key) in {
        "salib": ("peer_s", "ratio"),
        "jaxgsa": ("jaxgsa_s", "jaxgsa_ratio"),
    }.items():
        record[time_key] = round(times[name], 4) if name in times else None
        record[ratio_key] = round(times[name] / edt_s, 2) if name in times else None
    record["jaxgsa"] = JAXGSA_VERSION
    for name, (s1, st, _) in results.items():
        prefix = "peer" if name == "salib" else name
        record[f"{prefix}_max_abs_err_first"] = float(np.max(np.abs(s1 - first)))
        record[f"{prefix}_max_abs_err_total"] = float(np.max(np.abs(st - total)))
    return record


def _print(record):
    record["load_average"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(record), flush=True)


def _time_varying_ishigami(num_outputs: int):
    """``y_t = ishigami(x; a_t, b_t)`` over ``num_outputs`` time points, with exact indices."""
    t = np.linspace(0.0, 1.0, num_outputs)
    a, b = 7.0 * (0.25 + t), 0.1 * (2.0 - t)
    a_j, b_j = jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32)

    def model(x):
        s1 = jnp.sin(x[..., :1])
        return s1 + a_j * jnp.sin(x[..., 1:2]) ** 2 + b_j * x[..., 2:3] ** 4 * s1

    refs = [ishigami_indices(float(ai), float(bi)) for ai, bi in zip(a, b, strict=True)]
    first = np.stack([r.first_order for r in refs], -1)
    total = np.stack([r.total_order for r in refs], -1)
    return model, first, total


def _many_outputs(num_outputs, exponent, resamples, repeats, peers) -> None:
    """Time edtjax and the peers on ``num_outputs`` components at ``N = 2^exponent``."""
    n = 2**exponent
    bounds = [[-np.pi, np.pi]] * 3
    factors = dist.Uniform(-jnp.pi * jnp.ones(3), jnp.pi)
    model, first, total = _time_varying_ishigami(num_outputs)
    runs = {}
    for estimator in ("janon2014", "saltelli2010"):
        _edtjax(jax.random.key(100), model, factors, n, resamples, estimator=estimator)  # compile
        name = "edtjax" if estimator == "janon2014" else f"edtjax_{estimator}"
        runs[name] = functools.partial(
            lambda rep, e: _edtjax(jax.random.key(rep), model, factors, n, resamples, estimator=e),
            e=estimator,
        )
    runs |= _peer_runs(peers, 3, bounds, model, n, resamples)
    times, results = _interleaved(runs, repeats)
    # saltelli2010 first order with Jansen total: the pairing of jaxgsa's default estimator
    salt_s = times["edtjax_saltelli2010"]
    salt = {"edtjax_saltelli2010_s": round(salt_s, 4)}
    if "jaxgsa" in times:
        salt["jaxgsa_ratio_saltelli2010"] = round(times["jaxgsa"] / salt_s, 2)
    _print(
        {
            "name": f"sobol_indices/ishigami_{num_outputs}_outputs/N=2^{exponent}",
            **_comparison(times, results, first, total),
            **salt,
            "peer": "SALib sobol.sample + sobol.analyze per output component; jaxgsa "
            "sobol.sample + jitted model + sobol.analyze on all components",
            "outputs": num_outputs,
            "bootstrap_resamples": resamples,
        }
    )


def _accuracy(seeds: int, exponent: int, peers) -> None:
    """RMSE over ``seeds`` seeds on Ishigami, first, total and second order, equal evaluations."""
    n = 2**exponent
    ref = ishigami_indices()
    factors = dist.Uniform(-jnp.pi * jnp.ones(3), jnp.pi)
    bounds = [[-np.pi, np.pi]] * 3
    iu = np.triu_indices(3, 1)
    runs = {
        "edtjax_janon2014": lambda s: _edtjax(
            jax.random.key(s), ishigami, factors, n, 0, True, "janon2014"
        ),
        "edtjax_saltelli2010": lambda s: _edtjax(
            jax.random.key(s), ishigami, factors, n, 0, True, "saltelli2010"
        ),
    }
    if "salib" in peers:
        runs["salib"] = lambda s: _salib(3, bounds, ishigami, n, 2, s + 1, second_order=True)
    if "jaxgsa" in peers and jaxgsa is not None:
        for estimator in ("saltelli-jansen", "janon-monod"):
            runs[f"jaxgsa_{estimator.replace('-', '_')}"] = functools.partial(
                lambda s, e: _jaxgsa(3, bounds, ishigami, n, 0, s + 1, True, e), e=estimator
            )
    record = {
        "name": f"sobol_rmse/ishigami/N=2^{exponent}",
        "seeds": seeds,
        "model_evaluations": n * 8,
        "jaxgsa": JAXGSA_VERSION,
        "exact_first": ref.first_order.round(4).tolist(),
        "exact_total": ref.total_order.round(4).tolist(),
        "exact_second_upper": ref.second_order[iu].round(4).tolist(),
    }
    for name, run in runs.items():
        est = [run(s) for s in range(seeds)]
        s1 = np.stack([e[0] for e in est])
        st = np.stack([e[1] for e in est])
        s2 = np.stack([np.asarray(e[2])[iu] for e in est])
        for label, values, exact in (
            ("first", s1, ref.first_order),
            ("total", st, ref.total_order),
            ("second", s2, ref.second_order[iu]),
        ):
            error = values - exact
            rmse = np.sqrt(np.mean(error**2, axis=0))
            record[f"{name}_rmse_{label}"] = rmse.round(5).tolist()
            # randomised-QMC errors are heavy-tailed (a few scrambles give most of the squared
            # error), so the median is reported beside the RMSE
            record[f"{name}_median_abs_{label}"] = np.median(np.abs(error), 0).round(5).tolist()
    _print(record)


def _single_output(name, case, exponent, resamples, repeats, peers, second_order) -> None:
    """Time edtjax and the peers on one scalar-output case at ``N = 2^exponent``."""
    d, bounds, factors, model, ref = case
    n = 2**exponent
    _edtjax(jax.random.key(100), model, factors, n, resamples, second_order)  # compile
    runs = {
        "edtjax": lambda rep: _edtjax(
            jax.random.key(rep), model, factors, n, resamples, second_order
        )
    }
    runs |= _peer_runs(peers, d, bounds, model, n, resamples, second_order)
    times, results = _interleaved(runs, repeats)
    _print(
        {
            "name": f"sobol_indices/{name}{'_second_order' if second_order else ''}/N=2^{exponent}",
            **_comparison(times, results, ref.first_order, ref.total_order),
            "peer": "SALib sobol.sample + sobol.analyze; jaxgsa sobol.sample + jitted model + "
            "sobol.analyze",
            "num_dims": d,
            "second_order": second_order,
            "model_evaluations": n * (2 * d + 2 if second_order else d + 2),
            "bootstrap_resamples": resamples,
        }
    )


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
    _print(
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
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--exponents", type=int, nargs="+", default=[14, 16])
    parser.add_argument("--resamples", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--mlp-samples", type=int, default=10_000)
    parser.add_argument("--outputs", type=int, nargs="*", default=[])
    parser.add_argument("--outputs-exponent", type=int, default=12)
    parser.add_argument("--accuracy-seeds", type=int, default=0)
    parser.add_argument("--accuracy-exponent", type=int, default=12)
    parser.add_argument(
        "--peers", nargs="*", choices=("salib", "jaxgsa"), default=["salib", "jaxgsa"]
    )
    parser.add_argument(
        "--cases", nargs="+", choices=tuple(_cases()), default=list(_cases()), help="one output"
    )
    parser.add_argument("--skip-single", action="store_true", help="only the added cases")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    for num_outputs in args.outputs:
        _many_outputs(num_outputs, args.outputs_exponent, args.resamples, args.repeats, args.peers)
    if args.accuracy_seeds:
        _accuracy(args.accuracy_seeds, args.accuracy_exponent, args.peers)
    if args.skip_single:
        return
    cases = _cases()
    for name in args.cases:
        # second order on Ishigami only: SALib's loop over 190 pairs of the G function is slow
        for second_order in (False, True) if name == "ishigami" else (False,):
            for e in args.exponents:
                _single_output(
                    name, cases[name], e, args.resamples, args.repeats, args.peers, second_order
                )
    _mlp_parameter_gsa(args.mlp_samples, args.repeats)


if __name__ == "__main__":
    main()
