"""The audit's surrogate stage on small user-style data: split, both Bayesian methods, metrics."""

import math

import chex
import jax
import numpy as np
import pytest

from edtjax.audit import AuditData, audit_preset
from edtjax.audit._surrogates import fit_surrogates, split_data, surrogate_metrics
from edtjax.audit.config import config_from_mapping

CONFIG = config_from_mapping(
    {"surrogate": {"hidden": (16, 16), "members": 2, "epochs": 60, "patience": 20}},
    audit_preset("quick"),
)


@pytest.fixture(scope="module")
def data():
    """y = (x1 + x2^2, x1 x2) + noise with x uniform on (-1, 1)^2, 500 rows."""
    k1, k2 = jax.random.split(jax.random.key(7))
    x = np.asarray(jax.random.uniform(k1, (500, 2), minval=-1.0, maxval=1.0), np.float64)
    noise = 0.1 * np.asarray(jax.random.normal(k2, (500, 2)), np.float64)
    y = np.stack([x[:, 0] + x[:, 1] ** 2, x[:, 0] * x[:, 1]], axis=1) + noise
    return AuditData("toy", x, y, None, None, ("a", "b"), ("u", "v"), None, None)


def test_split_sizes_and_standardisation(data):
    split = split_data(jax.random.key(0), data, CONFIG.split)
    n = data.x.shape[0]
    chex.assert_shape(split.x_train, (int(CONFIG.split.train_fraction * n), 2))
    assert split.x_cal.shape[0] == int(CONFIG.split.calibration_fraction * n)
    assert split.x_train.shape[0] + split.x_cal.shape[0] + split.x_test.shape[0] == n
    np.testing.assert_allclose(np.mean(split.x_train, 0), 0.0, atol=1e-5)
    np.testing.assert_allclose(np.std(split.y_train, 0), 1.0, atol=1e-5)
    np.testing.assert_allclose(split.to_physical_inputs(split.x_test), split.raw_test, atol=1e-5)
    assert split.x_shift is None and split.raw_shift is None


@pytest.mark.parametrize("method", [pytest.param("mbll", marks=pytest.mark.slow), "laplace"])
def test_metrics_of_both_bayesian_methods(data, method):
    config = config_from_mapping({"surrogate": {"bayesian_method": method}}, CONFIG)
    split = split_data(jax.random.key(0), data, config.split)
    surrogates = fit_surrogates(jax.random.key(1), split, config.surrogate)
    numbers, arrays = surrogate_metrics(split, surrogates, config.calibration)
    assert set(numbers) == {"deep_ensemble", method}
    m, n_cal = split.x_test.shape[0] * 2, split.x_cal.shape[0]
    for name, metrics in numbers.items():
        assert len(metrics.rmse) == 2
        assert all(math.isfinite(v) for v in metrics.rmse)
        # Split conformal covers with probability >= 0.9 (Lei et al. 2018); the empirical test
        # coverage varies with the test draw (variance ~0.09 / m over m = 2 n_test entries,
        # conservatively treated as independent) and with the calibration draw (~0.09 / n_cal):
        # 5 standard errors below 0.9 leave a false-failure rate below 1e-6.
        se = math.sqrt(0.09 / m + 0.09 / n_cal)
        assert metrics.conformal_coverage_90 >= 0.9 - 5 * se, name
        assert metrics.width_90 > 0 and metrics.conformal_width_90 > 0
        chex.assert_shape(arrays[f"coverage/{name}"], (len(config.calibration.coverage_levels),))
        conformal = arrays[f"coverage/{name}/conformal"]
        assert np.all(np.diff(conformal) >= 0)  # nested intervals: coverage grows with level
    # The network learned the function: RMSE of u below its spread.
    assert numbers["deep_ensemble"].rmse[0] < 0.5 * np.std(data.y[:, 0])
