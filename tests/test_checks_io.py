"""Shared validation and safe file helpers."""

import io
import os
import stat
import tracemalloc
import zipfile
from pathlib import Path

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


def test_complex_input_is_refused_not_truncated():
    """Before: the imaginary part was dropped silently by the cast to a real dtype."""
    for x in ([1.0 + 2.0j], np.array([1.0, 2.0j]), jnp.array([1.0 + 0j])):
        with pytest.raises(ValueError, match="x must be real, got complex dtype"):
            _checks.as_array("x", x)


def test_finite_values_beyond_the_default_dtype_are_named_as_such():
    """Without float64, 1e200 used to be cast to inf and reported as a NaN/inf entry."""
    x = np.array([1.0, 1e200, -3e39])
    if jax.config.read("jax_enable_x64"):
        assert _checks.as_array("x", x).dtype == jnp.float64
    else:
        with pytest.raises(ValueError, match=r"x has 2 finite entries beyond the float32 range"):
            _checks.as_array("x", x)
    with pytest.raises(ValueError, match="x must be finite, found 1 NaN/inf"):
        _checks.as_array("x", np.array([1.0, np.inf]))


def test_finite_values_of_any_size_pass_in_float64(x64):
    assert float(_checks.as_array("x", np.array([1e200]))[0]) == 1e200


def test_memory_check_names_the_size_and_what_to_reduce():
    _checks.check_memory("a small buffer", 1024, "n")
    total = _checks.device_memory_bytes()
    assert total > 2**20
    with pytest.raises(ValueError, match=r"the traces would need about .* GiB.*reduce num_chains"):
        _checks.check_memory("the traces", total, "num_chains")


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


def test_check_seed_range():
    assert _checks.check_seed("seed", 0) == 0
    assert _checks.check_seed("seed", np.int64(_checks.MAX_SEED)) == 2**63 - 2
    for bad in (-1, 2**63 - 1, 2**80, 10**100):
        with pytest.raises(ValueError, match=r"seed must be an integer in \[0, 2\*\*63 - 2\]"):
            _checks.check_seed("seed", bad)
    with pytest.raises(ValueError, match="seed must be an integer"):
        _checks.check_seed("seed", 1.0)


