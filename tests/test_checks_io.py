"""Shared validation and safe file helpers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax import _checks, _io


def test_as_array_rank_and_finiteness():
    assert _checks.as_array("x", [[1.0, 2.0]], ndim=2).shape == (1, 2)
    with pytest.raises(ValueError, match="x must have 1 dimension"):
        _checks.as_array("x", [[1.0]], ndim=1)
    with pytest.raises(ValueError, match=r"x must be finite, found 2 NaN/inf"):
        _checks.as_array("x", [1.0, np.nan, np.inf])
    with pytest.raises(ValueError, match="x must be a numeric array"):
        _checks.as_array("x", object())


def test_finite_check_skips_tracers():
    @jax.jit
    def f(x):
        _checks.check_finite("x", x)
        return x * 2

    assert float(f(jnp.asarray(1.0))) == 2.0


def test_scalar_checks():
    assert _checks.check_int("n", 3, minimum=1) == 3
    for bad in (0, 2.5, True, "3"):
        with pytest.raises(ValueError, match="n must"):
            _checks.check_int("n", bad, minimum=1)
    with pytest.raises(ValueError, match="beta must be >= 0"):
        _checks.check_real("beta", -1.0, minimum=0.0)
    with pytest.raises(ValueError, match="beta must be finite"):
        _checks.check_real("beta", float("nan"))
    with pytest.raises(ValueError, match="alpha must be > 0"):
        _checks.check_probability("alpha", 0.0)
    with pytest.raises(ValueError, match="L must be even"):
        _checks.check_even("L", 5)
    with pytest.raises(ValueError, match="algo must be one of"):
        _checks.check_choice("algo", "x", ["a", "b"])
    with pytest.raises(ValueError, match="x and y must have the same length"):
        _checks.check_same_length(["x", "y"], np.zeros(3), np.zeros(4))


def test_atomic_arrays_roundtrip_and_no_overwrite(tmp_path):
    path = tmp_path / "a.npz"
    _io.save_arrays(path, {"a": np.arange(3), "b": np.eye(2)})
    out = _io.load_arrays(path)
    np.testing.assert_array_equal(out["a"], np.arange(3))
    with pytest.raises(FileExistsError, match="--force"):
        _io.check_writable(path)
    assert _io.check_writable(path, force=True) == path
    assert [p.name for p in tmp_path.iterdir()] == ["a.npz"]  # no temporary left behind


def test_corrupt_files_are_reported(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"not a readable \.npz"):
        _io.load_arrays(bad)
    good = tmp_path / "good.npz"
    _io.save_arrays(good, {"a": np.arange(1000)})
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:-200])  # must not leak a handle (ResourceWarning)
    with pytest.raises(ValueError, match="not a readable"):
        _io.load_arrays(truncated)
    badj = tmp_path / "bad.json"
    badj.write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        _io.load_json(badj)
    _io.save_json(tmp_path / "ok.json", {"x": 1})
    assert _io.load_json(tmp_path / "ok.json") == {"x": 1}
