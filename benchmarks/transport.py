"""Benchmark: edtjax entropic OT (ott-jax) vs POT log-domain Sinkhorn; exact vs entropic F+- ranks.

Run from the repository root:  python benchmarks/transport.py [--n 4096] [--rank-n 2000]

Prints one JSON line per configuration. Compilation happens outside the timed region; every
timed call ends with ``block_until_ready``. POT works on a dense cost matrix, whose construction
(``ot.dist``) is timed with it (ott-jax recomputes costs on the fly from the point clouds).
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


def bench_sinkhorn(n, d, tol, repeat, dtype):
    rng = np.random.default_rng(d)
    x = rng.standard_normal((n, d))
    y = rng.standard_normal((n, d)) * 1.2 + 0.3
    a = np.full(n, 1.0 / n)
    # epsilon: 5% of the mean cost, the same for both libraries
    eps = 0.05 * float(np.mean(ot.dist(x[:512], y[:512])))
    xj, yj = jnp.asarray(x, dtype=dtype), jnp.asarray(y, dtype=dtype)
    max_it = 10_000

    def run_edtjax():
        res = entropic_ot(xj, yj, epsilon=eps, threshold=tol, max_iterations=max_it)
        return jax.block_until_ready(res)

    run_edtjax()  # compile
    edt_s, res = _best_of(run_edtjax, repeat)

    def run_pot():
        M = ot.dist(x, y)
        plan = ot.sinkhorn(a, a, M, eps, method="sinkhorn_log", stopThr=tol, numItermax=max_it)
        return float(np.sum(plan * M))

    peer_s, pot_cost = _best_of(run_pot, 1)
    return {
        "name": f"sinkhorn_n{n}_d{d}_{jnp.dtype(dtype).name}",
        "edtjax_s": edt_s,
        "peer_s": peer_s,
        "ratio": peer_s / edt_s,
        "n": n,
        "d": d,
        "epsilon": eps,
        "tolerance": tol,
        "edtjax_cost": float(res.transport_cost),
        "peer_cost": pot_cost,
        "relative_cost_difference": abs(float(res.transport_cost) - pot_cost) / pot_cost,
        "edtjax_converged": bool(res.converged),
        "peer": f"POT {ot.__version__} ot.sinkhorn(method='sinkhorn_log') incl. ot.dist",
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
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 10])
    parser.add_argument("--tol", type=float, default=1e-4)
    parser.add_argument("--rank-sizes", type=int, nargs="+", default=[500, 1000, 2000])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    meta = {
        "jax": jax.__version__,
        "ott": ott.__version__,
        "pot": ot.__version__,
        "machine": f"{platform.machine()} CPU, {jax.device_count()} device(s)",
    }
    for d in args.dims:
        for dtype in (jnp.float64, jnp.float32):
            print(json.dumps({**bench_sinkhorn(args.n, d, args.tol, args.repeat, dtype), **meta}))
    for n in args.rank_sizes:
        print(json.dumps({**bench_ranks(n, 2, args.repeat), **meta}))


if __name__ == "__main__":
    main()
