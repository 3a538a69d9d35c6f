"""Benchmark: batched, jitted thermodiffusion simulations vs a NumPy/SciPy reference.

The reference implements the same scheme as :mod:`edtjax.simulators.thermodiffusion` (cell-
centred finite volumes, Scharfetter-Gummel oxygen fluxes, backward Euler on geometric steps,
Picard iterations) with NumPy arrays, ``scipy.linalg.solve_banded`` and a Python time loop, one
simulation after the other. Both run in this process; edtjax is compiled before timing.

Prints one JSON line per configuration:
``{"name", "edtjax_s", "peer_s", "ratio", "batch", "n_cells", "n_steps", "sims_per_s_edtjax",
"sims_per_s_peer", "max_abs_diff_centre_T"}``. The peer is timed on ``--peer-sims`` simulations
and scaled to the batch size (its cost is linear in the number of simulations).

Usage: ``python benchmarks/thermodiffusion.py [--batch 256] [--peer-sims 16]``.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from scipy.linalg import solve_banded

GAS_CONSTANT = 8.314462618


def conductivity(t, x):
    lam0 = 1.0 / (3.24e-2 + 2.51e-4 * t)
    th2 = 3.67**2 * np.exp(-2 * 4.73e-4 * t) * 2.0 * x * lam0
    th = np.sqrt(np.maximum(th2, 1e-300))
    ratio = np.where(th2 < 1e-6, 1.0 - th2 / 3.0 + th2**2 / 5.0, np.arctan(th) / th)
    return lam0 * ratio + 5.95e-11 * t**3


def heat_capacity(t, x):
    cp = (
        52.174
        + 45.806 * x
        + (87.951e-3 - 7.3461e-2 * x) * t
        + (1.0 - x) * (-84.241e-6 * t**2 + 31.542e-9 * t**3 - 2.6334e-12 * t**4)
        + (-713910.0 - 295090.0 * x) / t**2
    )
    return 10960.0 * cp / (270.03e-3 + 16.00e-3 * x)


def diffusivity(t, x):
    return 10.0 ** (-9.386 - 4.26e3 / t + 1.2e-3 * t * x + 7.5e-4 * t * np.log10((2.0 + x) / x))


def heat_of_transport(t, x):
    return -1380.8 - 134435.5 * np.exp(-x / 0.0261) + 0.0 * t


def factor(x):
    return (2.0 + x) / (2.0 * (1.0 - 3.0 * x) * (1.0 - 2.0 * x))


def bernoulli(z):
    small = np.abs(z) < 1e-4
    safe = np.where(small, 1.0, z)
    return np.where(small, 1.0 - z / 2.0 + z**2 / 12.0, safe / np.expm1(safe))


def time_grid(n_steps, end_time, growth):
    if growth == 1.0:
        steps = np.full(n_steps, end_time / n_steps)
    else:
        steps = end_time * (growth - 1.0) / (growth**n_steps - 1.0) * growth ** np.arange(n_steps)
    return np.concatenate([[0.0], np.cumsum(steps)])


def _banded(lower, diag, upper):
    ab = np.zeros((3, diag.size))
    ab[0, 1:] = upper[:-1]
    ab[1] = diag
    ab[2, :-1] = lower[1:]
    return ab


def reference_simulate(
    q, ts, x0, radius, k_mult, d_mult, *, n_cells, n_steps, end_time, growth, tol, max_picard
):
    """NumPy/SciPy reference of the zero-flux scheme; returns (times, centre_T, centre_x)."""
    n = n_cells
    h = radius / n
    idx = np.arange(n)
    r_c = (idx + 0.5) * h
    r_f = (idx + 1.0) * h
    vol = r_c * h
    times = time_grid(n_steps, end_time, growth)
    temp = np.full(n, ts)
    x = np.full(n, x0)
    ct, cx = [(9 * temp[0] - temp[1]) / 8], [(9 * x[0] - x[1]) / 8]
    for dt in np.diff(times):
        t_old, x_old = temp, x
        t_it, x_it = temp, x
        for _ in range(max_picard):
            k = k_mult * conductivity(t_it, x_it)
            k_s = k_mult * conductivity(ts, x_it[-1])
            g = r_f[:-1] * 0.5 * (k[:-1] + k[1:]) / h
            g_b = r_f[-1] * 0.5 * (k[-1] + k_s) / (0.5 * h)
            cap = heat_capacity(t_it, x_it) * vol / dt
            gl = np.concatenate([[0.0], g])
            gr = np.concatenate([g, [g_b]])
            rhs = cap * t_old + q * vol
            rhs[-1] += g_b * ts
            t_new = solve_banded(
                (1, 1), _banded(-gl, cap + gl + gr, -np.concatenate([g, [0.0]])), rhs
            )
            ta, tb, xa, xb = t_new[:-1], t_new[1:], x_it[:-1], x_it[1:]
            tf, xf = 0.5 * (ta + tb), 0.5 * (xa + xb)
            a = r_f[:-1] * d_mult * diffusivity(tf, xf) / h
            v = heat_of_transport(tf, xf) / (factor(xf) * GAS_CONSTANT * ta * tb) * (tb - ta)
            bp, bm = bernoulli(v), bernoulli(-v)
            capx = vol / dt
            diag = capx + np.concatenate([a * bp, [0.0]]) + np.concatenate([[0.0], a * bm])
            lower = -np.concatenate([[0.0], a * bp])
            upper = -np.concatenate([a * bm, [0.0]])
            x_new = solve_banded((1, 1), _banded(lower, diag, upper), capx * x_old)
            err = max(np.max(np.abs(t_new - t_it) / t_new), np.max(np.abs(x_new - x_it) / x_new))
            t_it, x_it = t_new, x_new
            if err <= tol:
                break
        else:
            raise RuntimeError("reference Picard iteration did not converge")
        temp, x = t_it, x_it
        ct.append((9 * temp[0] - temp[1]) / 8)
        cx.append((9 * x[0] - x[1]) / 8)
    return times, np.array(ct), np.array(cx)


def _run(batch, n_cells, n_steps, peer_sims, seed=0):
    import jax
    import jax.numpy as jnp

    from edtjax.simulators import (
        DEFAULT_INPUT_BOX,
        SolverConfig,
        design_to_inputs,
        simulate_pellet_batch,
        sobol_design,
    )

    cfg = SolverConfig(n_cells=n_cells, n_steps=n_steps)
    design, names = sobol_design(jax.random.key(seed), DEFAULT_INPUT_BOX, batch)
    inputs = design_to_inputs(design, names)
    inputs = inputs._replace(
        **{k: jnp.asarray(v, jnp.float64) for k, v in inputs._asdict().items()}
    )
    jax.block_until_ready(simulate_pellet_batch(inputs, cfg))  # compile
    shifted = inputs._replace(heat_source=inputs.heat_source * 0.999)
    t0 = time.perf_counter()
    res = jax.block_until_ready(simulate_pellet_batch(shifted, cfg))
    edtjax_s = time.perf_counter() - t0

    tol = max(cfg.picard_tol, 256 * np.finfo(np.float64).eps)
    t0 = time.perf_counter()
    diffs = []
    for i in range(peer_sims):
        _, ct, _ = reference_simulate(
            *(float(np.asarray(f)[i]) for f in shifted[:6]),
            n_cells=n_cells,
            n_steps=n_steps,
            end_time=cfg.end_time,
            growth=cfg.step_growth,
            tol=tol,
            max_picard=cfg.max_picard,
        )
        diffs.append(abs(ct[-1] - float(res.centre_temperature[i, -1])))
    peer_s = (time.perf_counter() - t0) * batch / peer_sims
    return {
        "name": "thermodiffusion_batch",
        "edtjax_s": edtjax_s,
        "peer_s": peer_s,
        "ratio": peer_s / edtjax_s,
        "batch": batch,
        "n_cells": n_cells,
        "n_steps": n_steps,
        "sims_per_s_edtjax": batch / edtjax_s,
        "sims_per_s_peer": batch / peer_s,
        "peer_sims_timed": peer_sims,
        "max_abs_diff_centre_T": max(diffs),
        "all_converged": bool(np.all(np.asarray(res.converged))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--peer-sims", type=int, default=16)
    parser.add_argument(
        "--sizes",
        default="32x150,16x150,64x150,32x75,32x300",
        help="comma-separated n_cells x n_steps configurations",
    )
    args = parser.parse_args()
    import jax

    jax.config.update("jax_enable_x64", True)
    for size in args.sizes.split(","):
        n_cells, n_steps = (int(v) for v in size.split("x"))
        print(json.dumps(_run(args.batch, n_cells, n_steps, args.peer_sims)), flush=True)


if __name__ == "__main__":
    main()
