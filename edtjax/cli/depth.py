"""``edtjax depth``: judge new inputs against training data with a calibrated depth indicator.

The training rows are split at random into a fitting part and a calibration part. The chosen
indicator (:mod:`edtjax.reliability`) is fitted on the first, calibrated on the second by split
conformal prediction (:func:`edtjax.reliability.calibrate`), and every query gets its score, its
conformal p-value ``p = (1 + #{calibration scores >= s}) / (n_cal + 1)`` and a verdict: ``out``
(flagged as outside the domain of the training data) when ``p <= alpha``. For a query drawn like
the training data the chance of a false ``out`` is at most ``alpha`` (Vovk et al. 2005).
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np

from edtjax.cli._args import (
    UserError,
    check_elements,
    check_input_file,
    column_names,
    finite_float,
    plain_doc,
    positive_int,
    seed,
    unwritable_parent,
)

#: The indicators of :data:`edtjax.reliability.INDICATORS` that read the inputs alone (listed
#: here so that ``--help`` does not import JAX; a test checks the two agree).
_METHODS = (
    "lens_fermat",
    "mahalanobis",
    "spatial",
    "projection",
    "halfspace",
    "knn",
    "monge_kantorovich",
)

_EXAMPLES = """\
examples:
  edtjax depth --train runs.csv --queries new.csv --out scores.csv
  edtjax depth --train runs.npz --queries new.csv --columns power,radius --method mahalanobis \\
      --alpha 0.1 --out scores.csv
  edtjax depth --train runs.csv --queries new.csv --method knn --neighbors 5 --out scores.csv

methods (score: higher = farther from the training data):
  lens_fermat        1 - lens depth under the sample Fermat distance (follows curved supports)
  mahalanobis        log(1 + Mahalanobis distance^2) to the mean (elliptical data)
  spatial            1 - spatial depth (norm of the spatial rank)
  projection         log(1 + Stahel-Donoho outlyingness over random directions)
  halfspace          1 - Tukey halfspace depth over random directions
  knn                distance to the k-th nearest training input
  monge_kantorovich  norm of the center-outward rank (1 - Monge-Kantorovich depth)

The columns are standardised by the mean and standard deviation of the fitting rows unless
--no-standardize is given. The output CSV has one row per query: its row number (0-based),
its coordinates, score, p_value and verdict (in/out).
"""


def _fraction(text: str) -> float:
    value = finite_float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}")
    return value


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register ``edtjax depth`` on the subcommand set ``commands``."""
    parser = commands.add_parser(
        "depth",
        help="score new inputs against training data with a calibrated depth indicator",
        description=plain_doc(__doc__.split("\n\n", 1)[1]),
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--train", metavar="FILE", type=Path, required=True, help="training inputs (.csv/.npz)"
    )
    parser.add_argument(
        "--queries", metavar="FILE", type=Path, required=True, help="inputs to judge (.csv/.npz)"
    )
    parser.add_argument(
        "--columns",
        metavar="NAMES",
        default=None,
        help="comma-separated input columns (default: every column of --train)",
    )
    parser.add_argument(
        "--method",
        default="lens_fermat",
        choices=_METHODS,
        help="the indicator (default lens_fermat; see below)",
    )
    parser.add_argument(
        "--alpha", type=_fraction, default=0.05, help="false-alarm rate (default 0.05)"
    )
    parser.add_argument(
        "--calibration-fraction",
        type=_fraction,
        default=0.3,
        help="share of the training rows used for calibration (default 0.3)",
    )
    parser.add_argument(
        "--neighbors",
        metavar="K",
        type=positive_int,
        default=None,
        help="neighbours of lens_fermat (default 10) or knn (default 1)",
    )
    parser.add_argument(
        "--directions",
        metavar="K",
        type=positive_int,
        default=None,
        help="random directions of projection (default 500) or halfspace (default 1000)",
    )
    parser.add_argument(
        "--no-standardize", action="store_true", help="use the columns in their own units"
    )
    parser.add_argument(
        "--seed", type=seed, default=0, help="PRNG seed in [0, 2**63 - 2] (default 0)"
    )
    parser.add_argument(
        "--out", metavar="FILE", type=Path, required=True, help="CSV file of per-query results"
    )
    parser.add_argument("--force", action="store_true", help="overwrite an existing --out")
    parser.set_defaults(func=_run)


def _check_out_file(out: Path, force: bool) -> None:
    """Refuse an existing ``out`` without ``force``, a folder, or a place that cannot be written."""
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; give a file name such as {out / 'scores.csv'}")
    if out.exists() and not force:
        raise UserError(f"output file {out} exists; pass --force to overwrite it")
    folder = unwritable_parent(out)
    if folder is not None:
        raise UserError(f"cannot write {out}: {folder} is not a writable folder")


