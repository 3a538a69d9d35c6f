"""``edtjax depth``: calibrated verdicts on new inputs, closed-form scores, every bad input."""

import csv

import jax
import numpy as np
import pytest

from edtjax.cli import main
from edtjax.cli.depth import _split
from edtjax.reliability import halfspace_indicator, spatial_indicator

SCALES = np.array([1.0, 100.0, 0.01])  # columns in very different units


def _save(path, values, names=("a", "b", "c")):
    np.savetxt(path, values, delimiter=",", header=",".join(names), comments="")
    return path


def _read(path):
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    scores = np.array([float(r["score"]) for r in rows])
    p_values = np.array([float(r["p_value"]) for r in rows])
    verdicts = np.array([r["verdict"] for r in rows])
    return rows, scores, p_values, verdicts


def test_mahalanobis_scores_p_values_and_false_alarm_rate(tmp_path, capsys):
    rng = np.random.default_rng(0)
    train = rng.normal(size=(400, 3)) * SCALES
    inside = rng.normal(size=(300, 3)) * SCALES
    far = (rng.normal(size=(20, 3)) + np.array([10.0, 0.0, 0.0])) * SCALES
    queries = np.vstack([inside, far])
    _save(tmp_path / "train.csv", train)
    _save(tmp_path / "q.csv", queries)
    out = tmp_path / "scores.csv"
    argv = ["depth", "--train", str(tmp_path / "train.csv"), "--queries", str(tmp_path / "q.csv")]
    argv += ["--method", "mahalanobis", "--alpha", "0.1", "--calibration-fraction", "0.5"]
    assert main([*argv, "--seed", "3", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "fitted on 200 training rows, calibrated on 200" in printed
    rows, scores, p_values, verdicts = _read(out)
    assert [int(r["row"]) for r in rows] == list(range(320))
    np.testing.assert_allclose([[float(r[c]) for c in "abc"] for r in rows], queries, rtol=1e-15)

    # closed form on the same split: log(1 + (q - mean)' S^-1 (q - mean)), S unbiased; the
    # score is affine invariant, so standardising the columns does not change it
    k_split = jax.random.split(jax.random.key(3), 3)[0]
    fit_rows, cal_rows = _split(k_split, 400, 0.5)
    assert fit_rows.size == cal_rows.size == 200 and np.intersect1d(fit_rows, cal_rows).size == 0

    def closed_form(x):
        ref = train[fit_rows]
        diff = x - ref.mean(axis=0)
        r2 = np.einsum("ij,jk,ik->i", diff, np.linalg.inv(np.cov(ref.T)), diff)
        return np.log1p(r2)

    exact = closed_form(queries)
    np.testing.assert_allclose(scores, exact, rtol=2e-4, atol=1e-5)  # float32 scoring
    cal = np.sort(closed_form(train[cal_rows]))
    p_exact = (1.0 + np.sum(cal[None, :] >= exact[:, None], axis=1)) / (cal.size + 1.0)
    clear = np.min(np.abs(exact[:, None] - cal[None, :]), axis=1) > 1e-3  # away from float ties
    np.testing.assert_allclose(p_values[clear], p_exact[clear], rtol=1e-5)  # 6 digits in CSV
    assert np.array_equal(verdicts == "out", p_values <= 0.1)

    assert np.all(verdicts[300:] == "out")  # 10 standard deviations away
    # in-domain false alarms: rate <= alpha on average; its spread given the calibration set is
    # about sqrt(a (1 - a) / n_cal), plus binomial noise over m queries; 5 sd (false failure
    # < 1e-6)
    rate = np.mean(verdicts[:300] == "out")
    sd = np.sqrt(0.1 * 0.9 * (1 / 200 + 1 / 300))
    assert abs(rate - 0.1) < 5 * sd
    assert f"flagged {int(np.sum(verdicts == 'out'))} of 320 queries" in printed


@pytest.mark.parametrize(
    "method",
    [
        "lens_fermat",
        "mahalanobis",
        "spatial",
        "projection",
        "halfspace",
        "knn",
        "monge_kantorovich",
    ],
)
def test_every_method_flags_a_far_cluster_and_keeps_central_points(method, tmp_path, capsys):
    rng = np.random.default_rng(1)
    train = rng.normal(size=(300, 2)) * SCALES[:2]
    centre = rng.normal(size=(4, 2)) * 0.1 * SCALES[:2]
    far = (rng.normal(size=(4, 2)) + np.array([0.0, 20.0])) * SCALES[:2]
    _save(tmp_path / "train.csv", train, ("a", "b"))
    _save(tmp_path / "q.csv", np.vstack([centre, far])[:, ::-1], ("b", "a"))  # matched by name
    out = tmp_path / "s.csv"
    argv = ["depth", "--train", str(tmp_path / "train.csv"), "--queries", str(tmp_path / "q.csv")]
    assert main([*argv, "--method", method, "--alpha", "0.2", "--out", str(out)]) == 0
    rows, scores, p_values, verdicts = _read(out)
    np.testing.assert_allclose(float(rows[5]["a"]), far[1, 0], rtol=1e-15)
    assert list(verdicts) == ["in"] * 4 + ["out"] * 4
    assert np.all(scores[4:] > scores[:4].max())
    assert np.all((p_values > 0) & (p_values <= 1))
    assert "flagged 4 of 8 queries" in capsys.readouterr().out


def test_knn_in_raw_units_on_chosen_columns_matches_closed_form(tmp_path):
    rng = np.random.default_rng(6)
    train = rng.normal(size=(100, 3)) * SCALES
    train[::7, 2] = np.nan  # an unused column may hold anything
    queries = rng.normal(size=(6, 2)) * 2.0 * SCALES[:2]
    _save(tmp_path / "train.csv", train)
    _save(tmp_path / "q.csv", queries, ("a", "b"))
    argv = ["depth", "--train", str(tmp_path / "train.csv"), "--queries", str(tmp_path / "q.csv")]
    argv += ["--columns", "b, a", "--method", "knn", "--neighbors", "2", "--no-standardize"]
    assert main([*argv, "--seed", "7", "--out", str(tmp_path / "s.csv")]) == 0
    rows, scores, _, _ = _read(tmp_path / "s.csv")
    assert list(rows[0])[:3] == ["row", "b", "a"]
    fit_rows, _ = _split(jax.random.split(jax.random.key(7), 3)[0], 100, 0.3)
    ref = train[fit_rows][:, [1, 0]]
    dist = np.linalg.norm(queries[:, None, [1, 0]] - ref[None], axis=-1)
    np.testing.assert_allclose(scores, np.sort(dist, axis=1)[:, 1], rtol=1e-5)  # float32


def test_smallest_calibration_set_flags_at_p_equal_alpha(tmp_path):
    # 63 rows x 0.3 -> 19 calibration rows, the minimum for alpha = 0.05: a far query has
    # p = 1/20 = alpha exactly and must be flagged (p <= alpha)
    rng = np.random.default_rng(5)
    _save(tmp_path / "train.csv", rng.normal(size=(63, 2)), ("a", "b"))
    _save(tmp_path / "q.csv", np.array([[50.0, 50.0], [0.0, 0.0]]), ("a", "b"))
    argv = ["depth", "--train", str(tmp_path / "train.csv"), "--queries", str(tmp_path / "q.csv")]
    assert main([*argv, "--method", "mahalanobis", "--out", str(tmp_path / "s.csv")]) == 0
    rows, _, _, verdicts = _read(tmp_path / "s.csv")
    assert rows[0]["p_value"] == "0.05" and list(verdicts) == ["out", "in"]


def test_halfspace_note_when_depth_cannot_flag(tmp_path, capsys):
    rng = np.random.default_rng(2)
    _save(tmp_path / "train.csv", rng.normal(size=(80, 3)))
    _save(tmp_path / "q.csv", rng.normal(size=(3, 3)) + 30.0)
    argv = ["depth", "--train", str(tmp_path / "train.csv"), "--queries", str(tmp_path / "q.csv")]
    assert main([*argv, "--method", "halfspace", "--out", str(tmp_path / "s.csv")]) == 0
    printed = capsys.readouterr().out
    assert "no query can be flagged at this alpha" in printed and "flagged 0 of 3" in printed


def test_spatial_indicator_matches_closed_form(key):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(50, 3)).astype(np.float32)
    q = np.vstack([x[:2], rng.normal(size=(4, 3)) * 3]).astype(np.float32)
    ind = spatial_indicator()
    got = np.asarray(ind.score(ind.fit(key, x), q))
    diff = q[:, None, :].astype(np.float64) - x[None, :, :]
    norm = np.linalg.norm(diff, axis=-1, keepdims=True)
    units = np.where(norm > 0, diff / np.where(norm > 0, norm, 1.0), 0.0)
    exact = np.linalg.norm(units.mean(axis=1), axis=-1)  # 1 - spatial depth
    np.testing.assert_allclose(got, exact, rtol=1e-5, atol=1e-6)


def test_halfspace_indicator_is_exact_in_one_dimension(key):
    x = np.arange(1.0, 11.0, dtype=np.float32)[:, None]
    q = np.array([[0.0], [1.0], [3.5], [5.5], [10.0], [12.0]], dtype=np.float32)
    ind = halfspace_indicator(n_directions=8)
    got = np.asarray(ind.score(ind.fit(key, x), q))
    f_le = np.array([np.mean(x[:, 0] <= z) for z in q[:, 0]])
    f_lt = np.array([np.mean(x[:, 0] < z) for z in q[:, 0]])
    np.testing.assert_allclose(got, 1.0 - np.minimum(f_le, 1.0 - f_lt), atol=1e-6)


def test_help_lists_methods_and_examples(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["depth", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text and "monge_kantorovich" in text and "--calibration-fraction" in text


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(4)
    _save(tmp_path / "train.csv", rng.normal(size=(80, 3)))
    _save(tmp_path / "q.csv", rng.normal(size=(5, 3)))
    return tmp_path


def _depth(folder, *extra, out="s.csv"):
    argv = ["depth", "--train", str(folder / "train.csv"), "--queries", str(folder / "q.csv")]
    return main([*argv, "--method", "mahalanobis", "--out", str(folder / out), *extra])


def _one_line_error(capsys, message):
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("edtjax: error:") and len(err.splitlines()) == 1, err
    assert message in err, err
    assert "Traceback" not in captured.err + captured.out


@pytest.mark.parametrize(
    ("setup", "extra", "message"),
    [
        (lambda f: (f / "train.csv").unlink(), [], "train.csv: no such file"),
        (lambda f: (f / "train.csv").write_text("a,b,c\n1,2\n"), [], "ragged row at line 2"),
        (lambda f: (f / "train.csv").write_text("a,b\n1,2\n3,x\n"), [], "non-numeric cell 'x'"),
        (lambda f: (f / "q.csv").write_text(""), [], "q.csv: empty file"),
        (None, ["--columns", "a,speed"], "missing column(s) ['speed']; the file has ['a', 'b'"),
        (None, ["--columns", "a,,b"], "--columns must be comma-separated names"),
        (
            lambda f: (f / "train.csv").write_text(
                (f / "train.csv").read_text().replace("\n", "\nnan,1,2\n", 1)
            ),
            [],
            "1 row(s) with NaN or infinite values in the used columns (first at line 2)",
        ),
        (
            lambda f: _save(f / "q.csv", np.zeros((2, 2)), ("a", "b")),
            [],
            "q.csv: missing column(s) ['c']; the file has ['a', 'b']",
        ),
        (
            lambda f: _save(f / "q.csv", np.full((2, 3), np.inf)),
            [],
            "q.csv: 2 row(s) with NaN or infinite values",
        ),
        (None, ["--alpha", "0.01"], "--alpha 0.01 needs at least 99"),
        (
            lambda f: _save(f / "train.csv", np.ones((80, 3))),
            [],
            "are constant on the fitting rows",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line(files, capsys, setup, extra, message):
    if setup is not None:
        setup(files)
    assert _depth(files, *extra) == 2
    _one_line_error(capsys, message)
    assert not (files / "s.csv").exists()


def test_existing_output_is_kept_without_force(files, capsys):
    assert _depth(files) == 0
    before = (files / "s.csv").read_bytes()
    _save(files / "q.csv", np.ones((2, 3)))
    capsys.readouterr()
    assert _depth(files) == 2
    _one_line_error(capsys, "output file")
    assert (files / "s.csv").read_bytes() == before
    assert _depth(files, "--force") == 0
    assert (files / "s.csv").read_bytes() != before


def test_unwritable_output_places(files, capsys):
    (files / "plain").write_text("a file, not a folder")
    assert _depth(files, out="plain/s.csv") == 2
    _one_line_error(capsys, "is not a writable folder")
    assert _depth(files, out="") == 2  # the folder itself
    _one_line_error(capsys, "is a folder; give a file name")


def test_argparse_rejects_bad_levels(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["depth", "--train", "t.csv", "--queries", "q.csv", "--out", "s", "--alpha", "1.5"])
    assert exc.value.code == 2
    assert "expected a number in (0, 1)" in capsys.readouterr().err
