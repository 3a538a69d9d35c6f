"""``edtjax audit`` end to end: the quick built-in audit, the user-data audit, bad input.

The quick audit runs once per module (about half a minute on a 2-core CPU); the checks that
follow read its report folder. Bad-input checks never reach the audit: they must fail in
well under a second, before any computation, with one line on stderr and exit status 2.
"""

from __future__ import annotations

import dataclasses
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


@pytest.mark.slow  # the quick audit end to end (a minute): the slow selection runs it
def test_quick_audit_writes_a_complete_report(quick, capsys):
    rc, folder = quick
    assert rc == 0
    document = json.loads((folder / "report.json").read_text())
    names = {p.name for p in folder.iterdir()}
    expected = {"report.html", "report.json", "queries.csv", "queries.json"}
    assert names == {*expected, *document["figures"]}
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
    # the built-in queries are shifted by construction: the evaluation figures stay
    assert numbers["case"]["queries_shifted_by_construction"]
    assert numbers["reliability"]["indicators"]["combined"]["detection_rate"] is not None
    topics = [v["topic"] for v in document["verdicts"]]
    assert topics == ["calibration", "agreement", "domain", "bias"]
    assert all(v["level"] in ("ok", "caution", "problem", "n/a") for v in document["verdicts"])
    rows = (folder / "queries.csv").read_text().splitlines()
    assert len(rows) == 1 + numbers["case"]["n_queries"]


@pytest.mark.slow  # needs the quick audit's report folder
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
    """400 labelled runs of an analytic 3-input, 2-output model and 60 queries, 30 of them
    shifted, with a text column ``note`` that the audit must ignore."""
    rng = np.random.default_rng(1)

    def model(x):
        return np.stack([np.sin(3 * x[:, 0]) + x[:, 1] ** 2, x[:, 0] * x[:, 2]], axis=1)

    x = rng.uniform(0, 1, (400, 3))
    q = rng.uniform(0, 1, (60, 3))
    q[30:, 0] += 1.0
    header = "a,b,c,y1,y2"
    np.savetxt(
        tmp_path / "runs.csv", np.hstack([x, model(x)]), delimiter=",", header=header, comments=""
    )
    lines = [header + ",note"] + [
        ",".join(repr(float(v)) for v in row) + f",run {i} (batch B)"
        for i, row in enumerate(np.hstack([q, model(q)]))
    ]
    (tmp_path / "new.csv").write_text("\n".join(lines) + "\n")
    return tmp_path / "runs.csv", tmp_path / "new.csv", q, model(q)