def _npy_claiming(shape, payload=b"\0" * 64):
    """The bytes of an .npy stream whose header declares ``shape`` float64 over ``payload``."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "<f8", "fortran_order": False, "shape": shape}
    )
    return buf.getvalue() + payload


def test_npz_header_claiming_terabytes_is_refused_before_allocating(tmp_path):
    path = tmp_path / "claims.npz"
    with zipfile.ZipFile(path, "w") as archive:  # 8 TB declared in a 300-byte file
        archive.writestr("x.npy", _npy_claiming((10**12,)))
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"claims\.npz: array 'x' declares shape") as info:
            _io.load_arrays(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "7.28 TiB" in str(info.value) and "\n" not in str(info.value)
    assert peak < 2**20  # nothing of the declared size was asked for (before: MemoryError)


def test_npz_decompressing_past_the_limit_is_refused_before_decompressing(tmp_path):
    path = tmp_path / "bomb.npz"
    raw = io.BytesIO()
    np.save(raw, np.zeros(2**23))  # 64 MiB of zeros, about 65 KB deflated
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("x.npy", raw.getvalue())
    assert path.stat().st_size < 2**17
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="declare 64 MiB uncompressed, over the limit of 16"):
            _io.load_arrays(path, max_bytes=16 * 2**20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20
    assert _io.load_arrays(path)["x"].shape == (2**23,)  # under the default 2 GiB limit
    assert _io.MAX_READ_BYTES == 2 * 1024**3
    with pytest.raises(ValueError, match="max_bytes must be an integer >= 1"):
        _io.load_arrays(path, max_bytes=0)


def test_npz_of_python_objects_is_refused(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, x=np.array([{"a": 1}], dtype=object))
    message = r"objects\.npz is not a readable \.npz file: array 'x' holds Python objects"
    with pytest.raises(ValueError, match=message):
        _io.load_arrays(path)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero and /dev/urandom")
def test_devices_pipes_and_folders_are_refused_without_reading(tmp_path):
    (tmp_path / "zero.csv").symlink_to("/dev/zero")
    (tmp_path / "random.npz").symlink_to("/dev/urandom")
    os.mkfifo(tmp_path / "pipe.csv")  # opening it would block: it must not be opened
    with pytest.raises(ValueError, match=r"zero\.csv: a character device, expected a regular"):
        _io.read_text(tmp_path / "zero.csv")
    with pytest.raises(ValueError, match=r"random\.npz: a character device"):
        _io.load_arrays(tmp_path / "random.npz")
    with pytest.raises(ValueError, match=r"pipe\.csv: a pipe"):
        _io.read_text(tmp_path / "pipe.csv")
    with pytest.raises(ValueError, match="is a folder"):
        _io.load_arrays(tmp_path)
    with pytest.raises(ValueError, match="no such file"):
        _io.read_text(tmp_path / "absent.csv")
    (tmp_path / "real.csv").write_text("a\n1\n")
    (tmp_path / "link.csv").symlink_to(tmp_path / "real.csv")  # a link to a file is fine
    assert _io.read_text(tmp_path / "link.csv") == "a\n1\n"


def test_read_text_is_bounded_and_translates_newlines(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"a,b\r\n1,2\r3,4\n")
    assert _io.read_text(path) == "a,b\n1,2\n3,4\n"
    with pytest.raises(ValueError, match=r"t\.csv: 13 bytes, over the limit of 10 bytes"):
        _io.read_text(path, max_bytes=10)
    with pytest.raises(ValueError, match="over the limit"):
        _io.load_json(path, max_bytes=10)


def _leave_temporary(path):
    """What a process killed inside atomic_write_bytes leaves behind."""
    fd, tmp = _io._create_temporary(path)
    os.write(fd, b"partial")
    os.close(fd)
    return Path(tmp)


def test_remove_temporaries_removes_only_those_of_the_file(tmp_path):
    path = tmp_path / "run.npz"
    left = [_leave_temporary(path), tmp_path / ".run.npz.a1b2c3d4.tmp"]  # new and mkstemp names
    left[1].write_bytes(b"old")
    kept = [tmp_path / ".run.npz.notes", tmp_path / ".other.npz.a1b2c3d4.tmp", tmp_path / "x.tmp"]
    for p in kept:
        p.write_text("keep")
    assert sorted(_io.remove_temporaries(path)) == sorted(left)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in kept)
    assert _io.remove_temporaries(tmp_path / "absent" / "x.npz") == []


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_written_files_follow_the_umask_like_open(tmp_path, umask):
    old = os.umask(umask)
    try:
        _io.save_arrays(tmp_path / "a.npz", {"a": np.arange(3)})
        _io.save_json(tmp_path / "b.json", {"b": 1})
        with open(tmp_path / "c.txt", "w") as fh:  # the reference: what open() gives
            fh.write("c")
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert modes == dict.fromkeys(["a.npz", "b.json", "c.txt"], 0o666 & ~umask)  # before: 0o600


def test_constant_columns_is_exact_and_skips_tracers():
    x = np.array([[0.1, 1.0, 2.0], [0.1, 1.0, 2.0 + 1e-15], [0.1, 1.0, 2.0]])
    assert _checks.constant_columns(x) == 2  # 2 + 1e-15 differs from 2 in float64
    assert _checks.constant_columns(np.ones((1, 4))) == 4
    assert _checks.constant_columns(jnp.arange(6.0).reshape(3, 2)) == 0
    # float32 std of a constant column of 0.1 is not 0 (rounding of the mean); the count is exact
    col = jnp.full((1000, 1), 0.1, jnp.float32)
    assert _checks.constant_columns(col) == 1
    assert jax.jit(lambda z: jnp.asarray(_checks.constant_columns(z)))(col) == 0
