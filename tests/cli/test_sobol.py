"""``edtjax sobol``: indices against the exact values, written report, batched path, bad input."""

import json

import numpy as np
import pytest

from edtjax.cli import main
from edtjax.simulators import friedman1_indices, ishigami_indices, sobol_g_indices


@pytest.mark.parametrize(
    ("model", "exact"),
    [
        ("ishigami", ishigami_indices()),
        pytest.param("friedman1", friedman1_indices(5), marks=pytest.mark.slow),
        pytest.param(
            "sobol_g", sobol_g_indices([0, 1, 4.5, 9, 99, 99, 99, 99]), marks=pytest.mark.slow
        ),
    ],
)
def test_indices_match_exact_values_and_are_written(model, exact, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["sobol", "--model", model, "--samples", "2048", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "exact S1" in printed and "standard errors" in printed
    record = json.loads((out / "indices.json").read_text())
    s1, st = np.array(record["first_order"]), np.array(record["total_order"])
    se1, set_ = np.array(record["first_order_stderr"]), np.array(record["total_order_stderr"])
    # delta-method standard errors (conservative for scrambled Sobol' rows): 5 of them bound a
    # false failure at < 1e-6 per index; they must also be small enough to mean something
    assert np.all(np.abs(s1 - exact.first_order) <= 5 * se1)
    assert np.all(np.abs(st - exact.total_order) <= 5 * set_)
    assert se1.max() < 0.05 and set_.max() < 0.05
    ci = np.array(record["first_order_ci"])
    assert np.all((ci[:, 0] <= s1) & (s1 <= ci[:, 1]))
    np.testing.assert_allclose(record["exact"]["first_order"], exact.first_order)
    assert record["model_runs"] == 2048 * (len(s1) + 2)
    assert (out / "sobol_indices.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_second_order_and_bootstrap_on_the_g_function(tmp_path, capsys):
    out = tmp_path / "g"
    argv = ["sobol", "--model", "sobol_g", "--g-coefficients", "0,1,9", "--samples", "2048"]
    assert main([*argv, "--second-order", "--bootstrap", "100", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "95% bootstrap CI" in printed and "x1 x x2" in printed
    record = json.loads((out / "indices.json").read_text())
    exact = sobol_g_indices([0.0, 1.0, 9.0])
    s2, se2 = np.array(record["second_order"]), np.array(record["second_order_stderr"])
    upper = np.triu_indices(3, 1)
    # 5 standard errors per index: false failure < 1e-6
    assert np.all(np.abs(s2 - exact.second_order)[upper] <= 5 * se2[upper])
    assert record["interval"] == "bootstrap percentile" and record["num_bootstrap"] == 100
    assert record["g_coefficients"] == [0.0, 1.0, 9.0] and record["model_runs"] == 2048 * 8
    ci = np.array(record["second_order_ci"])
    assert ci.shape == (3, 3, 2) and np.all(ci[..., 0] <= ci[..., 1])


@pytest.mark.slow
def test_borehole_has_no_exact_values(capsys):
    assert main(["sobol", "--model", "borehole", "--samples", "256"]) == 0
    printed = capsys.readouterr().out
    rows = {line.split()[0]: line for line in printed.splitlines()[2:10]}
    assert set(rows) == {"rw", "r", "Tu", "Hu", "Tl", "Hl", "L", "Kw"}
    assert rows["rw"].rstrip().endswith("-") and "largest" not in printed


@pytest.mark.slow
def test_pellet_model_with_progress(tmp_path, capsys):
    out = tmp_path / "pellet"
    argv = ["sobol", "--model", "pellet", "--output", "centre_x", "--samples", "8"]
    argv += ["--cells", "8", "--time-steps", "20", "--batch", "24", "--out", str(out)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "run/s" in captured.err or "run]" in captured.err  # the tqdm bar on stderr
    assert "pellet (centre_x): N = 8, 64 model runs" in captured.out
    record = json.loads((out / "indices.json").read_text())
    assert record["factors"][0] == "heat_source" and record["exact"] is None
    assert record["solver"] == {"n_cells": 8, "n_steps": 20}
    assert np.all(np.isfinite(record["first_order"])) and np.all(np.isfinite(record["total_order"]))


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["sobol", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text and "pellet" in text and "--second-order" in text


def _one_line_error(capsys, message):
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("edtjax: error:") and len(err.splitlines()) == 1, err
    assert message in err, err
    assert "Traceback" not in captured.err + captured.out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--samples", "1000"], "--samples must be a power of two >= 2"),
        (["--output", "centre_x"], "--output apply to --model pellet only"),
        (["--cells", "8"], "--cells apply to --model pellet only"),
        (["--g-coefficients", "1,2"], "--g-coefficients applies to --model sobol_g only"),
        (["--model", "sobol_g", "--g-coefficients", "1,x"], "must be comma-separated numbers"),
        (["--model", "sobol_g", "--g-coefficients", "1,-2"], "must be finite and >= 0"),
    ],
)
def test_bad_options_exit_2_with_one_line(extra, message, capsys):
    assert main(["sobol", *extra]) == 2
    _one_line_error(capsys, message)


def test_existing_and_unwritable_output_folders(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["sobol", "--samples", "2048", "--out", str(out)]  # compiled as above
    assert main(argv) == 0
    before = (out / "indices.json").read_bytes()
    capsys.readouterr()
    assert main([*argv, "--seed", "1"]) == 2
    _one_line_error(capsys, "exists; pass --force")
    assert (out / "indices.json").read_bytes() == before
    assert main([*argv, "--seed", "1", "--force"]) == 0
    assert (out / "indices.json").read_bytes() != before
    (tmp_path / "plain").write_text("a file")
    capsys.readouterr()
    assert main(["sobol", "--out", str(tmp_path / "plain" / "run")]) == 2
    _one_line_error(capsys, "is not a writable folder")


def test_argparse_rejects_negative_bootstrap(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["sobol", "--bootstrap", "-1"])
    assert exc.value.code == 2
    assert "expected an integer >= 0" in capsys.readouterr().err


def test_simulator_failure_is_a_one_line_error(monkeypatch, capsys):
    import edtjax.simulators

    def failing(inputs, config):
        raise ValueError("thermodiffusion Picard iterations did not converge for 3 simulation(s)")

    monkeypatch.setattr(edtjax.simulators, "simulate_pellet_batch", failing)
    assert main(["sobol", "--model", "pellet", "--samples", "4", "--no-progress"]) == 2
    _one_line_error(capsys, "pellet simulator: thermodiffusion Picard iterations did not converge")