@pytest.mark.slow
def test_force_replaces_with_a_user_data_report(quick, tmp_path, capsys):
    import csv

    _, folder = quick
    runs, new, q, qy = _user_files(tmp_path)
    argv = ["audit", "--quick", "--no-progress", "--data", str(runs), "--outputs", "y1,y2"]
    argv += ["--queries", str(new), "--out", str(folder), "--force", "--fail-on", "caution"]
    rc = main(argv)
    document = json.loads((folder / "report.json").read_text())
    numbers = document["numbers"]
    levels = [v["level"] for v in document["verdicts"]]
    # 30 queries shifted by a whole training range: the domain verdict is at least a caution,
    # so --fail-on caution exits with 3 after writing the report
    assert document["verdicts"][2]["level"] in ("caution", "problem")
    assert rc == 3 and any(level in ("caution", "problem") for level in levels)
    case = numbers["case"]
    assert case["name"] == "runs" and not case["has_simulator"]
    assert case["input_names"] == ["a", "b", "c"] and case["output_names"] == ["y1", "y2"]
    assert case["n_queries"] == 60 and not case["queries_shifted_by_construction"]
    assert numbers["sobol"]["simulator"] is None
    # no [inputs]: the empirical law, first-order indices only, said in the report
    sobol = numbers["sobol"]
    n_runs = case["n_train"] + case["n_calibration"] + case["n_test"]
    assert sobol["law"]["description"] == f"empirical ({n_runs} runs)"
    assert not sobol["total_available"] and sobol["empirical"]["surrogate"] is not None
    agreement = document["verdicts"][1]
    assert agreement["level"] != "n/a" and "empirical" in agreement["answer"]
    page = (folder / "report.html").read_text()
    assert f"empirical ({n_runs} runs)" in page and sobol["total_note"] in page
    assert "sobol_indices.png" in document["figures"]
    # the user's queries are never assumed shifted: no detection rate, no AUROC
    for v in numbers["reliability"]["indicators"].values():
        assert v["detection_rate"] is None and v["auroc"] is None
    for test in numbers["transport"]["shift_tests"].values():
        assert "shifted" not in test["compared"]
    bias = numbers["bias"]  # the queries carry outputs: the actual bias is known
    assert math.isfinite(bias["true_bias"]) and "assumes" in bias["description"]
    # one row per query, in the user's order, the text column ignored
    with open(folder / "queries.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["query"]) for r in rows] == list(range(60))
    np.testing.assert_array_equal([[float(r[c]) for c in "abc"] for r in rows], q)
    truth = [[float(r[f"true[{y}]"]) for y in ("y1", "y2")] for r in rows]
    np.testing.assert_array_equal(truth, qy)
    alpha = numbers["queries"]["alpha"]
    for r in rows:
        assert (float(r["p[combined]"]) <= alpha + 1e-12) == (r["verdict"] == "outside")
        assert r["verdict"] in ("inside", "outside") and "note" not in r
    flagged = sum(r["verdict"] == "outside" for r in rows[30:])
    assert flagged >= 24  # the shifted half: at least 80% flagged
    assert numbers["queries"]["labelled"]["outside"]["count"] == numbers["queries"]["n_outside"]
    out, err = capsys.readouterr()
    assert "report written to" in out and "Is the surrogate calibrated?" in out
    assert "--fail-on caution" in err and err.count("\n") == 1


@pytest.mark.slow
def test_a_surrogate_given_as_predictions_is_audited_and_skips_say_why(tmp_path, capsys):
    import csv

    runs, new, _, qy = _user_files(tmp_path)
    data = np.loadtxt(runs, delimiter=",", skiprows=1)
    # a surrogate trained elsewhere: the exact outputs plus a known error, and its spread
    mean = np.vstack([data[:, 3:], qy]) + 0.05
    std = np.full_like(mean, 0.1)
    np.savetxt(
        tmp_path / "pred.csv",
        np.hstack([mean, std]),
        delimiter=",",
        header="y1_mean,y2_mean,y1_std,y2_std",
        comments="",
    )
    out = tmp_path / "report"
    argv = ["audit", "--quick", "--no-progress", "--data", str(runs), "--outputs", "y1,y2"]
    argv += ["--queries", str(new), "--predictions", str(tmp_path / "pred.csv")]
    assert main([*argv, "--out", str(out)]) == 0
    numbers = json.loads((out / "report.json").read_text())["numbers"]
    assert numbers["case"]["surrogate"]["source"] == "predictions"
    assert list(numbers["surrogates"]) == ["user_surrogate"]
    np.testing.assert_allclose(numbers["surrogates"]["user_surrogate"]["rmse"], 0.05, rtol=1e-5)
    assert "not known to the audit" in numbers["parameter_gsa"]["skipped"]
    with open(out / "queries.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    np.testing.assert_allclose([float(r["mean[y1]"]) for r in rows], qy[:, 0] + 0.05, rtol=1e-6)
    assert sum(r["verdict"] == "outside" for r in rows[30:]) >= 24
    page = (out / "report.html").read_text()
    assert "given by the user as predictions" in page and "not known to the audit" in page
    assert "surrogate: pred.csv" in capsys.readouterr().out


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
        (
            lambda d: ["--config", _write(d / "c.toml", "[surrogate]\nmembers = 0\n")],
            "'surrogate.members' must be an int >= 2",
        ),
        (
            lambda d: ["--config", _write(d / "c.toml", "members = 4\n")],
            "config key 'members' belongs to the [surrogate] table",
        ),
        (lambda d: ["--config", _write(d / "c.toml", "membrs = 4\n")], "membrs"),
        (lambda d: ["--devices", "99"], "devices"),
        (lambda d: ["--predictions", _write(d / "p.csv", "y_mean,y_std\n")], "need --data"),
        (
            lambda d: [
                "--data",
                _tiny_runs(d),
                "--outputs",
                "y",
                "--predictions",
                _write(d / "p.csv", "y_mean,y_std\n1,1\n"),
                "--surrogate",
                "m:f",
            ],
            "exclusive",
        ),
        (
            lambda d: [
                "--data",
                _tiny_runs(d),
                "--outputs",
                "y",
                "--predictions",
                _write(d / "p.csv", "y_mean,y_std\n" + "1,1\n" * 59),
            ],
            "59 prediction row(s), expected 60",
        ),
        (
            lambda d: [
                "--data",
                _tiny_runs(d),
                "--outputs",
                "y",
                "--predictions",
                _write(d / "p.csv", "y_mean,y_std\n" + "1,1\n" * 59 + "1,0\n"),
            ],
            "must be positive",
        ),
        (
            lambda d: ["--data", _tiny_runs(d), "--outputs", "y", "--surrogate", "nocolon"],
            "module:function",
        ),
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


def _tiny_runs(tmp_path):
    rows = "\n".join(f"{i % 7},{i % 5},{i}" for i in range(60))
    return _write(tmp_path / "runs.csv", "a,b,y\n" + rows + "\n")


def _fake_audit(monkeypatch, result):
    import edtjax.audit

    monkeypatch.setattr(edtjax.audit, "run_audit", lambda *args, **kwargs: result)


@pytest.mark.parametrize(
    ("level", "problem", "code"),
    [(None, False, 0), ("caution", False, 3), ("problem", False, 0), ("problem", True, 3)],
)
def test_fail_on_sets_exit_status_3_after_writing_the_report(
    tmp_path, monkeypatch, capsys, level, problem, code
):
    from tests.report.test_audit_figures import synthetic_result

    result = synthetic_result()  # verdicts: ok, caution, caution, ok
    if problem:
        # the bias verdict becomes a problem
        result = result._replace(bias=dataclasses.replace(result.bias, contains_true=False))
    _fake_audit(monkeypatch, result)
    out = tmp_path / "report"
    argv = ["audit", "--no-progress", "--data", _tiny_runs(tmp_path), "--outputs", "y"]
    rc = main([*argv, "--out", str(out), *(["--fail-on", level] if level else [])])
    assert rc == code
    assert (out / "report.html").is_file()  # the report is written whatever the verdicts
    levels = [v["level"] for v in json.loads((out / "report.json").read_text())["verdicts"]]
    assert ("problem" in levels) == problem and "caution" in levels
    err = capsys.readouterr().err
    assert err.count("\n") == (1 if code else 0)


def test_config_file_and_options_reach_the_audit_in_sections(tmp_path, monkeypatch):
    import edtjax.audit
    from edtjax.audit import audit_preset
    from tests.report.test_audit_figures import synthetic_result

    seen = []

    def fake(key, data, config, **kwargs):
        seen.append(config)
        return synthetic_result()

    monkeypatch.setattr(edtjax.audit, "run_audit", fake)
    toml = 'preset = "quick"\n[surrogate]\nmembers = 4\n[reliability]\nalpha = 0.05\n'
    argv = ["audit", "--no-progress", "--data", _tiny_runs(tmp_path), "--outputs", "y"]
    argv += ["--config", _write(tmp_path / "c.toml", toml), "--seed", "7"]
    assert main([*argv, "--out", str(tmp_path / "report")]) == 0
    (config,) = seen
    quick = audit_preset("quick")
    assert config.seed == 7 and config.surrogate.members == 4 and config.reliability.alpha == 0.05
    assert config.surrogate.epochs == quick.surrogate.epochs and config.case == quick.case


def test_fail_on_rejects_an_unknown_level(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:  # argparse's refusal: one line, status 2
        main(["audit", "--fail-on", "bad", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.count("\n") == 1 and "--fail-on" in err
    assert not (tmp_path / "r").exists()


def _interrupted(err, tmp_path, out):
    assert err == f"edtjax: interrupted; no report written to {out}\n"
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".report")]


def test_ctrl_c_in_a_stage_exits_130_with_one_line_and_no_report(tmp_path, monkeypatch, capsys):
    import edtjax.audit.pipeline as pipeline

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "split_data", interrupted)
    out = tmp_path / "report"
    argv = ["audit", "--quick", "--no-progress", "--data", _tiny_runs(tmp_path), "--outputs", "y"]
    assert main([*argv, "--out", str(out)]) == 130
    _interrupted(capsys.readouterr().err, tmp_path, out)


def test_ctrl_c_swallowed_inside_a_stage_still_stops(tmp_path, monkeypatch, capsys):
    import os
    import signal

    import edtjax.audit
    from tests.report.test_audit_figures import synthetic_result

    def swallowing(*args, **kwargs):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):  # the handler runs between bytecodes
                pass
        except KeyboardInterrupt:
            pass  # a stage that catches the interrupt and goes on
        return synthetic_result()

    monkeypatch.setattr(edtjax.audit, "run_audit", swallowing)
    out = tmp_path / "report"
    argv = ["audit", "--no-progress", "--data", _tiny_runs(tmp_path), "--outputs", "y"]
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN when started in the background
    assert main([*argv, "--out", str(out)]) == 130
    _interrupted(capsys.readouterr().err, tmp_path, out)
    assert signal.getsignal(signal.SIGINT) is before  # restored


def test_ctrl_c_while_writing_leaves_no_report(tmp_path, monkeypatch, capsys):
    from edtjax.report import writer
    from tests.report.test_audit_figures import synthetic_result

    _fake_audit(monkeypatch, synthetic_result())
    calls = []

    def write(path, data):
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        path.write_bytes(data)

    monkeypatch.setattr(writer, "_write", write)
    out = tmp_path / "report"
    argv = ["audit", "--no-progress", "--data", _tiny_runs(tmp_path), "--outputs", "y"]
    assert main([*argv, "--out", str(out)]) == 130
    _interrupted(capsys.readouterr().err, tmp_path, out)
