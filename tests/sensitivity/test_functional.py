"""Index trajectories of time-series outputs against the closed form of y(t) = a(t) X1 + b(t) X2,
and their figure."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.report import plot_index_trajectories
from edtjax.sensitivity import (
    given_data_first_order,
    index_trajectories,
    saltelli_design,
    sobol_indices_from_outputs,
)

TIMES = jnp.linspace(0.0, 2.0, 9)
A_T = 1.0 + TIMES  # a(t)
B_T = jnp.cos(TIMES)  # b(t)
WINDOW = (0.5, 1.5)


def _model(x):
    """``(..., 2)`` uniform inputs -> ``(..., T)`` histories ``a(t) x1 + b(t) x2``."""
    return x[..., :1] * A_T + x[..., 1:] * B_T


def _closed_form():
    """Independent inputs of equal variance: ``S_1(t) = a^2 / (a^2 + b^2)`` (additive, so the
    total index is the same) and the aggregated index ``sum a^2 / sum (a^2 + b^2)``."""
    a2, b2 = np.asarray(A_T) ** 2, np.asarray(B_T) ** 2
    per_time = np.stack([a2, b2]) / (a2 + b2)
    inside = (np.asarray(TIMES) >= WINDOW[0]) & (np.asarray(TIMES) <= WINDOW[1])
    aggregated = np.array([a2[inside].sum(), b2[inside].sum()]) / (a2 + b2)[inside].sum()
    return per_time, aggregated, inside


def test_pick_freeze_trajectories_match_closed_form():
    design = saltelli_design(jax.random.key(0), 4096, 2, sampler="mc")
    y_a, y_b, y_ab = _model(design.a), _model(design.b), _model(design.ab)
    r = index_trajectories(jax.random.key(1), y_a, y_b=y_b, y_ab=y_ab, times=TIMES, window=WINDOW)
    per_time, aggregated, inside = _closed_form()
    np.testing.assert_array_equal(r.window, inside)
    # 5 delta-method standard errors (recovered from the 95% interval): a two-sided false
    # failure rate below 1e-6 per value
    for value, interval, truth in (
        (r.first_order, r.first_order_interval, per_time),
        (r.total_order, r.total_order_interval, per_time),
        (r.aggregated_first_order, r.aggregated_first_order_interval, aggregated),
        (r.aggregated_total_order, r.aggregated_total_order_interval, aggregated),
    ):
        se = (np.asarray(interval.high) - np.asarray(interval.low)) / (2 * 1.959964)
        assert np.all(np.abs(np.asarray(value) - truth) < 5 * se + 1e-6)
    # the window's aggregated indices are those of the estimator on the window's times
    part = sobol_indices_from_outputs(None, y_a[:, inside], y_b[:, inside], y_ab[..., inside])
    np.testing.assert_allclose(r.aggregated_first_order, part.aggregated_first_order, rtol=1e-6)


@pytest.mark.slow
def test_given_data_trajectories_match_closed_form():
    x = jax.random.uniform(jax.random.key(2), (4096, 2))
    y = _model(x)
    r = index_trajectories(None, y, x=x, times=TIMES, window=WINDOW)
    per_time, aggregated, inside = _closed_form()
    assert r.total_order is None and r.aggregated_total_order is None
    se = np.asarray(given_data_first_order(x, y).first_order_stderr)
    # 5 batch-means standard errors per time, plus 10 / n for the estimator's O(1/n) bias,
    # which every batch shares (so the batch-means error misses it where S(t) is near 1 and
    # se vanishes): the cyclic neighbour pair moves the estimate by at most
    # 2 max|Y - mean|^2 / (n Var Y) <= 6 / n here (a centred sum of uniforms is at most half
    # its range, and a uniform's squared range is 12 variances), the centring by 1 / n
    bias = 10.0 / x.shape[0]
    assert np.all(np.abs(np.asarray(r.first_order) - per_time) < 5 * se + bias)
    # the weighted average equals the generalised index of the window's columns
    direct = given_data_first_order(x, y[:, inside]).aggregated_first_order
    np.testing.assert_allclose(r.aggregated_first_order, direct, rtol=1e-5)
    # the interval is a weighted average of intervals of errors within 5 se of the truth
    low, high = r.aggregated_first_order_interval
    assert np.all(low <= r.aggregated_first_order) and np.all(r.aggregated_first_order <= high)
    width = (np.asarray(high) - np.asarray(low)) / (2 * 2.26)  # t_9 quantile, 10 batches
    assert np.all(np.abs(np.asarray(r.aggregated_first_order) - aggregated) < 5 * width + bias)


def test_default_times_and_validation():
    x = jax.random.uniform(jax.random.key(3), (4096, 2))
    y = _model(x)
    r = index_trajectories(None, y, x=x)
    np.testing.assert_array_equal(r.times, np.arange(9))
    assert bool(jnp.all(r.window))
    with pytest.raises(ValueError, match="either x"):
        index_trajectories(None, y)
    with pytest.raises(ValueError, match="either x"):
        index_trajectories(None, y, x=x, y_b=y)
    with pytest.raises(ValueError, match="times"):
        index_trajectories(None, y, x=x, times=TIMES[:3])
    with pytest.raises(ValueError, match="window"):
        index_trajectories(None, y, x=x, times=TIMES, window=(5.0, 6.0))
    with pytest.raises(ValueError, match="window"):
        index_trajectories(None, y, x=x, window=3.0)
    with pytest.raises(ValueError, match="y"):
        index_trajectories(None, y[:, 0], x=x)


def test_plot_index_trajectories():
    # the shapes of the tests above, so the estimators' compiled code is reused
    design = saltelli_design(jax.random.key(4), 4096, 2, sampler="mc")
    r = index_trajectories(
        jax.random.key(1),
        _model(design.a),
        y_b=_model(design.b),
        y_ab=_model(design.ab),
        times=TIMES + 0.1,
        window=WINDOW,
    )
    fig = plot_index_trajectories(r, input_names=["a", "b"], log_time=True)
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 4  # first (solid) and total (dashed) per input
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    s = float(r.aggregated_first_order[0])
    assert labels[0].startswith("a (") and f"S={s:.2f}" in labels[0]
    given = index_trajectories(None, _model(design.a), x=design.a, times=TIMES)
    assert len(plot_index_trajectories(given).axes[0].get_lines()) == 2
    with pytest.raises(ValueError, match="input_names"):
        plot_index_trajectories(r, input_names=["a"])
    with pytest.raises(ValueError, match="positive"):
        plot_index_trajectories(given, log_time=True)
