"""Benchmark: edtjax entropic OT vs POT (kernel and log-domain Sinkhorn) and ott-jax called
directly; exact vs entropic F+- ranks.

Run from the repository root:  python benchmarks/transport.py [--n 2000] [--rank-sizes 500 1000]

Prints one JSON line per configuration and peer. Every solver gets the same epsilon (5% of the
mean cost), the same tolerance and the same arrays (same dtype). Compilation happens outside
the timed region; every timed call ends with ``block_until_ready``. POT works on a dense cost
matrix, whose construction (``ot.dist``) is timed with it (ott-jax recomputes costs on the fly
from the point clouds). Peers:

* ``pot_kernel``: ``ot.sinkhorn(method="sinkhorn")``, scalings in the kernel domain (fast,
  underflows for small epsilon), and ``pot_log``: ``method="sinkhorn_log"``; both return the
  plan, whose cost ``<P, M>`` is formed;
* ``ott_solve``: ott-jax's ``linear.solve`` on the same point cloud, log domain, returning the
  potentials (the solve inside ``entropic_ot``, without its centring and transport cost);
* ``ott_solve_primal_cost``: the same solve followed by ott-jax's ``SinkhornOutput.primal_cost``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import jax

jax.config.update("jax_enable_x64", True)  # same precision as POT (float64), for this script only

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import ot  # noqa: E402
import ott  # noqa: E402
from ott.geometry import pointcloud  # noqa: E402
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

    def run_edtjax():
        res = entropic_ot(xj, yj, epsilon=eps, threshold=tol, max_iterations=max_it)
        return jax.block_until_ready(res)

    @jax.jit
    def ott_solve(x, y, a):
        geom = pointcloud.PointCloud(x, y, epsilon=eps)
        return linear.solve(geom, a=a, b=a, threshold=tol, max_iterations=max_it, lse_mode=True)

    def run_ott():
        out = ott_solve(xj, yj, aj)
        return jax.block_until_ready((out.f, out.g, out.converged))

    ott_primal = jax.jit(lambda x, y, a: ott_solve(x, y, a).primal_cost)

    def run_ott_primal():
        return float(jax.block_until_ready(ott_primal(xj, yj, aj)))

    def run_pot(method):
        def run():
            M = ot.dist(x, y)
            plan = ot.sinkhorn(a, a, M, eps, method=method, stopThr=tol, numItermax=max_it)
            return float(np.sum(plan * M))

        return run

    runs = {
        "edtjax": (run_edtjax, None),
        "pot_kernel": (run_pot("sinkhorn"), "ot.sinkhorn(method='sinkhorn') incl. ot.dist"),
        "pot_log": (run_pot("sinkhorn_log"), "ot.sinkhorn(method='sinkhorn_log') incl. ot.dist"),
        "ott_solve": (run_ott, "linear.solve (lse_mode) on PointCloud, potentials only"),
        "ott_solve_primal_cost": (
            run_ott_primal,
            "linear.solve (lse_mode) on PointCloud + SinkhornOutput.primal_cost",
        ),
    }
    times, outs = _interleaved({label: fn for label, (fn, _) in runs.items()}, repeat)
    res = outs["edtjax"]
    edt_s, edt_cost = times["edtjax"], float(res.transport_cost)
    versions = {"pot": f"POT {ot.__version__}", "ott": f"ott-jax {ott.__version__}"}
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
            "peer": f"{versions[label.split('_')[0]]} {what}",
        }
        if label != "ott_solve":  # the solve alone returns potentials, not a cost
            record["peer_cost"] = peer_out
            record["relative_cost_difference"] = abs(edt_cost - peer_out) / abs(peer_out)
        records.append(record)
    return records


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
    for n in args.rank_sizes:
        print(json.dumps({**bench_ranks(n, 2, args.repeat), **meta}), flush=True)


if __name__ == "__main__":
    main()
