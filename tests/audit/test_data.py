"""Reading user tables (.csv, .npz) and building AuditData from them; every bad-input case."""

import chex
import numpy as np
import pytest

from edtjax._io import save_arrays
from edtjax.audit import AuditData
from edtjax.audit.data import load_user_data, read_table


def _write(path, text):
    path.write_text(text)
    return path


def test_csv_with_comments_blank_lines_quotes_and_spaces(tmp_path):
    path = _write(
        tmp_path / "runs.CSV",
        '# produced by "a solver, v2\n# line 2\n\n"a", b ,c\n1, 2.5,-3e2\n'
        "# a comment between rows\n4,5,6\n\n7,8,9\n",
    )
    values, names = read_table(path)
    assert names == ("a", "b", "c")
    chex.assert_type(values, np.float64)
    np.testing.assert_array_equal(values, [[1, 2.5, -300], [4, 5, 6], [7, 8, 9]])
    values, names = read_table(path, ["c", "a"])
    assert names == ("c", "a")
    np.testing.assert_array_equal(values, [[-300, 1], [6, 4], [9, 7]])


def test_npz_one_array_per_column_keeps_order_and_values(tmp_path):
    rng = np.random.default_rng(0)
    cols = {"z": rng.normal(size=5), "a": np.arange(5), "m": rng.normal(size=5).astype(np.float32)}
    save_arrays(tmp_path / "t.npz", cols)
    values, names = read_table(tmp_path / "t.npz")
    assert names == ("z", "a", "m")
    np.testing.assert_array_equal(values, np.stack([cols["z"], cols["a"], cols["m"]], axis=1))


def test_npz_data_and_columns_layout(tmp_path):
    data = np.arange(12.0).reshape(4, 3)
    save_arrays(tmp_path / "t.npz", {"data": data, "columns": np.array(["x", "y", "out"])})
    values, names = read_table(tmp_path / "t.npz", ["out"])
    assert names == ("out",)
    np.testing.assert_array_equal(values[:, 0], data[:, 2])


def test_csv_and_npz_give_the_same_table(tmp_path):
    rng = np.random.default_rng(1)
    data = rng.normal(size=(20, 3))
    lines = ["p,q,r"] + [",".join(repr(float(v)) for v in row) for row in data]
    _write(tmp_path / "t.csv", "\n".join(lines) + "\n")
    save_arrays(tmp_path / "t.npz", {"data": data, "columns": np.array(["p", "q", "r"])})
    csv_values, csv_names = read_table(tmp_path / "t.csv")
    npz_values, npz_names = read_table(tmp_path / "t.npz")
    assert csv_names == npz_names
    np.testing.assert_array_equal(csv_values, data)  # repr round-trips float64 exactly
    np.testing.assert_array_equal(npz_values, data)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("e.csv", "", "empty file"),
        ("e.csv", "# only a comment\n\n", "empty file"),
        ("h.csv", "1,2\n3,4\n", "no header row: line 1 holds numbers"),
        ("r.csv", "a,b\n1,2\n3\n", "ragged row at line 3: 1 fields, expected 2"),
        ("n.csv", "a,b\n1,2\n3,x7\n", "non-numeric cell 'x7' at line 3, column 'b'"),
        ("m.csv", "a,b\n1,\n3,4\n", "an empty cell at line 2, column 'b'"),
        ("d.csv", "a,b,a\n1,2,3\n4,5,6\n", "duplicate column names ['a']"),
        ("v.csv", "a,,c\n1,2,3\n4,5,6\n", "empty column name(s) at position(s) [2]"),
        ("f.csv", "a,b\n1,2\n", "1 data row(s), need at least 2"),
        ("z.csv", "a,b\n", "0 data row(s), need at least 2"),
        (
            "nan.csv",
            "a,b\n1,2\nnan,4\n5,6\n7,inf\n8,-inf\n",
            "3 row(s) with NaN or infinite values in the used columns (first at line 3, line 5, "
            "line 6)",
        ),
        ("t.txt", "a,b\n1,2\n", "unknown extension '.txt'; expected .csv or .npz"),
        ("s.csv", "a;b\n1;2\n3;4\n", "header on line 1 is separated by semicolons"),
        ("tab.csv", "a\tb\n1\t2\n3\t4\n", "header on line 1 is separated by tabs"),
    ],
)
def test_bad_csv_files_raise_one_line_naming_file(tmp_path, name, text, message):
    path = _write(tmp_path / name, text)
    with pytest.raises(ValueError) as err:
        read_table(path)
    text = str(err.value)
    assert message in text and str(path) in text and "\n" not in text


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        read_table(tmp_path / "absent.csv")
    with pytest.raises(ValueError, match="is a folder"):
        read_table(tmp_path)


