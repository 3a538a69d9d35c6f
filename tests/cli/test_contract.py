"""The command line's contract on hostile input: one line on stderr, exit status 2, no work.

Each case used to end in a traceback (``OverflowError``, ``MemoryError``, XLA's
``RESOURCE_EXHAUSTED``) or, for ``audit --force``, in a refusal only after the whole audit ran.
Every refusal here must come before any computation: each case is timed against a bound far
below the work it would have started.
"""

from __future__ import annotations

import io
import os
import stat
import time
import zipfile

import numpy as np
import pytest

from edtjax.cli import main

HUGE_SEED = str(2**80)


def _run(argv, capsys):
    """``(exit status, stderr, seconds)`` of ``edtjax argv`` run in this process."""
    start = time.perf_counter()
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    elapsed = time.perf_counter() - start
    return code, capsys.readouterr().err, elapsed


def _assert_one_line_refusal(code, err, message):
    assert code == 2, err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert err.startswith("edtjax") and ": error: " in err, err
    assert "Traceback" not in err and message in err, err


def _table(path, rows=40, columns=("a", "b")):
    values = np.random.default_rng(0).normal(size=(rows, len(columns)))
    np.savetxt(path, values, delimiter=",", header=",".join(columns), comments="")
    return str(path)


def _npz_claiming_terabytes(path):
    """A 300-byte .npz whose only array declares 10**12 float64 (8 TB)."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "<f8", "fortran_order": False, "shape": (10**12, 1)}
    )
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.npy", buf.getvalue() + b"\0" * 64)
    return str(path)


def _zero_link(folder, name):
    if not os.path.exists("/dev/zero"):
        pytest.skip("needs /dev/zero")
    (folder / name).symlink_to("/dev/zero")
    return str(folder / name)


@pytest.mark.parametrize(
    ("make_argv", "message"),
    [
        (lambda d: ["sample", "ising", "--seed", HUGE_SEED], "[0, 2**63 - 2]"),
        (lambda d: ["sample", "phi4", "--seed", "-1"], "--seed"),
        (lambda d: ["sobol", "--seed", HUGE_SEED], "[0, 2**63 - 2]"),
        (lambda d: ["audit", "--seed", HUGE_SEED], "[0, 2**63 - 2]"),
        (lambda d: ["sobol", "--samples", str(2**40)], "reduce --samples"),
        (lambda d: ["sobol", "--bootstrap", str(10**12)], "reduce --bootstrap"),
        (lambda d: ["sample", "ising", "--L", "200000"], "reduce --L or --chains"),
        (lambda d: ["sample", "phi4", "--L", "200000"], "reduce --L or --chains"),
        (lambda d: ["sample", "phi4", "--dim", "100000"], "--dim must be <= 64"),
        (lambda d: ["sample", "ising", "--sweeps", str(10**12)], "reduce --sweeps"),
        (
            lambda d: [
                "depth",
                *("--train", _table(d / "t.csv"), "--queries", _table(d / "q.csv")),
                *("--method", "halfspace", "--directions", str(10**9), "--out", str(d / "o.csv")),
            ],
            "reduce --directions",
        ),
        (
            lambda d: [
                "depth",
                *("--train", _zero_link(d, "zero.csv"), "--queries", _table(d / "q.csv")),
                *("--out", str(d / "o.csv")),
            ],
            "a character device",
        ),
        (
            lambda d: [
                "depth",
                *("--train", _table(d / "t.csv")),
                *("--queries", _npz_claiming_terabytes(d / "q.npz"), "--out", str(d / "o.csv")),
            ],
            "declares shape (1000000000000, 1)",
        ),
        (
            lambda d: ["audit", "--data", _zero_link(d, "runs.csv"), "--outputs", "y"],
            "a character device",
        ),
        (
            lambda d: ["audit", "--data", _npz_claiming_terabytes(d / "r.npz"), "--outputs", "y"],
            "declares shape",
        ),
        (lambda d: ["audit", "--config", _zero_link(d, "c.toml")], "a character device"),
    ],
)
def test_hostile_sizes_seeds_and_files_are_one_line_refusals(tmp_path, capsys, make_argv, message):
    argv = make_argv(tmp_path)
    if argv[0] == "audit":
        argv += ["--quick", "--no-progress", "--out", str(tmp_path / "report")]
    elif argv[0] in ("sample", "sobol"):
        argv += ["--no-progress"]
    code, err, elapsed = _run(argv, capsys)
    _assert_one_line_refusal(code, err, message)
    assert elapsed < 10.0  # refused before any sampling, design or audit
    assert not (tmp_path / "report").exists() and not (tmp_path / "o.csv").exists()


def test_audit_seed_in_the_config_file_is_refused(tmp_path, capsys):
    config = tmp_path / "audit.toml"
    config.write_text(f"seed = {HUGE_SEED}\n")
    argv = ["audit", "--quick", "--no-progress", "--config", str(config)]
    code, err, elapsed = _run([*argv, "--out", str(tmp_path / "report")], capsys)
    _assert_one_line_refusal(code, err, "'seed' must be an int in [0, 2**63 - 2]")
    assert elapsed < 10.0


def _fake_report(folder):
    folder.mkdir()
    (folder / "report.json").write_text('{"rows": 3}')
    (folder / "report.html").write_text("<p>my own page</p>")
    (folder / "notes.txt").write_text("keep me")
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_audit_force_refuses_a_folder_that_is_not_a_report_before_any_work(tmp_path, capsys):
    folder = tmp_path / "mine"
    before = _fake_report(folder)
    link = tmp_path / "link"
    link.symlink_to(folder, target_is_directory=True)
    for out, message in ((folder, "not a report folder"), (link, "symbolic link")):
        argv = ["audit", "--quick", "--no-progress", "--force", "--out", str(out)]
        code, err, elapsed = _run(argv, capsys)
        _assert_one_line_refusal(code, err, message)
        assert elapsed < 10.0  # before: refused only after the whole audit (about a minute)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "mine"]


def test_argparse_errors_are_one_line(capsys):
    code, err, _ = _run(["depth", "--train", "a.csv", "--queries", "b.csv", "--out", "o.csv",
                         "--directions", "1e9"], capsys)  # fmt: skip
    _assert_one_line_refusal(code, err, "argument --directions: expected an integer")
    assert "usage:" not in err


def test_running_out_of_memory_is_one_line(monkeypatch, capsys):
    from edtjax.cli import sample

    def exhausted(args):
        raise MemoryError("Unable to allocate 7.28 TiB")

    monkeypatch.setattr(sample, "_run_sample_ising", exhausted)
    code, err, _ = _run(["sample", "ising", "--no-progress"], capsys)
    _assert_one_line_refusal(code, err, "out of memory (Unable to allocate 7.28 TiB)")


def test_every_writer_gives_files_the_same_mode(tmp_path, capsys):
    """The commands write through _io.atomic_write_bytes (traces, metadata, indices, scores,
    checkpoints, data sets) or the report writer: both must give what open() gives."""
    import jax
    import jax.numpy as jnp

    from edtjax import _io
    from edtjax.cli.depth import _write_csv
    from edtjax.mcmc import Kernel, run_chains
    from edtjax.report import write_audit_report
    from tests.report.test_audit_figures import minimal_result

    kernel = Kernel(init=lambda x: x, step=lambda key, x: (x + 1.0, {}))
    old = os.umask(0o022)
    try:
        _io.save_arrays(tmp_path / "traces.npz", {"x": np.zeros(3)})
        _io.save_json(tmp_path / "metadata.json", {"seed": 0})
        _write_csv(tmp_path / "d.csv", ("a",), np.zeros((1, 1)), [0.5], [0.5], [False])
        run_chains(jax.random.key(0), kernel, jnp.zeros((1, 1)), 4, num_chains=1,
                   checkpoint_path=tmp_path / "chk.npz")  # fmt: skip
        write_audit_report(tmp_path / "r", minimal_result("modes", {"fit": 0.5}))
        with open(tmp_path / "reference.txt", "w") as fh:
            fh.write("what open() gives")
    finally:
        os.umask(old)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) == 8
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in files}
    assert set(modes.values()) == {0o644}, modes  # before: the first four were 0o600
