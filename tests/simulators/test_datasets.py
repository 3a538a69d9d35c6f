"""Designs, shifted sets, and the thermodiffusion data sets through a split and storage."""

import jax
import numpy as np
import pytest
from scipy.stats import qmc

from edtjax.datasets import load_dataset, save_dataset, split_dataset
from edtjax.simulators import (
    DEFAULT_INPUT_BOX,
    SolverConfig,
    build_pellet_dataset,
    design_to_inputs,
    shifted_design,
    simulate_pellet_batch,
    sobol_design,
)


def test_sobol_design_in_box_low_discrepancy_and_deterministic(key):
    design, names = sobol_design(key, DEFAULT_INPUT_BOX, 256)
    assert names == tuple(DEFAULT_INPUT_BOX)
    lo = np.array([v[0] for v in DEFAULT_INPUT_BOX.values()])
    hi = np.array([v[1] for v in DEFAULT_INPUT_BOX.values()])
    assert np.all((design >= lo) & (design <= hi))
    unit = (design - lo) / (hi - lo)
    # Scrambled Sobol' has far lower discrepancy than i.i.d. uniform points (same n, d); the
    # i.i.d. reference is the mean over 20 fixed draws.
    rng = np.random.default_rng(0)
    iid = np.mean([qmc.discrepancy(rng.random(unit.shape)) for _ in range(20)])
    assert qmc.discrepancy(unit) < 0.5 * iid
    again, _ = sobol_design(key, DEFAULT_INPUT_BOX, 256)
    np.testing.assert_array_equal(design, again)
    other, _ = sobol_design(jax.random.key(1), DEFAULT_INPUT_BOX, 256)
    assert not np.allclose(design, other)
    assert sobol_design(key, DEFAULT_INPUT_BOX, 5)[0].shape == (5, 6)


def test_shifted_design_extrapolates_only_named_inputs(key):
    shift = {"heat_source": (3.5e8, 4.5e8), "surface_temperature": (500.0, 600.0)}
    design, names = shifted_design(key, DEFAULT_INPUT_BOX, shift, 64)
    col = {n: design[:, j] for j, n in enumerate(names)}
    assert np.all(col["heat_source"] >= 3.5e8) and np.all(col["surface_temperature"] <= 600.0)
    lo, hi = DEFAULT_INPUT_BOX["radius"]
    assert np.all((col["radius"] >= lo) & (col["radius"] <= hi))
    with pytest.raises(ValueError, match="overlaps"):
        shifted_design(key, DEFAULT_INPUT_BOX, {"radius": (4e-3, 5e-3)}, 8)
    with pytest.raises(ValueError, match="unknown input names"):
        shifted_design(key, DEFAULT_INPUT_BOX, {"pressure": (1.0, 2.0)}, 8)


def test_bad_box_and_design_arguments(key):
    with pytest.raises(ValueError, match="low < high"):
        sobol_design(key, {"radius": (5e-3, 4e-3)}, 8)
    with pytest.raises(ValueError, match="n must be"):
        sobol_design(key, DEFAULT_INPUT_BOX, 0)
    with pytest.raises(ValueError, match="design must have shape"):
        design_to_inputs(np.zeros((3, 2)), ("radius",))


def test_build_split_save_load_roundtrip(key, tmp_path):
    cfg = SolverConfig(n_cells=8, n_steps=30, end_time=1e8)
    ds = build_pellet_dataset(key, 8, config=cfg)
    assert ds.inputs.shape == (8, 6) and ds.outputs.shape == (8, 3)
    assert ds.converged.all()
    # The stored outputs are those of a direct batched simulation of the same design.
    res = simulate_pellet_batch(design_to_inputs(ds.inputs, ds.input_names), cfg)
    np.testing.assert_allclose(ds.outputs[:, 0], res.centre_temperature[:, -1], rtol=1e-6)
    train, val, test = split_dataset(jax.random.key(3), ds, (0.5, 0.25, 0.25))
    assert len(train.inputs) + len(val.inputs) + len(test.inputs) == 8
    path = save_dataset(tmp_path / "train.npz", train)
    back = load_dataset(path)
    np.testing.assert_array_equal(back.inputs, train.inputs)
    assert back.input_names == train.input_names and back.metadata["split"] == "train"
    with pytest.raises(FileExistsError):
        save_dataset(tmp_path / "train.npz", train)
    save_dataset(tmp_path / "train.npz", val, force=True)
    assert len(load_dataset(path).inputs) == len(val.inputs)
    with pytest.raises(ValueError, match=r"\.npz"):
        save_dataset(tmp_path / "x.csv", ds)


def test_shifted_dataset(key):
    cfg = SolverConfig(n_cells=8, n_steps=30, end_time=1e8)
    ds = build_pellet_dataset(key, 4, shift={"heat_source": (3.5e8, 4.0e8)}, config=cfg)
    assert np.all(ds.inputs[:, 0] >= 3.5e8) and ds.metadata["shift"] is not None
    # Hotter pellets than any training point: centre temperature above the box's maximum
    # heat source run at the same other inputs is not required, but it is hotter than 700 K.
    assert np.all(ds.outputs[:, 0] > 800.0)