def test_missing_columns_list_them_and_the_available_ones(tmp_path):
    path = _write(tmp_path / "t.csv", "a,b\n1,2\n3,4\n")
    with pytest.raises(ValueError) as err:
        read_table(path, ["a", "c", "d"])
    assert "missing column(s) ['c', 'd']; the file has ['a', 'b']" in str(err.value)


def test_nan_in_an_unused_column_is_allowed(tmp_path):
    path = _write(tmp_path / "t.csv", "a,b\n1,nan\n3,4\n")
    values, _ = read_table(path, ["a"])
    np.testing.assert_array_equal(values[:, 0], [1, 3])


def test_text_in_an_unused_column_is_ignored(tmp_path):
    # the queries file may carry labels or notes: only the used columns must be numbers
    path = _write(tmp_path / "t.csv", 'a,note,b\n1,first run,2\n3,"x, with a comma",4\n')
    values, names = read_table(path, ["b", "a"])
    np.testing.assert_array_equal(values, [[2, 1], [4, 3]])
    assert names == ("b", "a")
    with pytest.raises(ValueError, match="non-numeric cell 'first run' at line 2, column 'note'"):
        read_table(path)  # every column is used
    np.savez(tmp_path / "t.npz", a=np.array([1.0, 2.0]), note=np.array(["x", "y"]))
    values, _ = read_table(tmp_path / "t.npz", ["a"])
    np.testing.assert_array_equal(values[:, 0], [1, 2])


def test_load_user_data_ignores_text_columns_of_the_queries(tmp_path):
    path, _, _ = _runs(tmp_path)
    _write(tmp_path / "q.csv", "w,note,u,y2\n0.1,run A,0.2,5\n0.3,run B,0.4,6\n")
    data = load_user_data(path, ["u", "w"], ["y2"], tmp_path / "q.csv")
    np.testing.assert_array_equal(data.queries, [[0.2, 0.1], [0.4, 0.3]])
    np.testing.assert_array_equal(data.queries_y, [[5.0], [6.0]])
    _write(tmp_path / "bad.csv", "w,u\n0.1,oops\n")
    with pytest.raises(ValueError, match="non-numeric cell 'oops' at line 2, column 'u'"):
        load_user_data(path, ["u", "w"], ["y2"], tmp_path / "bad.csv")


def test_non_utf8_and_malformed_quotes(tmp_path):
    (tmp_path / "bin.csv").write_bytes(b"a,b\n\xff\xfe,1\n")
    with pytest.raises(ValueError, match="not a UTF-8 text file"):
        read_table(tmp_path / "bin.csv")
    _write(tmp_path / "q.csv", 'a,b\n1,"2\n')
    with pytest.raises(ValueError, match="malformed CSV"):
        read_table(tmp_path / "q.csv")


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({}, "empty file"),
        ({"a": np.zeros(3), "b": np.zeros(4)}, "columns have different lengths"),
        ({"a": np.zeros((3, 2))}, "column 'a' must be a 1-D array"),
        ({"a": np.array(["x", "y"])}, "array 'a' has dtype <U1, expected numbers"),
        (
            {"data": np.array([["1", "x"]]), "columns": np.array(["a", "b"])},
            "array \"data[:, 0] ('a')\" has dtype <U1, expected numbers",
        ),
        ({"data": np.zeros((3, 2))}, "needs exactly the arrays 'data' (2-D) and 'columns'"),
        (
            {"data": np.zeros((3, 2)), "columns": np.array(["a", "b", "c"])},
            "'data' must have shape (n, 3)",
        ),
        ({"data": np.zeros((3, 2)), "columns": np.array([1, 2])}, "1-D array of strings"),
        ({"data": np.zeros((3, 2)), "columns": np.array(["a", "a"])}, "duplicate column names"),
        ({"a": np.array([1.0, np.nan, 2.0, np.inf])}, "2 row(s) with NaN or infinite values"),
    ],
)
def test_bad_npz_files(tmp_path, arrays, message):
    path = tmp_path / "t.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError) as err:
        read_table(path)
    assert message in str(err.value) and str(path) in str(err.value)


def test_npz_nan_rows_are_reported_by_index(tmp_path):
    np.savez(tmp_path / "t.npz", a=np.array([1.0, 2.0, np.nan, 3.0]), b=np.arange(4.0))
    with pytest.raises(ValueError, match=r"1 row\(s\) .* \(first at row 2\)"):
        read_table(tmp_path / "t.npz")


def test_corrupt_and_pickled_npz_are_refused(tmp_path):
    (tmp_path / "c.npz").write_bytes(b"not a zip archive")
    with pytest.raises(ValueError, match=r"not a readable \.npz"):
        read_table(tmp_path / "c.npz")
    np.savez(tmp_path / "o.npz", a=np.array([{"x": 1}, None], dtype=object))
    with pytest.raises(ValueError, match=r"not a readable \.npz"):
        read_table(tmp_path / "o.npz")


