"""``edtjax audit``: the whole workflow on one data set, written up as a report.

Simulate (or load) labelled runs, train a deep ensemble and a Bayesian surrogate, measure their
calibration and conformal coverage, compare the Sobol' indices of simulator and surrogate,
rank the surrogate's layers by parameter sensitivity, describe the training inputs and the
shift to the new queries by optimal transport, calibrate reliability indicators and judge
in-domain and shifted queries, and predict the bias that the surrogate introduces into a
downstream mean. Without arguments this runs the built-in thermodiffusion case (a fuel pellet
with temperature-dependent conductivity, :mod:`edtjax.audit.thermodiffusion`).

The output folder receives ``report.html`` (self-contained, figures embedded),
``report.json`` (every number and the four verdicts with their level), ``queries.csv`` and
``queries.json`` (one row per query: prediction, interval, p-values, verdict) and the PNG
figures. It is written all at once when the audit is complete; an existing folder is refused
unless ``--force`` is given, and even then unless it is a report written by ``edtjax audit``
(never a symbolic link or another folder), before any work.

Exit status: 0 when the report is written; 2 for bad arguments or files (one line on stderr);
3 with ``--fail-on LEVEL`` when the report is written and a verdict reaches LEVEL (``caution``
or ``problem``); 130 when interrupted (Ctrl-C), with no report written.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import NoReturn

from edtjax.cli._args import (
    UserError,
    check_input_file,
    check_out_dir,
    column_names,
    plain_doc,
    seed,
)

_EXAMPLES = """\
examples:
  edtjax audit                                  # built-in case, report in ./edtjax-audit
  edtjax audit --quick --out quick-report       # every stage at small sizes (under a minute)
  edtjax audit --data runs.csv --outputs temperature --queries new.csv --out my-report
  edtjax audit --data runs.npz --inputs power,radius --outputs t_centre,t_surface \\
      --config audit.toml --force
  edtjax audit --data runs.csv --outputs y --queries new.csv --predictions pred.csv
  edtjax audit --data runs.csv --outputs y --queries new.csv --surrogate my_model.py:predict

A TOML config overrides any field of the audit configuration (edtjax.audit.AuditConfig):
seed and devices at the top, one table per stage ([case], [split], [surrogate],
[calibration], [sensitivity], [transport], [reliability], [maps], [bias]) and the input
laws in [inputs], e.g.

  preset = "quick"          # start from the quick preset (else the default one)
  devices = 4               # share members, Sobol' rows and queries over 4 devices

  [surrogate]
  members = 8               # ensemble members
  hidden = [64, 64, 64]     # hidden layer widths

  [reliability]
  indicators = ["lens_fermat", "mahalanobis"]

