"""Sobol' indices of a NumPy simulator, batch by batch, against closed forms."""

import jax
import numpy as np
import pytest

from edtjax.sensitivity import simulator_sobol_indices
from edtjax.simulators import ishigami, ishigami_indices


def _box(lows, highs):
    return lambda u: lows + np.asarray(u) * (highs - lows)


@pytest.mark.slow
def test_batches_give_the_same_indices_and_match_ishigami(x64):
    lows, highs = np.full(3, -np.pi), np.full(3, np.pi)
    key = jax.random.key(5)
    kwargs = {"second_order": True, "to_inputs": _box(lows, highs)}
    small = simulator_sobol_indices(key, ishigami, 3, 2048, batch_size=1000, **kwargs)
    whole = simulator_sobol_indices(key, ishigami, 3, 2048, **kwargs)
    np.testing.assert_array_equal(small.first_order, whole.first_order)
    exact = ishigami_indices()
    # 5 standard errors per index: false failure < 1e-6
    assert np.all(np.abs(small.first_order - exact.first_order) <= 5 * small.first_order_stderr)
    assert np.all(np.abs(small.total_order - exact.total_order) <= 5 * small.total_order_stderr)
    assert (
        abs(small.second_order[0, 2] - exact.second_order[0, 2])
        <= 5 * (small.second_order_stderr[0, 2])
    )


def test_vector_outputs_keep_their_axis_after_the_input_axis(x64):
    """y = (x0, x0 + x1) on independent uniforms: S = [[1, 0.5], [0, 0.5]] exactly."""
    est = simulator_sobol_indices(
        jax.random.key(1), lambda x: np.stack([x[:, 0], x[:, 0] + x[:, 1]], 1), 2, 4096
    )
    assert est.first_order.shape == (2, 2)
    exact = np.array([[1.0, 0.5], [0.0, 0.5]])
    assert np.all(np.abs(est.first_order - exact) <= 5 * est.first_order_stderr + 1e-12)


@pytest.mark.parametrize(
    ("simulator", "message"),
    [
        (lambda x: x[:-1, 0], r"shape \(\d+,\) or \(\d+, o\)"),
        (lambda x: np.where(x[:, 0] > 0.5, np.nan, x[:, 0]), "non-finite outputs"),
    ],
)
def test_bad_simulator_outputs_are_refused_by_name(simulator, message):
    with pytest.raises(ValueError, match=message):
        simulator_sobol_indices(jax.random.key(0), simulator, 2, 64)


def test_bad_sizes_are_refused_by_name():
    with pytest.raises(ValueError, match="num_dims"):
        simulator_sobol_indices(jax.random.key(0), lambda x: x[:, 0], 0, 64)
    with pytest.raises(ValueError, match="batch_size"):
        simulator_sobol_indices(jax.random.key(0), lambda x: x[:, 0], 2, 64, batch_size=0)