def _runs(tmp_path, n=8):
    rng = np.random.default_rng(2)
    x = rng.uniform(size=(n, 3))
    y = np.stack([x.sum(axis=1), x[:, 0] * x[:, 1]], axis=1)
    lines = ["u,v,w,y1,y2"] + [",".join(repr(float(v)) for v in row) for row in np.hstack([x, y])]
    return _write(tmp_path / "runs.csv", "\n".join(lines) + "\n"), x, y


def test_load_user_data_defaults_inputs_to_the_other_columns(tmp_path):
    path, x, y = _runs(tmp_path)
    data = load_user_data(path, None, ["y1", "y2"])
    assert isinstance(data, AuditData)
    assert data.name == "runs" and data.input_names == ("u", "v", "w")
    assert data.output_names == ("y1", "y2")
    np.testing.assert_array_equal(data.x, x)
    np.testing.assert_array_equal(data.y, y)
    assert data.queries is None and data.queries_y is None
    assert data.simulator is None and data.box is None


def test_load_user_data_with_queries_with_and_without_outputs(tmp_path):
    path, _, _ = _runs(tmp_path)
    _write(tmp_path / "q.csv", "w,extra,u\n0.1,9,0.2\n")
    data = load_user_data(path, ["u", "w"], "y2", tmp_path / "q.csv")
    chex.assert_shape(data.x, (8, 2))
    chex.assert_shape(data.y, (8, 1))
    np.testing.assert_array_equal(data.queries, [[0.2, 0.1]])
    assert data.queries_y is None
    save_arrays(tmp_path / "q.npz", {"u": [0.5, 0.6], "w": [1.0, 2.0], "y2": [3.0, 4.0]})
    data = load_user_data(path, ["u", "w"], ["y2"], tmp_path / "q.npz")
    np.testing.assert_array_equal(data.queries, [[0.5, 1.0], [0.6, 2.0]])
    np.testing.assert_array_equal(data.queries_y, [[3.0], [4.0]])


@pytest.mark.parametrize(
    ("inputs", "outputs", "message"),
    [
        (["u", "v"], [], "outputs must name at least one output column"),
        (["u", "y1"], ["y1"], "columns ['y1'] are named both as inputs and as outputs"),
        ([], ["y1"], "inputs must name at least one input column"),
        (None, ["u", "v", "w", "y1", "y2"], "no input columns left"),
        (["u", "u"], ["y1"], "inputs names the same column more than once: ['u']"),
        (["u", "speed"], ["y1"], "missing column(s) ['speed']; the file has ['u', 'v', 'w', "),
        (["u"], [3], "outputs must be a list of column names"),
    ],
)
def test_load_user_data_bad_names(tmp_path, inputs, outputs, message):
    path, _, _ = _runs(tmp_path)
    with pytest.raises(ValueError) as err:
        load_user_data(path, inputs, outputs)
    assert message in str(err.value)


def test_load_user_data_needs_enough_rows(tmp_path):
    path, _, _ = _runs(tmp_path, n=4)
    with pytest.raises(ValueError, match=r"4 data row\(s\), need at least 5"):
        load_user_data(path, None, ["y1", "y2"])  # d = 3 inputs need d + 2 = 5 rows
    chex.assert_shape(load_user_data(path, None, ["y1", "y2"], min_rows=4).x, (4, 3))
    with pytest.raises(ValueError, match="min_rows must be an integer >= 2"):
        load_user_data(path, None, ["y1"], min_rows=1)


def test_load_user_data_bad_queries(tmp_path):
    path, _, _ = _runs(tmp_path)
    _write(tmp_path / "q1.csv", "u,v\n0.1,0.2\n")
    with pytest.raises(ValueError) as err:
        load_user_data(path, None, ["y1"], tmp_path / "q1.csv")
    assert "queries must have the 4 input column(s) ['u', 'v', 'w', 'y2']; missing ['w', 'y2']" in (
        str(err.value)
    )
    _write(tmp_path / "q2.csv", "u,v,w,y1\n0.1,0.2,0.3,1\n")
    with pytest.raises(ValueError, match=r"output column\(s\) \['y1'\] but not \['y2'\]"):
        load_user_data(path, None, ["y1", "y2"], tmp_path / "q2.csv")
    _write(tmp_path / "q3.csv", "u,v,w\n0.1,0.2,0.3\n0.1,inf,0.3\n")
    with pytest.raises(ValueError, match=r"q3.csv: 1 row\(s\) with NaN .* line 3"):
        load_user_data(path, None, ["y1", "y2"], tmp_path / "q3.csv")
    with pytest.raises(ValueError, match="no such file"):
        load_user_data(path, None, ["y1", "y2"], tmp_path / "absent.csv")


def test_csv_linked_to_an_endless_device_is_refused(tmp_path):
    """Before: read without limit until a MemoryError."""
    link = tmp_path / "runs.csv"
    link.symlink_to("/dev/zero")
    with pytest.raises(ValueError, match=r"runs\.csv"):
        read_table(link)
