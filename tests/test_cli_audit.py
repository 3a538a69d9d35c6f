"""``edtjax audit`` end to end: the quick built-in audit, the user-data audit, bad input.

The quick audit runs once per module (about half a minute on a 2-core CPU); the checks that
follow read its report folder. Bad-input checks never reach the audit: they must fail in
well under a second, before any computation, with one line on stderr and exit status 2.
"""

from __future__ import annotations

import hashlib
import json
import math
import time

import numpy as np
import pytest

from edtjax.cli import main


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _floats(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _floats(v)
    elif isinstance(value, list):
        for v in value:
            yield from _floats(v)
    elif isinstance(value, float):
        yield value


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    folder = tmp_path_factory.mktemp("audit") / "report"
    rc = main(["audit", "--quick", "--no-progress", "--out", str(folder)])
    return rc, folder


def test_quick_audit_writes_a_complete_report(quick, capsys):
    rc, folder = quick
    assert rc == 0
    document = json.loads((folder / "report.json").read_text())
    names = {p.name for p in folder.iterdir()}
    assert names == {"report.html", "report.json", *document["figures"]}
    assert len(document["figures"]) >= 8
    for figure in document["figures"]:
        assert (folder / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    numbers = document["numbers"]
    values = list(_floats(numbers))
    assert len(values) > 100 and all(math.isfinite(v) for v in values)
    assert set(document["timings"]) >= {"surrogates", "sobol", "transport", "bias"}
    assert numbers["case"]["name"] == "thermodiffusion" and numbers["case"]["has_simulator"]
    html = (folder / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(document["figures"])
    assert "Is the surrogate calibrated?" in html


def test_rerun_without_force_refuses_fast_and_touches_nothing(quick, capsys):
    _, folder = quick
    before = _digest(folder)
    start = time.perf_counter()
    rc = main(["audit", "--quick", "--no-progress", "--out", str(folder)])
    elapsed = time.perf_counter() - start
    err = capsys.readouterr().err
    assert rc == 2 and elapsed < 5.0
    assert err.count("\n") == 1 and "--force" in err and str(folder) in err
    assert _digest(folder) == before


def _user_files(tmp_path):
    """400 labelled runs of an analytic 3-input, 2-output model and 60 shifted queries."""
    rng = np.random.default_rng(1)

    def model(x):
        return np.stack([np.sin(3 * x[:, 0]) + x[:, 1] ** 2, x[:, 0] * x[:, 2]], axis=1)

    x = rng.uniform(0, 1, (400, 3))
    q = rng.uniform(0, 1, (60, 3))
    q[:, 0] += 0.6
    header = "a,b,c,y1,y2"
    np.savetxt(
        tmp_path / "runs.csv", np.hstack([x, model(x)]), delimiter=",", header=header, comments=""
    )
    np.savetxt(
        tmp_path / "new.csv", np.hstack([q, model(q)]), delimiter=",", header=header, comments=""
    )
    return tmp_path / "runs.csv", tmp_path / "new.csv"


def test_force_replaces_with_a_user_data_report(quick, tmp_path, capsys):
    _, folder = quick
    runs, new = _user_files(tmp_path)
    argv = ["audit", "--quick", "--no-progress", "--data", str(runs), "--outputs", "y1,y2"]
    rc = main([*argv, "--queries", str(new), "--out", str(folder), "--force"])
    assert rc == 0
    numbers = json.loads((folder / "report.json").read_text())["numbers"]
    case = numbers["case"]
    assert case["name"] == "runs" and not case["has_simulator"]
    assert case["input_names"] == ["a", "b", "c"] and case["output_names"] == ["y1", "y2"]
    assert case["n_queries_shifted"] == 60
    assert numbers["sobol"]["simulator"] is None
    bias = numbers["bias"]  # the queries carry outputs: the actual bias is known
    assert math.isfinite(bias["true_bias"]) and "assumes" in bias["description"]
    out = capsys.readouterr().out
    assert "report written to" in out and "Is the surrogate calibrated?" in out


def _write(path, text):
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    "make_argv, message",
    [
        (lambda d: ["--inputs", "a,b"], "need --data"),
        (lambda d: ["--data", _write(d / "r.csv", "a,b,y\n1,2,3\n")], "needs --outputs"),
        (lambda d: ["--data", str(d / "missing.csv"), "--outputs", "y"], "missing.csv"),
        (
            lambda d: ["--data", _write(d / "r.csv", "a,b,y\n1,2,3\n4,5\n"), "--outputs", "y"],
            "r.csv",
        ),
        (
            lambda d: ["--data", _write(d / "r.csv", "a,b,y\n1,2,3\n4,5,6\n"), "--outputs", "z"],
            "'z'",
        ),
        (
            lambda d: [
                "--data",
                _write(d / "r.csv", "a,b,y\n" + "1,2,3\n" * 5 + "nan,1,2\n"),
                "--outputs",
                "y",
            ],
            "r.csv",
        ),
        (
            lambda d: [
                "--data",
                _write(d / "r.csv", "a,b,y\n" + "".join(f"{i},{i % 3},{i}\n" for i in range(9))),
                "--outputs",
                "y",
                "--queries",
                _write(d / "q.csv", "a\n1\n2\n"),
            ],
            "q.csv",
        ),
        (
            lambda d: ["--data", _write(d / "r.csv", "a,b,y\n1,2,3\n"), "--outputs", "y,,b"],
            "--outputs must be comma-separated names",
        ),
        (lambda d: ["--config", _write(d / "c.toml", "members = 0\n")], "members"),
        (lambda d: ["--config", _write(d / "c.toml", "membrs = 4\n")], "membrs"),
        (lambda d: ["--devices", "99"], "devices"),
        (lambda d: ["--out", str(d / "file.txt" / "report")], "file.txt"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_no_report(tmp_path, capsys, make_argv, message):
    (tmp_path / "file.txt").write_text("x")
    out = tmp_path / "report"
    argv = make_argv(tmp_path)
    if "--out" not in argv:
        argv += ["--out", str(out)]
    start = time.perf_counter()
    rc = main(["audit", "--quick", "--no-progress", *argv])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.startswith("edtjax: error:") and err.count("\n") == 1, err
    assert message in err
    assert time.perf_counter() - start < 10.0  # refused before any training
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".report")]
