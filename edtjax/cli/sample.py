"""``edtjax sample ising|phi4``: sample a lattice field theory, print observables with errors."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

import edtjax
from edtjax.cli._args import (
    UserError,
    check_elements,
    finite_float,
    positive_int,
    prepare_out,
    seed,
)

if TYPE_CHECKING:
    from edtjax.lattice import IsingSample, Phi4Result
    from edtjax.mcmc import GammaResult

_EXAMPLES_SAMPLE = """\
examples:
  edtjax sample ising                               # L=32 at beta_c, Swendsen-Wang
  edtjax sample ising --L 64 --beta 0.4 --algorithm metropolis --sweeps 20000 --chains 8
  edtjax sample phi4 --L 16 --kappa 0.2 --lam 0.5 --algorithm hmc --steps 4000
  edtjax sample ising --out run1                    # traces.npz + metadata.json in run1/
"""


def _add_common_sampling(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--chains", type=positive_int, default=4, help="parallel chains")
    parser.add_argument("--thin", type=positive_int, default=1, help="record every k-th state")
    parser.add_argument(
        "--seed", type=seed, default=0, help="PRNG seed in [0, 2**63 - 2] (default 0)"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="folder for traces.npz and metadata.json (created)"
    )
    parser.add_argument("--force", action="store_true", help="overwrite an existing --out")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register ``edtjax sample ising|phi4`` on the subcommand set ``commands``."""
    sample = commands.add_parser(
        "sample",
        help="sample a lattice field theory and print observables with errors",
        epilog=_EXAMPLES_SAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    models = sample.add_subparsers(dest="model", metavar="MODEL", required=True)

    ising = models.add_parser(
        "ising",
        help="2-D Ising model (periodic L x L, coupling J, field h)",
        epilog=_EXAMPLES_SAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ising.add_argument("--L", type=positive_int, default=32, help="linear size (default 32)")
    ising.add_argument(
        "--beta",
        type=finite_float,
        default=None,
        help="inverse temperature (default: the critical point ln(1+sqrt 2)/2)",
    )
    ising.add_argument("--J", type=finite_float, default=1.0, help="coupling (default 1)")
    ising.add_argument("--h", type=finite_float, default=0.0, help="field (default 0)")
    ising.add_argument(
        "--algorithm",
        default="swendsen_wang",
        choices=["metropolis", "heatbath", "swendsen_wang", "multispin"],
    )
    ising.add_argument(
        "--sweeps", type=positive_int, default=2000, help="sweeps after burn-in (default 2000)"
    )
    ising.add_argument(
        "--burn-in", type=int, default=None, help="discarded sweeps (default sweeps // 10)"
    )
    _add_common_sampling(ising)
    ising.set_defaults(func=_run_sample_ising)

    phi4 = models.add_parser(
        "phi4",
        help="scalar phi^4 theory (hopping parameterisation kappa, lambda)",
        epilog=_EXAMPLES_SAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    phi4.add_argument("--L", type=positive_int, default=16, help="linear size (default 16)")
    phi4.add_argument("--dim", type=positive_int, default=2, help="dimension (default 2)")
    phi4.add_argument("--kappa", type=finite_float, default=0.2, help="hopping parameter")
    phi4.add_argument("--lam", type=finite_float, default=0.5, help="quartic coupling >= 0")
    phi4.add_argument("--algorithm", default="hmc", choices=["hmc", "nuts", "mala", "metropolis"])
    phi4.add_argument(
        "--steps", type=positive_int, default=2000, help="transitions after burn-in (default 2000)"
    )
    phi4.add_argument(
        "--burn-in",
        type=int,
        default=None,
        help="adaptation/burn-in transitions (default min(steps, 1000))",
    )
    _add_common_sampling(phi4)
    phi4.set_defaults(func=_run_sample_phi4)


def _check_sizes(args: argparse.Namespace, dim: int, steps: int, steps_flag: str) -> None:
    """Refuse lattices, traces or step counts over ``MAX_ELEMENTS`` before any work."""
    if dim > 64:
        raise UserError(f"--dim must be <= 64, got {dim}")
    check_elements(
        f"--chains {args.chains} x --L {args.L}^{dim} lattice sites",
        args.chains * args.L**dim,
        "--L or --chains",
    )
    check_elements(
        f"--chains {args.chains} x {steps_flag} {steps} // --thin {args.thin} recorded samples",
        args.chains * (steps // args.thin),
        f"{steps_flag} or --chains, or raise --thin",
    )
    burn_in = args.burn_in if args.burn_in is not None and args.burn_in > 0 else 0
    check_elements(f"{steps_flag} + --burn-in steps", steps + burn_in, steps_flag)


def _summary_rows(summary: dict[str, GammaResult]) -> list[dict[str, float | str]]:
    return [
        {
            "observable": name,
            "mean": float(r.mean),
            "error": float(r.error),
            "tau_int": float(r.tau_int),
            "tau_int_error": float(r.tau_int_error),
        }
        for name, r in summary.items()
    ]


def _print_table(title: str, rows: list[dict[str, float | str]]) -> None:
    print(title)
    print(f"  {'observable':<20} {'mean':>14} {'error':>11} {'tau_int':>9} {'+/-':>7}")
    for row in rows:
        print(
            f"  {row['observable']:<20} {row['mean']:>14.6g} {row['error']:>11.3g} "
            f"{row['tau_int']:>9.3g} {row['tau_int_error']:>7.2g}"
        )
    print("  (errors and tau_int by the Gamma method, Wolff 2004; tau_int in recorded samples)")


def _report(
    args: argparse.Namespace,
    title: str,
    result: IsingSample | Phi4Result,
    model: dict[str, str | float],
) -> int:
    """Print the summary table and, with ``--out``, save traces and metadata."""
    rows = _summary_rows(result.summary)
    _print_table(title, rows)
    if args.out is not None:
        from edtjax._io import save_arrays, save_json

        metadata = {
            **model,
            "algorithm": args.algorithm,
            "num_chains": args.chains,
            "thin": args.thin,
            "burn_in": args.burn_in,
            "seed": args.seed,
            "edtjax_version": edtjax.__version__,
            "summary": rows,
        }
        save_arrays(args.out / "traces.npz", dict(result.traces))
        save_json(args.out / "metadata.json", metadata)
        print(
            f"traces written to {args.out / 'traces.npz'}, metadata to {args.out / 'metadata.json'}"
        )
    return 0


def _run_sample_ising(args: argparse.Namespace) -> int:
    import jax

    from edtjax.lattice import BETA_CRITICAL, sample_ising

    beta = BETA_CRITICAL if args.beta is None else args.beta
    _check_sizes(args, 2, args.sweeps, "--sweeps")
    prepare_out(args.out, args.force)
    result = sample_ising(
        jax.random.key(args.seed),
        args.L,
        beta,
        args.sweeps,
        num_chains=args.chains,
        algorithm=args.algorithm,
        thin=args.thin,
        burn_in=args.burn_in,
        J=args.J,
        h=args.h,
        progress=not args.no_progress,
    )
    title = (
        f"Ising L={args.L} beta={beta:.6g} J={args.J:g} h={args.h:g} {args.algorithm}: "
        f"{args.chains} chains x {args.sweeps} sweeps"
    )
    model = {
        "model": "ising",
        "L": args.L,
        "beta": beta,
        "J": args.J,
        "h": args.h,
        "num_sweeps": args.sweeps,
    }
    code = _report(args, title, result, model)
    _compare_with_kaufman(args.L, beta, args.J, args.h, result.summary)
    return code


def _compare_with_kaufman(L: int, beta: float, J: float, h: float, summary: dict) -> None:
    """Print the exact finite-lattice energy and specific heat next to the estimates."""
    if h != 0.0 or J <= 0.0 or L % 2:
        return
    import jax

    from edtjax.lattice import ising_exact

    with jax.enable_x64(True):  # Kaufman's partition function needs float64; scoped, not global
        exact = ising_exact(L, beta, J=J)
    print(f"exact (Kaufman, L={L}):")
    for name in ("energy", "specific_heat"):
        estimate, error = float(summary[name].mean), float(summary[name].error)
        value = float(getattr(exact, name))
        print(
            f"  {name:<20} {value:>14.6g}   estimate - exact = {(estimate - value) / error:+.2f}"
            " standard errors"
        )


def _run_sample_phi4(args: argparse.Namespace) -> int:
    import jax

    from edtjax.lattice import HoppingCouplings, sample_phi4

    _check_sizes(args, args.dim, args.steps, "--steps")
    prepare_out(args.out, args.force)
    result = sample_phi4(
        jax.random.key(args.seed),
        (args.L,) * args.dim,
        HoppingCouplings(kappa=args.kappa, lam=args.lam),
        args.steps,
        num_chains=args.chains,
        algorithm=args.algorithm,
        burn_in=args.burn_in,
        thin=args.thin,
        progress=not args.no_progress,
    )
    title = (
        f"phi^4 {args.dim}-d L={args.L} kappa={args.kappa:g} lambda={args.lam:g} "
        f"{args.algorithm}: {args.chains} chains x {args.steps} steps"
    )
    model = {
        "model": "phi4",
        "L": args.L,
        "dim": args.dim,
        "kappa": args.kappa,
        "lam": args.lam,
        "num_steps": args.steps,
    }
    return _report(args, title, result, model)
