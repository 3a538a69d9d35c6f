"""Wall time of each stage of the built-in audit (thermodiffusion case), default or quick preset.

There is no peer for the whole audit (no other tool runs this workflow end to end), so
``peer_s`` and ``ratio`` are null. The audit is run twice in one process: ``cold_s`` is the
first run, compilation included (what a user of ``edtjax audit`` waits), ``edtjax_s`` the second
run with the same key, where the functions compiled by the first run are reused (closures built
per run, such as the Sobol' model of the trained ensemble, still compile again). The
``simulate`` stage is the data generation of :func:`edtjax.audit.thermodiffusion_case`.

Run:
    python benchmarks/audit.py --out benchmarks/results/audit-cpu.json --force
    python benchmarks/audit.py --quick
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import sys
import time

import jax
import numpy as np

import edtjax
from edtjax._io import check_writable, save_json
from edtjax.audit import audit_preset, run_audit, thermodiffusion_case

PEER = "none: no other tool runs the whole audit workflow"


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(preset: str) -> list[dict]:
    config = audit_preset(preset)
    records = []
    cold, warm = {}, {}
    cpu0, wall0 = _cpu_seconds(), time.perf_counter()
    for timings in (cold, warm):
        start = time.perf_counter()
        data = thermodiffusion_case(jax.random.key(config.seed), config, progress=False)
        timings["simulate"] = time.perf_counter() - start
        result = run_audit(jax.random.key(config.seed + 1), data, config, progress=False)
        timings.update(result.timings)
        if timings is cold:
            cpu_cold = _cpu_seconds() - cpu0
    for stage in cold:
        records.append(
            {
                "name": f"audit/{preset}/{stage}",
                "edtjax_s": round(warm[stage], 3),
                "cold_s": round(cold[stage], 3),
                "peer": PEER,
                "peer_s": None,
                "ratio": None,
            }
        )
    records.append(
        {
            "name": f"audit/{preset}/total",
            "edtjax_s": round(sum(warm.values()), 3),
            "cold_s": round(sum(cold.values()), 3),
            "cold_cpu_s": round(cpu_cold, 1),
            "slowest_stage_cold": max(cold, key=cold.get),
            "n_train": result.numbers["case"]["n_train"],
            "n_queries": result.numbers["case"]["n_queries"],
            "load_average_1min": round(os.getloadavg()[0], 2),
            "wall_both_runs_s": round(time.perf_counter() - wall0, 1),
            "peer": PEER,
            "peer_s": None,
            "ratio": None,
        }
    )
    for rec in records:
        print(json.dumps(rec), flush=True)
    return records


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the quick preset only")
    parser.add_argument("--out", default=None, help="write all records and versions as JSON")
    parser.add_argument("--force", action="store_true", help="overwrite --out")
    parser.add_argument("--note", default="", help="free text stored with --out")
    args = parser.parse_args()
    out = check_writable(args.out, force=args.force) if args.out else None
    load_before = os.getloadavg()[0]
    records = run("quick") if args.quick else run("quick") + run("default")
    if out is not None:
        save_json(
            out,
            {
                "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                "machine": f"{platform.machine()} CPU, {os.cpu_count()} cores",
                "note": args.note,
                "command": " ".join(sys.argv),
                "load_average_1min_before": round(load_before, 2),
                "ratio": "no peer: peer_s and ratio are null",
                "versions": {
                    "python": platform.python_version(),
                    "edtjax": edtjax.__version__,
                    "jax": jax.__version__,
                    "numpy": np.__version__,
                },
                "records": records,
            },
        )


if __name__ == "__main__":
    main()
