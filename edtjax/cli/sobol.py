"""``edtjax sobol``: Sobol' indices of a built-in model, with intervals and the exact values.

Models: the Ishigami function, the Sobol' G function, the borehole model, Friedman #1 (analytic,
:mod:`edtjax.simulators`) and the thermodiffusion pellet simulator with its inputs uniform over
:data:`edtjax.simulators.DEFAULT_INPUT_BOX`. Indices come from a scrambled Sobol' Saltelli design
of ``N`` base rows (``N (d + 2)`` model runs, ``N (2d + 2)`` with second order): first order of
Janon et al. (2014), total of Jansen (1999), second order of Saltelli (2002), with asymptotic
(delta-method) or bootstrap percentile 95% intervals. Exact indices are shown where they are
known in closed form (Ishigami, G, Friedman #1). Computations run in float64.
"""

from __future__ import annotations

import argparse
import functools
import io
import math
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from edtjax.cli._args import (
    UserError,
    check_elements,
    check_out_dir,
    non_negative_int,
    plain_doc,
    positive_int,
    prepare_out,
    seed,
)

if TYPE_CHECKING:
    import jax

    from edtjax.sensitivity import IndexEstimates, Interval

_MODELS = ("ishigami", "sobol_g", "borehole", "friedman1", "pellet")
_G_COEFFICIENTS = "0,1,4.5,9,99,99,99,99"
_CONFIDENCE = 0.95

_EXAMPLES = """\
examples:
  edtjax sobol                                       # Ishigami, N = 1024, exact values shown
  edtjax sobol --model sobol_g --g-coefficients 0,1,9,99 --samples 4096 --second-order
  edtjax sobol --model borehole --bootstrap 500 --out borehole
  edtjax sobol --model pellet --output centre_x --samples 256 --out pellet
                                                     # 2048 simulator runs, progress bar

--out DIR writes indices.json (every number) and sobol_indices.png (bars with intervals).
"""


