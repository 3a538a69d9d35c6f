"""Solver settings: validation and the time grid against its closed form."""

import numpy as np
import pytest

from edtjax.simulators import SolverConfig, check_solver_config, solver_time_grid


def test_solver_time_grid_closed_form():
    grid = solver_time_grid(SolverConfig(n_steps=10, end_time=5.0, step_growth=1.5))
    steps = np.diff(grid)
    assert grid[0] == 0.0 and grid.shape == (11,)
    np.testing.assert_allclose(grid[-1], 5.0, rtol=1e-14)
    np.testing.assert_allclose(steps[1:] / steps[:-1], 1.5, rtol=1e-13)
    np.testing.assert_array_equal(
        solver_time_grid(SolverConfig(n_steps=4, end_time=2.0, step_growth=1.0)),
        [0.0, 0.5, 1.0, 1.5, 2.0],
    )
    assert solver_time_grid(None, np.float32).dtype == np.float32
    with pytest.raises(ValueError, match="n_cells"):
        solver_time_grid(SolverConfig(n_cells=2))
    with pytest.raises(ValueError, match="config must be a SolverConfig"):
        check_solver_config({"n_cells": 8})
    assert check_solver_config(None) == SolverConfig()


def test_checked_config_hashes_by_value():
    # profile times given as ints or a list become a tuple of floats: one compilation serves
    # equal settings however they were written
    checked = check_solver_config(SolverConfig(profile_times=[1, 2]))
    assert checked.profile_times == (1.0, 2.0)
    assert hash(checked) == hash(SolverConfig(profile_times=(1.0, 2.0)))
