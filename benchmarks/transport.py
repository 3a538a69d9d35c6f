"""Benchmark: edtjax entropic OT vs POT (kernel and log-domain Sinkhorn) and ott-jax called
directly; exact vs entropic F+- ranks.

Run from the repository root:  python benchmarks/transport.py [--n 2000] [--rank-sizes 500 1000]

Prints one JSON line per configuration and peer. Every solver gets the same epsilon (5% of the
mean cost) and the same arrays (same dtype), and is run to the same marginal error: ott-jax (and
edtjax) stop when the 1-norm marginal error is below ``tol``, POT when the 2-norm error of one
marginal is below its ``stopThr``, which is set to ``tol / sqrt(n)`` (the 1-norm of an ``n``-vector
is at most ``sqrt(n)`` times its 2-norm); the 1-norm marginal error each solver reached is
recorded. Compilation happens outside the timed region; every timed call ends with
``block_until_ready``; the solvers are timed in interleaved rounds (best of ``--repeat``) and
the load average is recorded. POT works on a dense cost matrix, whose construction
(``ot.dist``) is timed with it. ``edtjax_s`` is ``entropic_ot(..., domain="auto")`` (kernel
domain where its result is certified); peers:

* ``edtjax_log``: ``entropic_ot`` in its default log domain;
* ``pot_kernel``: ``ot.sinkhorn(method="sinkhorn")``, scalings in the kernel domain (fast,
  underflows for small epsilon), and ``pot_log``: ``method="sinkhorn_log"``; both return the
  plan, whose cost ``<P, M>`` is formed;
* ``pot_kernel_equal_error``: POT's kernel solver run for exactly the fewest iterations at which
  its plan's 1-norm marginal error is below ``tol`` (found before timing by bisection over
  ``numItermax`` with ``stopThr=0``): time to the same marginal error as edtjax, without the
  overshoot of POT's own rule (a 2-norm test every 10 iterations, which in ``d = 10`` stops at
  a marginal error ~50x below ``tol``);
* ``ott_solve``: ott-jax's ``linear.solve`` on the same point cloud, log domain, returning the
  potentials (the solve inside ``entropic_ot``, without its centring and transport cost);
* ``ott_solve_kernel``: ott-jax's ``linear.solve(lse_mode=False)`` on a ``Geometry`` holding the
  same precomputed kernel as edtjax's kernel domain, returning the potentials (edtjax runs the
  same iterations in its own loop, differentiated by ott-jax's implicit differentiation).

``sinkhorn_fallback_*`` times ``domain="auto"`` against ``domain="log"`` where the kernel domain
must fail (float32, epsilon at ``--fallback-scale`` of the mean cost: the scalings leave float32's
range), so ``auto`` returns the log-domain result after a failed kernel attempt; ``overhead`` is
the attempt's cost relative to the log-domain solve.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings

import jax

jax.config.update("jax_enable_x64", True)  # same precision as POT (float64), for this script only

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import ot  # noqa: E402
import ott  # noqa: E402
from ott.geometry import geometry, pointcloud  # noqa: E402
from ott.solvers import linear  # noqa: E402

from edtjax.transport import (  # noqa: E402
    center_outward_distribution,
    center_outward_fit,
    center_outward_ranks,
    entropic_ot,
)


def _best_of(fn, repeat):
    times = []
    out = None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def _interleaved(fns, repeat):
    """Best time of each function over ``repeat`` rounds, one call of each per round (so a
    change of machine load hits all of them alike); each is called once untimed first."""
    outs = {label: fn() for label, fn in fns.items()}
    times = dict.fromkeys(fns, float("inf"))
    for _ in range(repeat):
        for label, fn in fns.items():
            start = time.perf_counter()
            outs[label] = fn()
            times[label] = min(times[label], time.perf_counter() - start)
    return times, outs


def _marginal_error(plan, a, b):
    """1-norm marginal error of a plan, both marginals (ott-jax's stopping criterion)."""
    plan = np.asarray(plan, dtype=np.float64)
    return float(np.abs(plan.sum(1) - a).sum() + np.abs(plan.sum(0) - b).sum())


def bench_sinkhorn(n, d, tol, repeat, dtype):
    """One JSON record per peer for the Sinkhorn problem of size ``n`` in dimension ``d``."""
    rng = np.random.default_rng(d)
    np_dtype = np.dtype(jnp.dtype(dtype).name)
    x = rng.standard_normal((n, d)).astype(np_dtype)
    y = (rng.standard_normal((n, d)) * 1.2 + 0.3).astype(np_dtype)
    a = np.full(n, 1.0 / n, dtype=np_dtype)
    # epsilon: 5% of the mean cost, the same for every solver
    eps = 0.05 * float(np.mean(ot.dist(x[:512].astype(np.float64), y[:512].astype(np.float64))))
    xj, yj, aj = jnp.asarray(x), jnp.asarray(y), jnp.asarray(a)
    max_it = 10_000
    pot_thr = tol / np.sqrt(n)

    def run_edtjax(domain):
        def run():
            res = entropic_ot(
                xj, yj, epsilon=eps, threshold=tol, max_iterations=max_it, domain=domain
            )
            return jax.block_until_ready(res)

        return run

    @jax.jit
    def ott_solve(x, y, a):
        geom = pointcloud.PointCloud(x, y, epsilon=eps)
        return linear.solve(geom, a=a, b=a, threshold=tol, max_iterations=max_it, lse_mode=True)

    @jax.jit
    def ott_solve_kernel(x, y, a):
        cost = pointcloud.PointCloud(x, y).cost_matrix
        cost = cost - jnp.min(cost, axis=1, keepdims=True)
        cost = cost - jnp.min(cost, axis=0, keepdims=True)
        geom = geometry.Geometry(kernel_matrix=jnp.exp(-cost / eps), epsilon=eps)
        return linear.solve(geom, a=a, b=a, threshold=tol, max_iterations=max_it, lse_mode=False)

    def run_ott(solve):
        def run():
            out = solve(xj, yj, aj)
            return jax.block_until_ready((out.f, out.g, out.converged))

        return run

    def run_pot(method):
        def run():
            M = ot.dist(x, y)
            plan = ot.sinkhorn(a, a, M, eps, method=method, stopThr=pot_thr, numItermax=max_it)
            return float(np.sum(plan * M)), plan

        return run

    def pot_error(iterations):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "did not converge": stopThr=0 on purpose
            plan = ot.sinkhorn(a, a, ot.dist(x, y), eps, stopThr=0.0, numItermax=iterations)
        return _marginal_error(plan, a, a)

    low, high = 0, 1  # pot_error(low) >= tol > pot_error(high), by doubling then bisection
    while pot_error(high) >= tol and high < max_it:
        low, high = high, 2 * high
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if pot_error(mid) < tol else (mid, high)
    pot_iterations = high

    def run_pot_equal_error():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            M = ot.dist(x, y)
            plan = ot.sinkhorn(a, a, M, eps, stopThr=0.0, numItermax=pot_iterations)
        return float(np.sum(plan * M)), plan

    runs = {
        "edtjax": (run_edtjax("auto"), None),
        "edtjax_log": (run_edtjax("log"), "entropic_ot(domain='log')"),
        "pot_kernel": (run_pot("sinkhorn"), "ot.sinkhorn(method='sinkhorn') incl. ot.dist"),
        "pot_log": (run_pot("sinkhorn_log"), "ot.sinkhorn(method='sinkhorn_log') incl. ot.dist"),
        "pot_kernel_equal_error": (
            run_pot_equal_error,
            f"ot.sinkhorn(method='sinkhorn', stopThr=0, numItermax={pot_iterations}) incl. ot.dist",
        ),
        "ott_solve": (run_ott(ott_solve), "linear.solve (lse_mode) on PointCloud, potentials"),
        "ott_solve_kernel": (
            run_ott(ott_solve_kernel),
            "linear.solve (lse_mode=False) on Geometry(kernel_matrix) of the reduced cost",
        ),
    }
    load_before = os.getloadavg()[0]
    times, outs = _interleaved({label: fn for label, (fn, _) in runs.items()}, repeat)
    load_after = os.getloadavg()[0]
    res = outs["edtjax"]
    edt_s, edt_cost = times["edtjax"], float(res.transport_cost)
    edt_err = _marginal_error(res.plan(), a, a)
    versions = {
        "pot": f"POT {ot.__version__}",
        "ott": f"ott-jax {ott.__version__}",
        "edtjax": "edtjax",
    }
    records = []
    for label, (_, what) in list(runs.items())[1:]:
        peer_s, peer_out = times[label], outs[label]
        record = {
            "name": f"sinkhorn_n{n}_d{d}_{jnp.dtype(dtype).name}_vs_{label}",
            "edtjax_s": edt_s,
            "peer_s": peer_s,
            "ratio": peer_s / edt_s,
            "n": n,
            "d": d,
            "epsilon": eps,
            "tolerance": tol,
            "edtjax_cost": edt_cost,
            "edtjax_converged": bool(res.converged),
            "edtjax_marginal_error_l1": edt_err,
            "peer": f"{versions[label.split('_')[0]]} {what}",
            "load_average_1min": [load_before, load_after],
        }
        if label == "edtjax_log":
            record["peer_cost"] = float(peer_out.transport_cost)
            record["peer_marginal_error_l1"] = _marginal_error(peer_out.plan(), a, a)
        elif label.startswith("pot"):
            if label == "pot_kernel_equal_error":
                record["pot_iterations"] = pot_iterations
            else:
                record["pot_stopThr"] = pot_thr
            record["peer_cost"] = peer_out[0]
            record["peer_marginal_error_l1"] = _marginal_error(peer_out[1], a, a)
        if "peer_cost" in record:
            record["relative_cost_difference"] = abs(edt_cost - record["peer_cost"]) / abs(
                record["peer_cost"]
            )
        records.append(record)
    return records


def bench_fallback(n, d, tol, repeat, scale):
    """The cost of a failed kernel-domain attempt: ``domain="auto"`` vs ``"log"`` in float32 with
    epsilon at ``scale`` times the mean cost, where the kernel domain cannot hold the scalings."""
    rng = np.random.default_rng(d)
    x = jnp.asarray(rng.standard_normal((n, d)), jnp.float32)
    y = jnp.asarray(rng.standard_normal((n, d)) * 1.2 + 0.3, jnp.float32)
    sample = np.asarray(x[:512], np.float64), np.asarray(y[:512], np.float64)
    eps = scale * float(np.mean(ot.dist(*sample)))

    def run(domain):
        kw = dict(epsilon=eps, threshold=tol, max_iterations=10_000, domain=domain)
        return lambda: jax.block_until_ready(entropic_ot(x, y, **kw))

    load_before = os.getloadavg()[0]
    times, outs = _interleaved({"auto": run("auto"), "log": run("log")}, repeat)
    load_after = os.getloadavg()[0]
    same = all(
        np.array_equal(np.asarray(getattr(outs["auto"], k)), np.asarray(getattr(outs["log"], k)))
        for k in ("f", "g", "transport_cost")
    )
    return {
        "name": f"sinkhorn_fallback_n{n}_d{d}_float32_vs_edtjax_log",
        "edtjax_s": times["auto"],
        "peer_s": times["log"],
        "ratio": times["log"] / times["auto"],
        "overhead": times["auto"] / times["log"] - 1.0,
        "n": n,
        "d": d,
        "epsilon": eps,
        "epsilon_scale": scale,
        "tolerance": tol,
        "auto_returned_the_log_result": same,
        "converged": bool(outs["auto"].converged),
        "peer": "entropic_ot(domain='log')",
        "load_average_1min": [load_before, load_after],
    }


def bench_ranks(n, d, repeat):
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((n, d)) @ np.array([[1.0, 0.5], [0.0, 0.7]]))

    exact_s, exact = _best_of(lambda: center_outward_ranks(x), repeat)

    def run_entropic():
        fit = center_outward_fit(x, threshold=1e-4, max_iterations=20_000)
        return jax.block_until_ready(center_outward_distribution(fit, x))

    run_entropic()  # compile
    ent_s, smooth = _best_of(run_entropic, repeat)
    err = np.linalg.norm(np.asarray(smooth) - np.asarray(exact.distribution), axis=1)
    step = 1.0 / (exact.grid.n_radii + 1)
    return {
        "name": f"center_outward_ranks_n{n}_d{d}",
        "edtjax_s": ent_s,
        "peer_s": exact_s,
        "ratio": exact_s / ent_s,
        "n": n,
        "d": d,
        "edtjax": "entropic map (ott-jax Sinkhorn), default epsilon, tol 1e-4",
        "peer": "exact assignment, scipy.optimize.linear_sum_assignment",
        "mean_rank_error": float(err.mean()),
        "mean_rank_error_in_grid_steps": float(err.mean() / step),
        "max_rank_error": float(err.max()),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--dims", type=int, nargs="*", default=[2, 10])
    parser.add_argument("--tol", type=float, default=1e-4)
    parser.add_argument("--rank-sizes", type=int, nargs="*", default=[500, 1000, 2000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--fallback-scale", type=float, nargs="*", default=[0.01])
    args = parser.parse_args()
    meta = {
        "jax": jax.__version__,
        "ott": ott.__version__,
        "pot": ot.__version__,
        "machine": f"{platform.machine()} CPU, {jax.device_count()} device(s)",
    }
    for d in args.dims:
        for dtype in (jnp.float64, jnp.float32):
            for record in bench_sinkhorn(args.n, d, args.tol, args.repeat, dtype):
                print(json.dumps({**record, **meta}), flush=True)
    for scale in args.fallback_scale:
        record = bench_fallback(args.n, 2, args.tol, args.repeat, scale)
        print(json.dumps({**record, **meta}), flush=True)
    for n in args.rank_sizes:
        print(json.dumps({**bench_ranks(n, 2, args.repeat), **meta}), flush=True)


if __name__ == "__main__":
    main()