With --data, the rows are the labelled runs (input and output columns side by side, .csv with
a header row, or .npz); --queries holds new inputs to judge (the new simulation context; other
columns are ignored, and when it holds every output column too, the report compares the
surrogate's error among accepted and flagged queries). Each query gets a verdict, inside or
outside the domain of validity, in queries.csv. Each of the four verdicts has a level: ok,
caution or problem.

Your own surrogate instead of the ensemble the audit trains: --predictions FILE gives its
predictive mean and standard deviation (columns <output>_mean, <output>_std; rows: the
labelled runs in the order of --data, then the queries in the order of --queries), from any
framework; the stages that must evaluate it elsewhere (its Sobol' indices under declared laws,
parameter sensitivity, the bias over new inputs) are skipped and the report says so.
--surrogate MODULE:FUNCTION (or FILE.py:FUNCTION) imports a JAX function
predict(x) -> edtjax.surrogates.Predictive of the physical inputs (or an
edtjax.audit.UserSurrogate): this executes that file's code. Every stage but parameter
sensitivity then runs.

exit status:
  0    report written
  2    bad arguments or files: one line on stderr, no report
  3    report written, and --fail-on LEVEL was given and a verdict reached LEVEL
  130  interrupted (Ctrl-C): one line on stderr, no report
"""

#: Exit status when a verdict reaches the ``--fail-on`` level (the report is written).
EXIT_VERDICT = 3

#: Exit status when interrupted (128 + SIGINT, the shell's convention).
EXIT_INTERRUPTED = 130


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register ``edtjax audit`` on the subcommand set ``commands``."""
    parser = commands.add_parser(
        "audit",
        help="the whole workflow (surrogates, UQ, sensitivity, validity) with an HTML report",
        description=plain_doc(__doc__.split("\n\n", 1)[1]),
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick", action="store_true", help="the quick preset: every stage at small sizes"
    )
    parser.add_argument(
        "--config", metavar="FILE", type=Path, default=None, help="TOML file of overrides"
    )
    parser.add_argument(
        "--data", metavar="FILE", type=Path, default=None, help="labelled runs (.csv/.npz)"
    )
    parser.add_argument(
        "--inputs",
        metavar="A,B",
        default=None,
        help="input columns of --data (default: every column not in --outputs)",
    )
    parser.add_argument("--outputs", metavar="Y,Z", default=None, help="output columns of --data")
    parser.add_argument(
        "--queries", metavar="FILE", type=Path, default=None, help="new inputs to judge"
    )
    parser.add_argument(
        "--predictions",
        metavar="FILE",
        type=Path,
        default=None,
        help="audit your surrogate from its predictions (.csv/.npz: columns <output>_mean and "
        "<output>_std, one row per labelled run then one per query)",
    )
    parser.add_argument(
        "--surrogate",
        metavar="MODULE:FUNCTION",
        default=None,
        help="audit your surrogate as a JAX function predict(x) -> Predictive, imported from "
        "a module or a file.py (this runs that file's code)",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        default=Path("edtjax-audit"),
        help="report folder (default ./edtjax-audit)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace an existing report (only a folder written by edtjax audit)",
    )
    parser.add_argument(
        "--seed",
        type=seed,
        default=None,
        help="PRNG seed in [0, 2**63 - 2] (default: the config's, 0)",
    )
    parser.add_argument(
        "--devices",
        metavar="K",
        type=int,
        default=None,
        help="share the independent axes over the first K JAX devices (default: the config's)",
    )
    parser.add_argument(
        "--fail-on",
        choices=("caution", "problem"),
        default=None,
        help=f"exit with status {EXIT_VERDICT} (after writing the report) when any verdict "
        "reaches this level, for CI use",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.set_defaults(func=_run)


def _config(args: argparse.Namespace):
    from edtjax.audit import audit_preset, load_config
    from edtjax.audit.config import config_from_mapping
    from edtjax.audit.pipeline import check_devices

    preset = "quick" if args.quick else "default"
    config = load_config(args.config, preset) if args.config else audit_preset(preset)
    overrides = {"seed": args.seed, "devices": args.devices}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if overrides:  # validated like the TOML keys
        config = config_from_mapping(overrides, config)
    check_devices(config)  # before the simulation, not after it
    return config


def _check_options(args: argparse.Namespace) -> None:
    if args.data is None:
        given = [
            flag
            for flag, value in (
                ("--inputs", args.inputs),
                ("--outputs", args.outputs),
                ("--queries", args.queries),
            )
            if value is not None
        ]
        if given:
            raise UserError(f"{', '.join(given)} need --data")
    elif args.outputs is None:
        raise UserError("--data needs --outputs (the output column names)")
    if args.predictions is not None and args.surrogate is not None:
        raise UserError("--predictions and --surrogate are exclusive: give one surrogate")
    if args.data is None and (args.predictions is not None or args.surrogate is not None):
        raise UserError("--predictions and --surrogate need --data (the labelled runs)")


@contextmanager
def _interrupts():
    """Turn Ctrl-C into ``KeyboardInterrupt`` and remember it, even if something swallows it.

    Yields a list that holds the signal once one arrived: checked before the report is
    written, so an interrupt caught somewhere inside a stage never leads to a report.
    """
    seen: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield seen
        return

    def handler(signum: int, frame: FrameType | None) -> NoReturn:
        seen.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield seen
    finally:
        signal.signal(signal.SIGINT, previous)


def _run(args: argparse.Namespace) -> int:
    written: list[Path] = []
    try:
        with _interrupts() as seen:
            return _audit(args, seen, written)
    except KeyboardInterrupt:
        where = (
            f"the report in {written[0]} is complete"
            if written
            else f"no report written to {args.out}"
        )
        print(f"edtjax: interrupted; {where}", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED


def _audit(args: argparse.Namespace, interrupted: list[int], written: list[Path]) -> int:
    import jax

    from edtjax.audit import (
        format_summary,
        load_predictions,
        load_surrogate,
        load_user_data,
        run_audit,
        thermodiffusion_case,
    )
    from edtjax.report import (
        audit_summary,
        check_report_folder,
        reaches_level,
        write_audit_report,
    )

    _check_options(args)
    for flag, path in (
        ("--config", args.config),
        ("--data", args.data),
        ("--queries", args.queries),
        ("--predictions", args.predictions),
    ):
        check_input_file(flag, path)
    config = _config(args)
    check_out_dir(args.out, args.force)
    # before any work: --force replaces an earlier report only, never another folder or a link
    check_report_folder(args.out, force=args.force)
    progress = not args.no_progress
    if args.data is None:
        data = thermodiffusion_case(jax.random.key(config.seed), config, progress=progress)
    else:
        inputs = column_names("--inputs", args.inputs)
        outputs = column_names("--outputs", args.outputs)
        data = load_user_data(args.data, inputs, outputs, args.queries)
    surrogate = None
    if args.predictions is not None:
        m = 0 if data.queries is None else data.queries.shape[0]
        surrogate = load_predictions(args.predictions, data.output_names, data.x.shape[0], m)
    elif args.surrogate is not None:
        surrogate = load_surrogate(args.surrogate)
    result = run_audit(
        jax.random.key(config.seed + 1), data, config, surrogate=surrogate, progress=progress
    )
    if interrupted:  # an interrupt swallowed inside a stage still stops the command
        raise KeyboardInterrupt
    out = write_audit_report(args.out, result, force=args.force)
    written.append(out)
    print(format_summary(result))
    print()
    verdicts = audit_summary(result)
    width = max(len(v.question) for v in verdicts)
    for verdict in verdicts:
        print(f"[{verdict.level:>7}] {verdict.question:<{width}}  {verdict.answer}")
    print(f"\nreport written to {out / 'report.html'} (numbers in {out / 'report.json'})")
    if args.fail_on is not None:
        failing = reaches_level(verdicts, args.fail_on)
        if failing:
            topics = ", ".join(f"{v.topic} ({v.level})" for v in failing)
            print(
                f"edtjax: verdicts at --fail-on {args.fail_on} or worse: {topics}",
                file=sys.stderr,
            )
            return EXIT_VERDICT
    return 0
