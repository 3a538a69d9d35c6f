"""Benchmark: the guarded hybrid (learnt time step, exact step as fallback) against the
thermodiffusion solver alone, and refinement by fallback runs against random runs.

Four parts, each printing JSON lines ``{"name", ...}``; timed parts carry ``edtjax_s`` (the
hybrid), ``peer_s`` (the solver alone, the same time loop with the exact step) and ``ratio =
peer_s / edtjax_s`` (above 1: the hybrid is faster), both the best of ``--repeat`` runs timed
alternately (so that both see the same load), compiled outside the timing.

1. ``hybrid_trajectories``: ``--train`` solver trajectories (Sobol' design over
   ``DEFAULT_INPUT_BOX``) give the step pairs of :func:`edtjax.hybrid.fit_pellet_step`; the
   steps of ``--calibration`` further trajectories calibrate a Mahalanobis indicator on the
   network's standardised inputs (:func:`edtjax.hybrid.calibrate_guard`). ``--test``
   trajectories are run by the hybrid and by the solver: error in centre temperature and centre
   stoichiometry along time (per trajectory the maximum over time, then the mean with a 95%
   interval over trajectories), share of steps that fell back, wall time for one trajectory
   (best of ``--repeat-one``) and for a batch of ``--test``; at each ``--alphas`` level with
   ``fallback_batch`` 1 and ``--fallback-batch``, and at level 0.05 with interval tolerances set
   to the ``--width-quantiles`` quantiles of the calibration steps' interval widths.
2. ``surrogate_only``: the same with the unguarded network at every step (what the guard buys).
3. ``step_fallback_vs_alpha``: fallback share of the guard on exact steps of the test
   trajectories (in-domain, the guarantee's setting), and along the hybrid's own trajectories,
   against ``alpha``; a 95% interval from the spread between trajectories (steps of one
   trajectory are not independent).
4. ``refinement``: final centre temperature and stoichiometry as functions of the six inputs,
   deployed on a law whose heat source reaches ``--shift`` box widths beyond the box;
   :func:`edtjax.hybrid.refine` with fallback runs against the same numbers of random runs
   from the same batches; learning curves of fallback rate and errors against simulator calls,
   for ``--refine-seeds`` seeds (designs, deployment batches, test sets, training), with the
   mean and a 95% interval over seeds per round.

    python benchmarks/hybrid.py --out benchmarks/results/hybrid-cpu.json --force
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import os
import platform
import sys

import jax
import jax.numpy as jnp
import numpy as np
from _common import best_of

from edtjax._io import check_writable, save_json
from edtjax.hybrid import (
    calibrate_guard,
    fit_pellet_step,
    guarded,
    pellet_rollout,
    pellet_step,
    pellet_step_pairs,
    refine,
)
from edtjax.reliability import feature_space_indicator, mahalanobis_indicator
from edtjax.simulators import (
    DEFAULT_INPUT_BOX,
    PelletInputs,
    SolverConfig,
    default_pellet_inputs,
    design_to_inputs,
    simulate_pellet_batch,
    sobol_design,
)
from edtjax.surrogates import Predictive, ensemble_predictive, fit_ensemble, mlp

NAMES = tuple(DEFAULT_INPUT_BOX)


def _paired(ours, peer, repeats):
    """Best wall times of ``ours`` and ``peer`` timed alternately (both see the same load)."""
    best = [float("inf"), float("inf")]
    for _ in range(repeats):
        for i, fn in enumerate((ours, peer)):
            best[i] = min(best[i], best_of(fn, 1)[0])
    return best


def _inputs(key, n, box=DEFAULT_INPUT_BOX):
    design, names = sobol_design(key, box, n)
    p = design_to_inputs(design, names)
    return PelletInputs(*(jnp.asarray(v, jnp.float32) for v in p)), design


def _subset(p, rows):
    return PelletInputs(*(v[rows] for v in p))


def _interval(values):
    v = np.asarray(values, np.float64)
    se = v.std(ddof=1) / np.sqrt(v.size) if v.size > 1 else np.nan
    return {
        "mean": float(v.mean()),
        "ci95": [float(v.mean() - 1.96 * se), float(v.mean() + 1.96 * se)],
    }


def _errors(hy, ex):
    e_t = np.max(np.abs(np.asarray(hy.centre_temperature) - np.asarray(ex.centre_temperature)), 1)
    e_x = np.max(np.abs(np.asarray(hy.centre_x) - np.asarray(ex.centre_x)), 1)
    rel_x = e_x / np.max(np.abs(np.asarray(ex.centre_x)), 1)
    return {
        "max_over_time_abs_error_centre_T_K": _interval(e_t),
        "max_over_time_abs_error_centre_x": _interval(e_x),
        "max_over_time_rel_error_centre_x": _interval(rel_x),
        "worst_trajectory_error_centre_T_K": float(e_t.max()),
        "final_abs_error_centre_T_K": _interval(
            np.abs(np.asarray(hy.centre_temperature[:, -1] - ex.centre_temperature[:, -1]))
        ),
    }


def trajectories(args, records):
    cfg = SolverConfig(n_cells=args.cells, n_steps=args.steps)
    exact = functools.partial(pellet_step, config=cfg)
    k_train, k_cal, k_test, k_fit = jax.random.split(jax.random.key(args.seed), 4)
    p_train, _ = _inputs(k_train, args.train)
    p_cal, _ = _inputs(k_cal, args.calibration)
    p_test, _ = _inputs(k_test, args.test)
    f_train, y_train = pellet_step_pairs(pellet_rollout(exact, p_train, cfg), p_train)
    f_cal, y_cal = pellet_step_pairs(pellet_rollout(exact, p_cal, cfg), p_cal)
    model = fit_pellet_step(
        k_fit, f_train, y_train, hidden=(64, 64), members=args.members, epochs=args.epochs
    )
    indicator = feature_space_indicator(mahalanobis_indicator(shrinkage=1e-3), model.encode)
    state = indicator.fit(None, f_train)
    calibration = calibrate_guard(model.predict, indicator, state, f_cal, y_cal)
    one = _subset(p_test, slice(0, 1))

    def run(step, p):
        return pellet_rollout(step, p, cfg)

    reference = run(exact, p_test)
    run(exact, one)  # compile outside the timing

    def peer_batch():
        return run(exact, p_test).centre_x

    def peer_one():
        return run(exact, one).centre_x

    def unguarded(f):
        return model.predict(f).mean

    run(unguarded, p_test)
    only = run(unguarded, p_test)
    only_s, peer_batch_s = _paired(lambda: run(unguarded, p_test).centre_x, peer_batch, args.repeat)
    finite = np.isfinite(np.asarray(only.centre_temperature)).all(1)
    rec = {
        "name": "surrogate_only",
        "edtjax_s": round(only_s, 5),
        "peer_s": round(peer_batch_s, 5),
        "ratio": round(peer_batch_s / only_s, 3),
        "batch": args.test,
        "finite_trajectories": int(finite.sum()),
        **_errors(_subset_traj(only, finite), _subset_traj(reference, finite)),
    }
    print(json.dumps(rec), flush=True)
    records.append(rec)

    # interval tolerances: quantiles of the calibration steps' interval widths, per output
    cal_widths = np.asarray(
        guarded(model.predict, exact, calibration, alpha=0.05)(f_cal).interval_width
    )
    settings = [(a, b, None) for a in args.alphas for b in (1, args.fallback_batch)]
    settings += [(0.05, args.fallback_batch, q) for q in args.width_quantiles]
    for alpha, batch, width_q in settings:
        tol = None if width_q is None else np.quantile(cal_widths, width_q, axis=0)
        step = guarded(
            model.predict,
            exact,
            calibration,
            alpha=alpha,
            fallback_batch=batch,
            max_interval_width=tol,
        )
        hybrid = run(step, p_test)
        hy_s, peer_batch_s = _paired(
            lambda step=step: run(step, p_test).centre_x, peer_batch, args.repeat
        )
        hy_one = run(step, one)
        hy_one_s, peer_one_s = _paired(
            lambda step=step: run(step, one).centre_x, peer_one, args.repeat_one
        )
        fell = 1.0 - np.asarray(hybrid.used_surrogate, np.float64)
        rec = {
            "name": "hybrid_trajectories",
            "alpha": alpha,
            "fallback_batch": batch,
            "interval_tolerance": None
            if width_q is None
            else f"quantile {width_q} of the calibration steps' interval widths, per output",
            "edtjax_s": round(hy_s, 5),
            "peer_s": round(peer_batch_s, 5),
            "ratio": round(peer_batch_s / hy_s, 3),
            "batch": args.test,
            "one_trajectory_edtjax_s": round(hy_one_s, 5),
            "one_trajectory_peer_s": round(peer_one_s, 5),
            "one_trajectory_ratio": round(peer_one_s / hy_one_s, 3),
            "fallback_share_of_steps": _interval(fell.mean(1)),
            "steps_with_any_fallback_in_batch": float(np.mean(fell.max(0))),
            "one_trajectory_fallback_share": float(1 - np.mean(hy_one.used_surrogate)),
            **_errors(hybrid, reference),
        }
        print(json.dumps(rec), flush=True)
        records.append(rec)

    # in-domain fallback share on exact steps of the test trajectories, and along the hybrid's
    f_test, _ = pellet_step_pairs(reference, p_test)
    n_cal = int(calibration.scores.shape[0])
    for alpha in sorted(set(args.alphas) | {0.01, 0.2}):
        if n_cal < 1 / alpha - 1:
            continue
        step = guarded(model.predict, exact, calibration, alpha=alpha, fallback_batch=64)
        rejected = np.asarray(step(f_test).indicator_rejected).reshape(args.test, args.steps)
        along = 1.0 - np.asarray(run(step, p_test).used_surrogate, np.float64)
        rec = {
            "name": "step_fallback_vs_alpha",
            "alpha": alpha,
            "indicator_rejection_on_exact_steps": _interval(rejected.mean(1)),
            "fallback_share_along_hybrid_trajectories": _interval(along.mean(1)),
            "calibration_steps": int(f_cal.shape[0]),
        }
        print(json.dumps(rec), flush=True)
        records.append(rec)


def _subset_traj(traj, rows):
    return traj._replace(
        centre_temperature=traj.centre_temperature[rows], centre_x=traj.centre_x[rows]
    )


def _final_state_simulator(cfg):
    base = default_pellet_inputs(jnp.float32)

    def simulate(x):
        x = jnp.asarray(x, jnp.float32)
        cols = {name: x[:, j] for j, name in enumerate(NAMES)}
        p = PelletInputs(*(cols.get(f, jnp.full(x.shape[0], v)) for f, v in base._asdict().items()))
        res = simulate_pellet_batch(p, cfg, check_convergence=False)
        return jnp.stack([res.centre_temperature[:, -1], res.centre_x[:, -1]], axis=1)

    return simulate


def refinement(args, records):
    simulate = _final_state_simulator(SolverConfig(n_cells=8, n_steps=40))
    curves = {"fallback": [], "random": []}
    for seed in range(args.refine_seeds):
        for name, res in _refine_once(args, seed, simulate).items():
            curves[name].append(res)
            rec = {
                "name": "refinement",
                "selection": name,
                "seed": seed,
                "alpha": args.refine_alpha,
                "shift_box_widths": args.shift,
                "simulator_calls": res.simulator_calls.tolist(),
                "added": res.added.tolist(),
                "test_fallback_rate": [round(float(v), 4) for v in res.fallback_rate],
                "test_surrogate_rmse_centre_T_K": [
                    round(float(v), 3) for v in res.surrogate_rmse[:, 0]
                ],
                "test_surrogate_rmse_centre_x": [float(v) for v in res.surrogate_rmse[:, 1]],
                "test_hybrid_rmse_centre_T_K": [round(float(v), 3) for v in res.hybrid_rmse[:, 0]],
                "test_inputs": args.refine_test,
            }
            print(json.dumps(rec), flush=True)
            records.append(rec)
    for name, runs in curves.items():
        columns = {
            "test_fallback_rate": [r.fallback_rate for r in runs],
            "test_surrogate_rmse_centre_T_K": [r.surrogate_rmse[:, 0] for r in runs],
            "test_surrogate_rmse_centre_x": [r.surrogate_rmse[:, 1] for r in runs],
        }
        rec = {
            "name": "refinement_summary",
            "selection": name,
            "seeds": args.refine_seeds,
            "simulator_calls_mean": np.mean([r.simulator_calls for r in runs], 0).tolist(),
            **{
                key: [_interval(col) for col in np.asarray(values).T]
                for key, values in columns.items()
            },
        }
        print(json.dumps(rec), flush=True)
        records.append(rec)


def _refine_once(args, seed, simulate):
    lo = np.array([DEFAULT_INPUT_BOX[k][0] for k in NAMES])
    hi = np.array([DEFAULT_INPUT_BOX[k][1] for k in NAMES])
    k_train, k_pool, k_test, k_ref = jax.random.split(jax.random.key(args.seed + 1 + seed), 4)
    x0, _ = sobol_design(k_train, DEFAULT_INPUT_BOX, args.refine_initial)
    wide = dict(DEFAULT_INPUT_BOX)
    q_lo, q_hi = DEFAULT_INPUT_BOX["heat_source"]
    wide["heat_source"] = (q_lo, q_hi + args.shift * (q_hi - q_lo))
    pool, _ = sobol_design(k_pool, wide, args.refine_rounds * args.refine_batch)
    pool = pool[np.asarray(jax.random.permutation(k_pool, pool.shape[0]))]
    x_test, _ = sobol_design(k_test, wide, args.refine_test)
    y0, y_test = np.asarray(simulate(x0)), np.asarray(simulate(x_test))
    net = mlp((32, 32), 2)
    indicator = mahalanobis_indicator()

    def fit(key, x, y):
        scale_x = (x - lo) / (hi - lo)
        y_mean, y_sd = y.mean(0), y.std(0)
        fit_rows, cal_rows = np.arange(x.shape[0]) % 4 != 0, np.arange(x.shape[0]) % 4 == 0
        res = fit_ensemble(
            key,
            net,
            scale_x[fit_rows],
            (y[fit_rows] - y_mean) / y_sd,
            4,
            loss="mse",
            epochs=args.refine_epochs,
            batch_size=32,
            learning_rate=3e-3,
        )

        def surrogate(z):
            pred = ensemble_predictive(net, res.params, (z - lo) / (hi - lo))
            return Predictive(mean=y_mean + y_sd * pred.mean, variance=pred.variance * y_sd**2)

        state = indicator.fit(None, jnp.asarray(x[fit_rows], jnp.float32))
        return surrogate, calibrate_guard(
            surrogate, indicator, state, jnp.asarray(x[cal_rows], jnp.float32), y[cal_rows]
        )

    pools = pool.reshape(args.refine_rounds, args.refine_batch, -1)
    out = {}
    out["fallback"] = refine(
        k_ref, fit, simulate, x0, y0, pools, x_test, y_test, alpha=args.refine_alpha
    )
    out["random"] = refine(
        k_ref,
        fit,
        simulate,
        x0,
        y0,
        pools,
        x_test,
        y_test,
        alpha=args.refine_alpha,
        selection="random",
        n_added=out["fallback"].added,
    )
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=32)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--train", type=int, default=160, help="training trajectories")
    parser.add_argument("--calibration", type=int, default=40, help="calibration trajectories")
    parser.add_argument("--test", type=int, default=64, help="test trajectories")
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.05, 0.1])
    parser.add_argument("--fallback-batch", type=int, default=8)
    parser.add_argument("--refine-initial", type=int, default=128)
    parser.add_argument("--refine-rounds", type=int, default=4)
    parser.add_argument("--refine-batch", type=int, default=64)
    parser.add_argument("--refine-test", type=int, default=256)
    parser.add_argument("--refine-epochs", type=int, default=300)
    parser.add_argument("--refine-alpha", type=float, default=0.1)
    parser.add_argument("--shift", type=float, default=0.5, help="heat-source box widths")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=5, help="best of, batch timings")
    parser.add_argument("--repeat-one", type=int, default=20, help="best of, one trajectory")
    parser.add_argument("--width-quantiles", type=float, nargs="*", default=[0.5, 0.8])
    parser.add_argument("--refine-seeds", type=int, default=3)
    parser.add_argument("--skip", nargs="*", default=[], choices=["trajectories", "refinement"])
    parser.add_argument("--out", default=None, help="write all records and versions as JSON")
    parser.add_argument("--force", action="store_true", help="overwrite --out")
    parser.add_argument("--note", default="", help="free text stored with --out")
    args = parser.parse_args()
    out = check_writable(args.out, force=args.force) if args.out else None
    records = []
    if "trajectories" not in args.skip:
        trajectories(args, records)
    if "refinement" not in args.skip:
        refinement(args, records)
    if out is not None:
        save_json(
            out,
            {
                "benchmark": "hybrid",
                "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                "machine": f"{platform.machine()} CPU, {os.cpu_count()} cores",
                "device": str(jax.devices()[0]),
                "note": args.note,
                "command": " ".join(sys.argv),
                "ratio": "peer_s / edtjax_s: solver alone over hybrid (above 1: hybrid faster)",
                "versions": {
                    "python": platform.python_version(),
                    "jax": jax.__version__,
                    "numpy": np.__version__,
                },
                "records": records,
            },
        )


if __name__ == "__main__":
    main()
