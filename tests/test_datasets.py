"""The neutral data set: splits, storage, refusal of corrupt files, files of earlier versions."""

from pathlib import Path

import jax
import numpy as np
import pytest

from edtjax.datasets import Dataset, load_dataset, save_dataset, split_dataset, split_indices
from edtjax.simulators import DEFAULT_INPUT_BOX, sobol_design

DATA = Path(__file__).parent / "data"


def _table(n):
    rows = np.arange(n, dtype=float)
    return Dataset(
        inputs=np.stack([rows, -rows], axis=1),
        outputs=rows[:, None] ** 2,
        converged=rows % 3 != 0,
        within_validity=rows % 2 == 0,
        input_names=("a", "b"),
        output_names=("a_squared",),
        metadata={"kind": "table", "n": n},
    )


def test_split_indices_partition(key):
    tr, va, te = split_indices(key, 101, (0.6, 0.2, 0.2))
    assert (len(tr), len(va), len(te)) == (60, 20, 21)
    np.testing.assert_array_equal(np.sort(np.concatenate([tr, va, te])), np.arange(101))
    with pytest.raises(ValueError, match="sum to 1"):
        split_indices(key, 10, (0.5, 0.2, 0.2))
    with pytest.raises(ValueError, match="empty split"):
        split_indices(key, 3, (0.8, 0.1, 0.1))
    with pytest.raises(ValueError, match="three positive"):
        split_indices(key, 10, (0.5, 0.5))


def test_split_keeps_rows_aligned_and_records_the_part(key):
    ds = _table(20)
    parts = split_dataset(key, ds, (0.5, 0.25, 0.25))
    assert [len(p.inputs) for p in parts] == [10, 5, 5]
    for name, part in zip(("train", "validation", "test"), parts, strict=True):
        # Every column of a row moves together: the row index is recoverable from any of them.
        rows = part.inputs[:, 0]
        np.testing.assert_array_equal(part.inputs[:, 1], -rows)
        np.testing.assert_array_equal(part.outputs[:, 0], rows**2)
        np.testing.assert_array_equal(part.converged, rows % 3 != 0)
        np.testing.assert_array_equal(part.within_validity, rows % 2 == 0)
        assert part.metadata == {"kind": "table", "n": len(rows), "split": name}
    np.testing.assert_array_equal(
        np.sort(np.concatenate([p.inputs[:, 0] for p in parts])), np.arange(20.0)
    )


def test_save_load_round_trip_and_refusals(tmp_path):
    ds = _table(6)
    path = save_dataset(tmp_path / "table.npz", ds)
    assert (tmp_path / "table.json").is_file()
    back = load_dataset(path)
    assert isinstance(back, Dataset)
    for field in ("inputs", "outputs", "converged", "within_validity"):
        np.testing.assert_array_equal(getattr(back, field), getattr(ds, field))
        assert getattr(back, field).dtype == getattr(ds, field).dtype
    assert back.input_names == ds.input_names and back.output_names == ds.output_names
    assert back.metadata == ds.metadata
    with pytest.raises(FileExistsError):
        save_dataset(path, ds)
    save_dataset(path, _table(4), force=True)
    assert len(load_dataset(path).inputs) == 4
    with pytest.raises(ValueError, match=r"\.npz"):
        save_dataset(tmp_path / "x.csv", ds)


def test_corrupt_files_are_refused(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError):
        load_dataset(tmp_path / "bad.npz")
    save_dataset(tmp_path / "names.npz", _table(3))
    (tmp_path / "names.json").write_text('{"input_names": ["a", "b"], "metadata": {}}')
    with pytest.raises(ValueError, match="not an edtjax data set"):
        load_dataset(tmp_path / "names.npz")
    broken = _table(2)._replace(outputs=np.zeros((3, 1)))
    save_dataset(tmp_path / "broken.npz", broken)
    with pytest.raises(ValueError, match="shapes"):
        load_dataset(tmp_path / "broken.npz")


def test_reads_a_thermodiffusion_file_of_an_earlier_version():
    # Written by edtjax 0.1.0 (then a PelletDataset): build_pellet_dataset(jax.random.key(0), 4,
    # config=SolverConfig(n_cells=8, n_steps=20)) saved with save_dataset.
    ds = load_dataset(DATA / "pellet_dataset_v0.npz")
    design, _ = sobol_design(jax.random.key(0), DEFAULT_INPUT_BOX, 4)
    np.testing.assert_array_equal(ds.inputs, design)
    assert ds.input_names == tuple(DEFAULT_INPUT_BOX)
    assert ds.output_names == ("centre_temperature", "centre_x", "log10_time_to_steady")
    assert ds.outputs.shape == (4, 3) and ds.outputs.dtype == np.float32
    assert np.all(np.isfinite(ds.outputs)) and ds.converged.all() and ds.within_validity.all()
    assert ds.metadata["config"]["n_cells"] == 8 and ds.metadata["shift"] is None


def test_reads_an_ising_file_of_an_earlier_version():
    # Written by edtjax 0.1.0: ising_configuration_dataset(jax.random.key(0), 4, [0.2, 0.5], 3,
    # num_chains=1, pilot_sweeps=20) saved with save_dataset.
    ds = load_dataset(DATA / "ising_dataset_v0.npz")
    assert ds.inputs.dtype == np.int8 and ds.inputs.shape == (6, 16)
    assert ds.input_names == tuple(f"s_{i}_{j}" for i in range(4) for j in range(4))
    assert ds.output_names == ("energy", "magnetisation", "beta")
    # The labels are those of the stored configurations (exact: multiples of 1/16).
    spins = ds.inputs.reshape(-1, 4, 4).astype(float)
    bonds = spins * (np.roll(spins, 1, axis=1) + np.roll(spins, 1, axis=2))
    np.testing.assert_array_equal(ds.outputs[:, 0], -bonds.sum(axis=(1, 2)) / 16)
    np.testing.assert_array_equal(ds.outputs[:, 1], spins.mean(axis=(1, 2)))
    np.testing.assert_array_equal(ds.outputs[:, 2], np.repeat(np.float32([0.2, 0.5]), 3))
    assert ds.metadata["kind"] == "ising_configurations" and ds.metadata["thin"] == [3, 4]
