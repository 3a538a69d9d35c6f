"""Reading user tables: ``edtjax.audit.data.read_table`` against NumPy's readers.

The peer for ``.csv`` is :func:`numpy.loadtxt` (C parser, no per-cell error reporting); for
``.npz`` it is :func:`numpy.load`. edtjax parses CSV cell by cell with the standard ``csv``
module so that every error names its line and column; this script measures what that costs.
One JSON line per configuration; the values read by both sides are checked to be equal.

    PYTHONPATH=. python benchmarks/read_table.py [--rows 10000 100000] [--columns 8] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
from _common import best_of

from edtjax.audit.data import read_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--columns", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    names = [f"x{j}" for j in range(args.columns)]
    with tempfile.TemporaryDirectory() as folder:
        for n in args.rows:
            data = rng.normal(size=(n, args.columns))
            csv_path = Path(folder) / f"t{n}.csv"
            np.savetxt(csv_path, data, delimiter=",", header=",".join(names), comments="")
            npz_path = Path(folder) / f"t{n}.npz"
            np.savez(npz_path, **{name: data[:, j] for j, name in enumerate(names)})

            def peer_npz(path=npz_path):
                with np.load(path, allow_pickle=False) as f:
                    return np.stack([f[name] for name in names], axis=1)

            for fmt, path, peer in (
                ("csv", csv_path, lambda p=csv_path: np.loadtxt(p, delimiter=",", skiprows=1)),
                ("npz", npz_path, peer_npz),
            ):
                ours_s, (ours, _) = best_of(lambda p=path: read_table(p), args.repeats)
                peer_s, theirs = best_of(peer, args.repeats)
                np.testing.assert_array_equal(ours, theirs)
                print(
                    json.dumps(
                        {
                            "name": f"read_table_{fmt}_{n}x{args.columns}",
                            "edtjax_s": ours_s,
                            "peer": "numpy.loadtxt" if fmt == "csv" else "numpy.load",
                            "peer_s": peer_s,
                            "ratio": ours_s / peer_s,
                            "rows": n,
                            "columns": args.columns,
                            "file_mb": path.stat().st_size / 2**20,
                        }
                    ),
                    flush=True,
                )


if __name__ == "__main__":
    main()