def _indicator(method: str, neighbors: int | None, directions: int | None):
    """The indicator ``method`` of :data:`edtjax.reliability.INDICATORS` with the CLI's options
    (``--neighbors``, ``--directions``) where it takes them."""
    from edtjax.reliability import INDICATORS, make_indicator

    takes = INDICATORS[method].options
    options = {}
    if "n_neighbors" in takes:
        options["n_neighbors"] = neighbors or (10 if method == "lens_fermat" else 1)
    if "n_directions" in takes:
        options["n_directions"] = directions or (1000 if method == "halfspace" else 500)
    return make_indicator(method, **options)


def _split(key, n: int, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Random disjoint (fitting, calibration) row indices; ``round(fraction n)`` calibrate."""
    import jax

    order = np.asarray(jax.random.permutation(key, n))
    n_cal = round(fraction * n)
    return np.sort(order[n_cal:]), np.sort(order[:n_cal])


def _write_csv(out: Path, names, queries, scores, p_values, flagged) -> None:
    from edtjax._io import atomic_write_bytes

    buf = io.StringIO()
    buf.write(",".join(["row", *names, "score", "p_value", "verdict"]) + "\n")
    for i, row in enumerate(queries):
        cells = [str(i), *(repr(float(v)) for v in row)]
        cells += [f"{scores[i]:.9g}", f"{p_values[i]:.6g}", "out" if flagged[i] else "in"]
        buf.write(",".join(cells) + "\n")
    try:
        atomic_write_bytes(out, buf.getvalue().encode())
    except OSError as err:
        raise UserError(f"cannot write {out}: {err.strerror or err}") from err


def _run(args: argparse.Namespace) -> int:
    import jax

    from edtjax.audit.data import read_table
    from edtjax.reliability import calibrate, conformal_p_values, minimum_calibration_size

    _check_out_file(args.out, args.force)
    check_input_file("--train", args.train)
    check_input_file("--queries", args.queries)
    x, names = read_table(args.train, column_names("--columns", args.columns))
    queries, _ = read_table(args.queries, names, min_rows=1)
    n = x.shape[0]
    if args.method in ("projection", "halfspace"):
        directions = args.directions or (500 if args.method == "projection" else 1000)
        rows = max(n, queries.shape[0], x.shape[1])
        check_elements(
            f"--directions {directions} x {rows} rows of projections",
            directions * rows,
            "--directions",
        )
    k_split, k_fit, k_cal = jax.random.split(jax.random.key(args.seed), 3)
    fit_rows, cal_rows = _split(k_split, n, args.calibration_fraction)
    n_min = minimum_calibration_size(args.alpha)
    if cal_rows.size < n_min:
        raise UserError(
            f"--calibration-fraction {args.calibration_fraction} of {n} training rows gives "
            f"{cal_rows.size} calibration rows; --alpha {args.alpha} needs at least {n_min} "
            "(n >= 1/alpha - 1): give more rows, a larger fraction or a larger alpha"
        )
    if fit_rows.size < 2:
        raise UserError(
            f"only {fit_rows.size} of {n} training rows are left to fit the indicator; lower "
            "--calibration-fraction"
        )
    x_fit = x[fit_rows]
    if args.no_standardize:
        centre, scale = np.zeros(x.shape[1]), np.ones(x.shape[1])
    else:
        centre, scale = x_fit.mean(axis=0), x_fit.std(axis=0)
        constant = [name for name, s in zip(names, scale, strict=True) if not s > 0.0]
        if constant:
            raise UserError(
                f"{args.train}: column(s) {constant} are constant on the fitting rows and cannot "
                "be standardised; drop them with --columns or pass --no-standardize"
            )

    def standardise(values: np.ndarray) -> np.ndarray:
        return ((values - centre) / scale).astype(np.float32)

    indicator = _indicator(args.method, args.neighbors, args.directions)
    state = indicator.fit(k_fit, standardise(x_fit))
    calibration = calibrate(k_cal, indicator, state, standardise(x[cal_rows]), args.alpha)
    scores = indicator.score(state, standardise(queries))
    p_values = np.asarray(conformal_p_values(calibration, scores))
    # flagged iff score > threshold, which is p <= alpha (Calibration), without rounding of p
    flagged = np.asarray(scores > calibration.threshold)
    _write_csv(args.out, names, queries, np.asarray(scores), p_values, flagged)
    print(
        f"{args.method}: fitted on {fit_rows.size} training rows, calibrated on {cal_rows.size} "
        f"(threshold {float(calibration.threshold):.6g} at alpha = {args.alpha:g})"
    )
    if args.method in ("halfspace", "lens_fermat") and float(calibration.threshold) >= 1.0:
        print(
            f"note: the {args.method} depth is 0 for more than alpha of the calibration rows, so "
            "no query can be flagged at this alpha; give more training rows, a larger alpha or "
            "another method"
        )
    print(
        f"flagged {int(flagged.sum())} of {flagged.size} queries as outside the training domain; "
        f"results written to {args.out}"
    )
    return 0