class _Analysis(NamedTuple):
    """Indices as NumPy arrays: ``(d,)`` values, standard errors and ``(d, 2)`` intervals."""

    first: np.ndarray
    first_stderr: np.ndarray
    first_ci: np.ndarray
    total: np.ndarray
    total_stderr: np.ndarray
    total_ci: np.ndarray
    second: np.ndarray | None
    second_stderr: np.ndarray | None
    second_ci: np.ndarray | None
    estimates: IndexEstimates


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register ``edtjax sobol`` on the subcommand set ``commands``."""
    from edtjax.simulators.datasets import PELLET_OUTPUT_NAMES

    parser = commands.add_parser(
        "sobol",
        help="Sobol' indices of a built-in model, with intervals and the exact values",
        description=plain_doc(__doc__.split("\n\n", 1)[1]),
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--model", default="ishigami", choices=_MODELS, help="the model (default ishigami)"
    )
    parser.add_argument(
        "--samples",
        metavar="N",
        type=positive_int,
        default=1024,
        help="base sample size N, a power of two >= 2 (default 1024)",
    )
    parser.add_argument(
        "--bootstrap",
        metavar="B",
        type=non_negative_int,
        default=0,
        help="bootstrap resamples for percentile intervals (default 0: delta-method intervals)",
    )
    parser.add_argument("--second-order", action="store_true", help="also second-order indices")
    parser.add_argument(
        "--output",
        default=None,
        choices=PELLET_OUTPUT_NAMES,
        help="pellet model only: the output analysed (default centre_temperature)",
    )
    parser.add_argument(
        "--g-coefficients",
        metavar="A",
        default=None,
        help=f"sobol_g only: comma-separated a_i >= 0 (default {_G_COEFFICIENTS})",
    )
    parser.add_argument(
        "--cells", type=positive_int, default=None, help="pellet only: radial cells (default 32)"
    )
    parser.add_argument(
        "--time-steps",
        type=positive_int,
        default=None,
        help="pellet only: implicit time steps (default 150)",
    )
    parser.add_argument(
        "--batch", type=positive_int, default=None, help="pellet only: runs per batch (default 512)"
    )
    parser.add_argument(
        "--seed", type=seed, default=0, help="PRNG seed in [0, 2**63 - 2] (default 0)"
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        default=None,
        help="folder for indices.json and sobol_indices.png (created)",
    )
    parser.add_argument("--force", action="store_true", help="overwrite an existing --out")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=_run)


def _check_options(args: argparse.Namespace) -> None:
    n = args.samples
    if n < 2 or n & (n - 1):
        raise UserError(f"--samples must be a power of two >= 2 (Sobol' design), got {n}")
    if args.model != "pellet":
        given = [
            flag
            for flag, value in (
                ("--output", args.output),
                ("--cells", args.cells),
                ("--time-steps", args.time_steps),
                ("--batch", args.batch),
            )
            if value is not None
        ]
        if given:
            raise UserError(f"{', '.join(given)} apply to --model pellet only")
    if args.g_coefficients is not None and args.model != "sobol_g":
        raise UserError("--g-coefficients applies to --model sobol_g only")
    d = _dimension(args)
    runs = n * (2 * d + 2 if args.second_order else d + 2)
    check_elements(
        f"--samples {n}: the Saltelli design of {runs:,} runs x {d} inputs", runs * d, "--samples"
    )
    check_elements(f"--bootstrap {args.bootstrap} resamples", args.bootstrap, "--bootstrap")


def _dimension(args: argparse.Namespace) -> int:
    """The number of inputs ``d`` of the chosen model."""
    if args.model == "sobol_g":
        return _g_coefficients(args.g_coefficients or _G_COEFFICIENTS).size
    return {"ishigami": 3, "friedman1": 5, "borehole": 8, "pellet": 6}[args.model]


def _g_coefficients(text: str) -> np.ndarray:
    try:
        a = np.array([float(v) for v in text.split(",")])
    except ValueError as err:
        raise UserError(f"--g-coefficients must be comma-separated numbers, got {text!r}") from err
    if not np.all(np.isfinite(a)) or np.any(a < 0):
        raise UserError(f"--g-coefficients must be finite and >= 0, got {text!r}")
    return a


@functools.cache
def _stacked_model(model: str, coefficients: tuple[float, ...] = ()):
    """``f(list of d scalars) -> scalar`` for :func:`edtjax.sensitivity.sobol_indices`.

    Cached, so that repeated analyses of one model in a process reuse its compiled code.
    """
    import jax.numpy as jnp

    from edtjax import simulators

    if model == "sobol_g":
        a = jnp.asarray(coefficients)
        return lambda v: simulators.sobol_g(jnp.stack(v), a)
    f = {
        "ishigami": simulators.ishigami,
        "friedman1": simulators.friedman1,
        "borehole": simulators.borehole,
    }[model]
    return lambda v: f(jnp.stack(v))


def _analytic_model(args: argparse.Namespace):
    """``(names, factors, model, exact)`` of an analytic model (``exact`` ``None`` if unknown)."""
    import numpyro.distributions as dist

    from edtjax import simulators

    if args.model == "ishigami":
        factors = [dist.Uniform(-math.pi, math.pi) for _ in range(3)]
        exact = simulators.ishigami_indices()
        return ("x1", "x2", "x3"), factors, _stacked_model("ishigami"), exact
    if args.model == "sobol_g":
        a = _g_coefficients(args.g_coefficients or _G_COEFFICIENTS)
        names = tuple(f"x{i + 1}" for i in range(a.size))
        factors = [dist.Uniform(0.0, 1.0) for _ in names]
        model = _stacked_model("sobol_g", tuple(a.tolist()))
        return names, factors, model, simulators.sobol_g_indices(a)
    if args.model == "friedman1":
        names = tuple(f"x{i + 1}" for i in range(5))
        factors = [dist.Uniform(0.0, 1.0) for _ in names]
        return names, factors, _stacked_model("friedman1"), simulators.friedman1_indices(5)
    names = ("rw", "r", "Tu", "Hu", "Tl", "Hl", "L", "Kw")
    return names, simulators.borehole_factors(), _stacked_model("borehole"), None


def _pack(estimates: IndexEstimates, bootstrap: bool) -> _Analysis:
    """NumPy arrays of the indices over factors (a list of scalars or a ``(d,)`` array)."""

    def flat(x: object) -> np.ndarray | None:
        return np.asarray([float(v) for v in np.asarray(x).reshape(-1)]) if x is not None else x

    def interval(ci: Interval) -> np.ndarray:
        return np.stack([flat(ci.low), flat(ci.high)], axis=1)

    first_ci = estimates.first_order_bootstrap if bootstrap else estimates.first_order_interval
    total_ci = estimates.total_order_bootstrap if bootstrap else estimates.total_order_interval
    second_ci = None
    if estimates.second_order is not None:
        ci = estimates.second_order_bootstrap if bootstrap else estimates.second_order_interval
        second_ci = np.stack([np.asarray(ci.low), np.asarray(ci.high)], axis=-1)
    return _Analysis(
        first=flat(estimates.first_order),
        first_stderr=flat(estimates.first_order_stderr),
        first_ci=interval(first_ci),
        total=flat(estimates.total_order),
        total_stderr=flat(estimates.total_order_stderr),
        total_ci=interval(total_ci),
        second=None if estimates.second_order is None else np.asarray(estimates.second_order),
        second_stderr=None
        if estimates.second_order is None
        else np.asarray(estimates.second_order_stderr),
        second_ci=second_ci,
        estimates=estimates,
    )


def _pellet_model(output: str, cells: int, time_steps: int):
    """``(b, 6) -> (b,)``: one pellet output over the inputs of ``DEFAULT_INPUT_BOX``."""
    import jax.numpy as jnp

    from edtjax.simulators import (
        DEFAULT_INPUT_BOX,
        SolverConfig,
        design_to_inputs,
        simulate_pellet_batch,
    )
    from edtjax.simulators.datasets import PELLET_OUTPUT_NAMES

    names = tuple(DEFAULT_INPUT_BOX)
    config = SolverConfig(n_cells=cells, n_steps=time_steps)
    column = PELLET_OUTPUT_NAMES.index(output)

    def model(x: jax.Array) -> jax.Array:
        inputs = design_to_inputs(x, names)
        inputs = type(inputs)(*(jnp.asarray(v, dtype=jnp.float64) for v in inputs))
        try:
            res = simulate_pellet_batch(inputs, config)  # raises on runs that did not converge
        except ValueError as err:
            raise UserError(f"pellet simulator: {err} (--time-steps sets n_steps)") from err
        if column == 0:
            return res.centre_temperature[:, -1]
        if column == 1:
            return res.centre_x[:, -1]
        # as edtjax.simulators.build_pellet_dataset: log10 seconds, at least one time step
        return jnp.log10(jnp.maximum(res.time_to_steady, res.times[:, 1]))

    return names, model


def _print_table(title: str, names, analysis: _Analysis, exact, ci_label: str) -> None:
    w = max(10, *(len(name) for name in names))
    print(title)
    print(
        f"  {'factor':<{w}} {'S1':>8} {ci_label:>19} {'ST':>8} {ci_label:>19}"
        f" {'exact S1':>9} {'exact ST':>9}"
    )
    for i, name in enumerate(names):
        e1 = f"{exact.first_order[i]:9.4f}" if exact is not None else f"{'-':>9}"
        et = f"{exact.total_order[i]:9.4f}" if exact is not None else f"{'-':>9}"
        ci1 = "[{:7.4f}, {:7.4f}]".format(*analysis.first_ci[i])
        cit = "[{:7.4f}, {:7.4f}]".format(*analysis.total_ci[i])
        print(
            f"  {name:<{w}} {analysis.first[i]:8.4f} {ci1:>19} {analysis.total[i]:8.4f} "
            f"{cit:>19} {e1} {et}"
        )
    if exact is not None:
        e1 = np.abs(analysis.first - exact.first_order)
        et = np.abs(analysis.total - exact.total_order)
        z1, zt = np.max(e1 / analysis.first_stderr), np.max(et / analysis.total_stderr)
        print(
            f"  largest |estimate - exact|: S1 {np.max(e1):.4f} ({z1:.1f} standard errors), "
            f"ST {np.max(et):.4f} ({zt:.1f} standard errors)"
        )
    if analysis.second is not None:
        print(f"  second order S_ij {ci_label}" + ("  exact" if exact is not None else ""))
        for i in range(len(names)):
            for j in range(i + 1, len(names)):
                lo, hi = analysis.second_ci[i, j]
                pair = f"{names[i]} x {names[j]}"
                line = f"    {pair:<{2 * w + 3}} {analysis.second[i, j]:8.4f} "
                line += f"[{lo:7.4f}, {hi:7.4f}]"
                if exact is not None:
                    line += f"  {exact.second_order[i, j]:7.4f}"
                print(line)


def _as_lists(x):
    return None if x is None else np.asarray(x, dtype=float).tolist()


def _write_outputs(out: Path, force: bool, record: dict, names, analysis: _Analysis, title: str):
    from edtjax._io import atomic_write_bytes, save_json
    from edtjax.report import plot_sobol_indices
    from edtjax.sensitivity import Interval

    def by_name(values: np.ndarray) -> dict[str, float]:
        return {name: float(v) for name, v in zip(names, values, strict=True)}

    def ci(bounds: np.ndarray) -> Interval:
        return Interval(by_name(bounds[:, 0]), by_name(bounds[:, 1]))

    plotted = analysis.estimates._replace(
        first_order=by_name(analysis.first),
        total_order=by_name(analysis.total),
        first_order_interval=ci(analysis.first_ci),
        total_order_interval=ci(analysis.total_ci),
        first_order_bootstrap=None,
        total_order_bootstrap=None,
    )
    figure = plot_sobol_indices(plotted, title=title)
    png = io.BytesIO()
    figure.savefig(png, format="png", dpi=120)
    prepare_out(out, force)
    try:
        atomic_write_bytes(out / "sobol_indices.png", png.getvalue())
        save_json(out / "indices.json", record)  # last: its presence marks a complete run
    except OSError as err:
        raise UserError(f"cannot write to {out}: {err.strerror or err}") from err
    print(f"indices written to {out / 'indices.json'}, bars to {out / 'sobol_indices.png'}")


def _run(args: argparse.Namespace) -> int:
    import jax

    import edtjax

    _check_options(args)
    check_out_dir(args.out, args.force)
    key = jax.random.key(args.seed)
    bootstrap = args.bootstrap > 0
    with jax.enable_x64(True):  # float64 indices; the pellet solver converges only in float64
        if args.model == "pellet":
            from edtjax.simulators import DEFAULT_INPUT_BOX

            output = args.output or "centre_temperature"
            cells, time_steps = args.cells or 32, args.time_steps or 150
            names, model = _pellet_model(output, cells, time_steps)
            bounds = np.array([DEFAULT_INPUT_BOX[name] for name in names], dtype=np.float64)
            from edtjax.sensitivity import simulator_sobol_indices

            lows, widths = bounds[:, 0], bounds[:, 1] - bounds[:, 0]
            estimates = simulator_sobol_indices(
                key,
                model,
                len(names),
                args.samples,
                to_inputs=lambda u: lows + np.asarray(u) * widths,
                second_order=args.second_order,
                num_bootstrap=args.bootstrap,
                batch_size=args.batch or 512,
                progress=not args.no_progress,
            )
            exact = None
            label = f"pellet ({output})"
        else:
            from edtjax.sensitivity import sobol_indices

            names, factors, model, exact = _analytic_model(args)
            estimates = sobol_indices(
                key,
                model,
                factors,
                args.samples,
                second_order=args.second_order,
                num_bootstrap=args.bootstrap,
                confidence=_CONFIDENCE,
            )
            label = args.model
        analysis = _pack(estimates, bootstrap)
    d = len(names)
    runs = args.samples * (2 * d + 2 if args.second_order else d + 2)
    ci_label = "95% bootstrap CI" if bootstrap else "95% CI"
    title = f"Sobol' indices of {label}: N = {args.samples}, {runs} model runs"
    _print_table(title, names, analysis, exact, ci_label)
    if args.out is not None:
        record = {
            "model": args.model,
            "output": args.output or ("centre_temperature" if args.model == "pellet" else None),
            "factors": list(names),
            "num_samples": args.samples,
            "model_runs": runs,
            "num_bootstrap": args.bootstrap,
            "interval": "bootstrap percentile" if bootstrap else "delta method",
            "confidence": _CONFIDENCE,
            "seed": args.seed,
            "first_order": _as_lists(analysis.first),
            "first_order_stderr": _as_lists(analysis.first_stderr),
            "first_order_ci": _as_lists(analysis.first_ci),
            "total_order": _as_lists(analysis.total),
            "total_order_stderr": _as_lists(analysis.total_stderr),
            "total_order_ci": _as_lists(analysis.total_ci),
            "second_order": _as_lists(analysis.second),
            "second_order_stderr": _as_lists(analysis.second_stderr),
            "second_order_ci": _as_lists(analysis.second_ci),
            "exact": None
            if exact is None
            else {
                "first_order": _as_lists(exact.first_order),
                "total_order": _as_lists(exact.total_order),
                "second_order": _as_lists(exact.second_order),
            },
            "edtjax_version": edtjax.__version__,
        }
        if args.model == "pellet":
            record["solver"] = {"n_cells": cells, "n_steps": time_steps}
        elif args.model == "sobol_g":
            record["g_coefficients"] = _g_coefficients(
                args.g_coefficients or _G_COEFFICIENTS
            ).tolist()
        _write_outputs(args.out, args.force, record, names, analysis, title)
    return 0
