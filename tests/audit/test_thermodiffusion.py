"""The built-in thermodiffusion audit case: shapes, the shifted queries and the simulator."""

import chex
import jax
import numpy as np
import pytest

from edtjax.audit import AuditData, audit_preset, pellet_simulator, thermodiffusion_case
from edtjax.audit.config import config_from_mapping
from edtjax.simulators import DEFAULT_INPUT_BOX

# A small configuration: coarse solver, few points (the solver's accuracy is tested elsewhere).
CONFIG = config_from_mapping(
    {"case": {"n_design": 64, "n_queries": 40, "shift_inputs": ("heat_source", "radius")}},
    audit_preset("quick"),
)
CASE = CONFIG.case


@pytest.fixture(scope="module")
def case():
    return thermodiffusion_case(jax.random.key(0), CONFIG, progress=False)


def test_shapes_names_and_box(case):
    assert isinstance(case, AuditData)
    n, d = case.x.shape
    assert d == len(DEFAULT_INPUT_BOX) and case.input_names == tuple(DEFAULT_INPUT_BOX)
    assert case.output_names == ("centre_temperature", "centre_x")
    chex.assert_shape(case.y, (n, 2))
    chex.assert_shape(case.queries_y, (case.queries.shape[0], 2))
    # Non-converged runs are dropped, and there are few of them inside the box.
    assert CASE.n_design - 4 <= n <= CASE.n_design
    assert CASE.n_queries - 8 <= case.queries.shape[0] <= CASE.n_queries
    assert np.isfinite(case.y).all() and np.isfinite(case.queries_y).all()
    assert case.box == {k: tuple(v) for k, v in DEFAULT_INPUT_BOX.items()}
    lo = np.array([v[0] for v in DEFAULT_INPUT_BOX.values()])
    hi = np.array([v[1] for v in DEFAULT_INPUT_BOX.values()])
    assert np.all((case.x >= lo) & (case.x <= hi))
    # Physical sanity: the centre is hotter than the surface.
    assert np.all(case.y[:, 0] > case.x[:, 1])


def test_shifted_queries_lie_outside_the_box(case):
    # the case says so itself: the report then evaluates detection rates and AUROC on them
    assert case.queries_shifted is True
    names = case.input_names
    for j, name in enumerate(names):
        lo, hi = DEFAULT_INPUT_BOX[name]
        column = case.queries[:, j]
        if name in CASE.shift_inputs:
            width = hi - lo
            assert np.all(column >= hi) and np.all(column <= hi + CASE.shift_distance * width)
        else:
            assert np.all((column >= lo) & (column <= hi))


def test_simulator_is_batched_and_reproduces_the_data(case):
    rows = np.concatenate([case.x[:3], case.queries[:2]])
    y = case.simulator(rows)
    chex.assert_shape(y, (5, 2))
    np.testing.assert_allclose(y, np.concatenate([case.y[:3], case.queries_y[:2]]), rtol=1e-6)
    with pytest.raises(ValueError, match="x must have shape"):
        case.simulator(np.zeros((2, 3)))
    f = pellet_simulator(CONFIG)
    np.testing.assert_allclose(f(rows), y, rtol=1e-6)


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"case\.shift_inputs names"):
        thermodiffusion_case(
            jax.random.key(0),
            CONFIG,
            {"heat_source": (1e8, 3e8), "surface_temperature": (600.0, 800.0)},
            progress=False,
        )
    with pytest.raises(ValueError, match="AuditConfig"):
        thermodiffusion_case(jax.random.key(0), {"n_design": 8})
