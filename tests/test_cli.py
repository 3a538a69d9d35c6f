"""The ``edtjax`` command line: sampling subcommands, output safety, one-line user errors."""

import json

import numpy as np
import pytest

from edtjax import _io
from edtjax.cli import main


def test_sample_ising_writes_traces_and_refuses_overwrite(tmp_path, capsys):
    out = tmp_path / "run"
    argv = [
        "sample",
        "ising",
        "--L",
        "8",
        "--beta",
        "0.3",
        "--sweeps",
        "64",
        "--chains",
        "2",
        "--algorithm",
        "metropolis",
        "--no-progress",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "energy" in printed and "binder_cumulant" in printed
    assert "exact (Kaufman, L=8)" in printed and "standard errors" in printed
    traces = _io.load_arrays(out / "traces.npz")
    assert traces["energy"].shape == (2, 64)
    meta = _io.load_json(out / "metadata.json")
    assert meta["model"] == "ising" and meta["L"] == 8
    rows = {r["observable"]: r for r in meta["summary"]}
    assert np.isfinite(rows["energy"]["mean"]) and rows["energy"]["error"] > 0

    before = (out / "traces.npz").read_bytes()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "exists" in err and "--force" in err and "Traceback" not in err
    assert (out / "traces.npz").read_bytes() == before
    assert main([*argv, "--seed", "1", "--force"]) == 0
    assert (out / "traces.npz").read_bytes() != before


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sample", "ising", "--L", "7", "--algorithm", "metropolis"], "L must be even"),
        (["sample", "ising", "--beta", "-1"], "beta must be >= 0"),
        (["sample", "phi4", "--lam", "-0.5", "--steps", "8"], "lam"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(argv, message, capsys):
    assert main([*argv, "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and err.startswith("edtjax: error:")


def test_argparse_rejects_non_positive_sizes(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["sample", "ising", "--sweeps", "0"])
    assert exc.value.code == 2
    assert "positive integer" in capsys.readouterr().err


def test_sample_phi4_prints_summary(tmp_path, capsys):
    out = tmp_path / "phi4"
    argv = [
        "sample",
        "phi4",
        "--L",
        "4",
        "--steps",
        "40",
        "--burn-in",
        "20",
        "--chains",
        "2",
        "--algorithm",
        "metropolis",
        "--no-progress",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    assert "magnetisation" in capsys.readouterr().out
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["model"] == "phi4" and meta["num_steps"] == 40
