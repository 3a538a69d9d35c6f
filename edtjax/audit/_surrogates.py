"""Audit stages on the surrogate itself: the split, training, and predictive metrics.

Outputs are standardised with the training mean and standard deviation before training;
``nll``, ``crps`` and interval widths are reported in those standardised units and the RMSE in
physical units (see :mod:`edtjax.audit.result`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import replace
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from edtjax._typing import ArrayLike, PyTree
from edtjax.audit.records import SurrogateInfo, SurrogateScores
from edtjax.audit.result import AuditData
from edtjax.audit.sections import CalibrationConfig, SplitConfig, SurrogateConfig
from edtjax.audit.surrogate import UserPredictions, UserSurrogate, as_predictive
from edtjax.reliability import INDICATORS
from edtjax.surrogates import (
    MLP,
    EnsembleOptions,
    LaplaceOptions,
    MBLLOptions,
    NetworkOptions,
    Predictive,
    TrainingOptions,
    deep_ensemble,
    ensemble_member,
    fit_last_layer,
    gaussian_nll_loss,
    laplace_last_layer,
    mbll_last_layer,
)
from edtjax.uq import (
    calibration_curve,
    calibration_error,
    crps_gaussian,
    gaussian_interval,
    gaussian_nll,
    gaussian_pit,
    interval_coverage,
    interval_width,
    split_conformal,
)

ENSEMBLE = "deep_ensemble"


class Split(NamedTuple):
    """The labelled data split three ways, plus shifted queries, in float32 standardised units.

    ``x_*`` are inputs standardised by the training mean/std, ``y_*`` outputs standardised the
    same way; ``x_shift``/``y_shift`` are ``None`` when there are no queries (or no outputs).
    """

    x_train: jax.Array
    y_train: jax.Array
    x_cal: jax.Array
    y_cal: jax.Array
    x_test: jax.Array
    y_test: jax.Array
    x_shift: jax.Array | None
    y_shift: jax.Array | None
    x_mean: np.ndarray
    x_scale: np.ndarray
    y_mean: np.ndarray
    y_scale: np.ndarray
    raw_train: np.ndarray
    raw_test: np.ndarray
    raw_shift: np.ndarray | None

    def to_inputs(self, x_physical: ArrayLike) -> jax.Array:
        """Standardise physical inputs ``(k, d)`` (float32)."""
        return jnp.asarray((np.asarray(x_physical) - self.x_mean) / self.x_scale, jnp.float32)

    def to_physical_inputs(self, z: ArrayLike) -> np.ndarray:
        """Map standardised inputs back to physical units (float64 NumPy)."""
        return np.asarray(z, np.float64) * self.x_scale + self.x_mean


def split_data(key: jax.Array, data: AuditData, config: SplitConfig) -> Split:
    """Random train/calibration/test split and standardisation with training statistics."""
    x = np.asarray(data.x, np.float64)
    y = np.asarray(data.y, np.float64)
    n = x.shape[0]
    perm = np.asarray(jax.random.permutation(key, n))
    n_tr = int(np.floor(config.train_fraction * n))
    n_cal = int(np.floor(config.calibration_fraction * n))
    tr, cal, te = perm[:n_tr], perm[n_tr : n_tr + n_cal], perm[n_tr + n_cal :]
    if min(len(tr), len(cal), len(te)) < 10:
        raise ValueError(
            f"data has {n} labelled rows: too few for train/calibration/test sets of at least "
            f"10 rows each with fractions {config.train_fraction}, {config.calibration_fraction}"
        )
    x_mean, x_scale = x[tr].mean(0), x[tr].std(0)
    y_mean, y_scale = y[tr].mean(0), y[tr].std(0)
    for name, scale, names in (
        ("input", x_scale, data.input_names),
        ("output", y_scale, data.output_names),
    ):
        if np.any(scale == 0):
            bad = [names[j] for j in np.flatnonzero(scale == 0)]
            raise ValueError(f"data has constant {name} columns on the training set: {bad}")

    def zx(a: np.ndarray) -> jax.Array:
        return jnp.asarray((a - x_mean) / x_scale, jnp.float32)

    def zy(a: np.ndarray) -> jax.Array:
        return jnp.asarray((a - y_mean) / y_scale, jnp.float32)

    q = None if data.queries is None else np.asarray(data.queries, np.float64)
    qy = None if data.queries_y is None else np.asarray(data.queries_y, np.float64)
    return Split(
        zx(x[tr]),
        zy(y[tr]),
        zx(x[cal]),
        zy(y[cal]),
        zx(x[te]),
        zy(y[te]),
        None if q is None else zx(q),
        None if qy is None else zy(qy),
        x_mean,
        x_scale,
        y_mean,
        y_scale,
        x[tr],
        x[te],
        q,
    )


#: The method key of a surrogate given by the user (:mod:`edtjax.audit.surrogate`).
USER = "user_surrogate"

#: Indicators that read the surrogate (its predictive variance or its features).
READS_SURROGATE = tuple(name for name, entry in INDICATORS.items() if entry.reads_surrogate)


class Surrogates(NamedTuple):
    """The audited surrogates, as functions of standardised inputs.

    Attributes:
        net: the ensemble's network (``None`` for a user surrogate).
        params: the ensemble members' stacked parameters (``None`` for a user surrogate).
        predict: the predictive of each method, ``predict[method](z) -> Predictive`` in
            standardised units.
        primary: the method whose predictions the queries, indicators, Sobol' indices and bias
            use (the ensemble, or the user's surrogate).
        source: ``"trained"`` (by the audit), ``"function"`` (a
            :class:`~edtjax.audit.UserSurrogate`) or ``"predictions"`` (a
            :class:`~edtjax.audit.UserPredictions`: known at the labelled runs and the queries
            only).
        features: ``features(z) -> (k, h)`` learned representation, or ``None``.
        differentiable: whether JAX can differentiate ``predict`` and ``features``.
        name: the surrogate's name in the report.
    """

    net: MLP | None
    params: PyTree
    predict: dict[str, Callable[[jax.Array], Predictive]]
    primary: str = ENSEMBLE
    source: str = "trained"
    features: Callable[[jax.Array], jax.Array] | None = None
    differentiable: bool = True
    name: str = "deep ensemble"

    @property
    def main(self) -> Callable[[jax.Array], Predictive]:
        """The primary method's predictive."""
        return self.predict[self.primary]

    @property
    def evaluable(self) -> bool:
        """Whether the surrogate can be evaluated at new inputs (not only at given rows)."""
        return self.source != "predictions"

    def member(self, i: int) -> PyTree:
        """Parameters of ensemble member ``i``."""
        return jax.tree.map(lambda p: p[i], self.params)

    def describe(self) -> SurrogateInfo:
        """The ``AuditResult.case.surrogate`` record: where the surrogate comes from."""
        statement = {
            "trained": "trained by the audit on the training split (a deep ensemble and a "
            "Bayesian method on its first member)",
            "function": "given by the user as a function and not trained by the audit; the "
            "labelled runs are split into the domain's reference sample, calibration and "
            "test sets as usual: if the surrogate was trained on some of them, its "
            "calibration and test numbers are optimistic",
            "predictions": "given by the user as predictions at the labelled runs and the "
            "queries, and not trained by the audit; stages that must evaluate it elsewhere "
            "are skipped and say so; if it was trained on some labelled runs, its "
            "calibration and test numbers are optimistic",
        }[self.source]
        return SurrogateInfo(self.source, self.name, statement)


#: Jitted predictives with the fitted states as arguments: one compilation per query shape,
#: reused by later audits (the networks compare by value, so equal architectures share it).
_ENSEMBLE_PREDICT = jax.jit(deep_ensemble.predict)
_MBLL_PREDICT = jax.jit(mbll_last_layer.predict)
_LAPLACE_PREDICT = jax.jit(laplace_last_layer.predict)
_FEATURES = jax.jit(lambda network, params, z: network.features(params, z), static_argnums=0)


def fit_surrogates(
    key: jax.Array, split: Split, config: SurrogateConfig, *, devices: int | None = None
) -> Surrogates:
    """Deep ensemble of heteroscedastic MLPs and the configured Bayesian method on member 0,
    through the surrogate interface (:mod:`edtjax.surrogates.method`); ``devices`` shares the
    members (``None``: one device)."""
    training = TrainingOptions(
        loss=gaussian_nll_loss,
        epochs=config.epochs,
        batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        patience=config.patience,
    )
    network = NetworkOptions(
        hidden=tuple(config.hidden),
        activation=config.activation,
        heteroscedastic=True,
        training=training,
    )
    options = EnsembleOptions(network, members=config.members, devices=devices)
    state = deep_ensemble.fit(key, split.x_train, split.y_train, options)
    first = ensemble_member(state, 0)
    # predictions on one device, as the unsharded ensemble predicts
    predict = {ENSEMBLE: functools.partial(_ENSEMBLE_PREDICT, replace(state, devices=None))}
    if config.bayesian_method == "mbll":
        last = fit_last_layer(
            first, split.x_train, split.y_train, MBLLOptions(iterations=config.mbll_iterations)
        )
        predict["mbll"] = functools.partial(_MBLL_PREDICT, last)
    else:
        last = fit_last_layer(
            first,
            split.x_train,
            split.y_train,
            LaplaceOptions(prior_precision=config.laplace_prior_precision),
        )
        predict["laplace"] = functools.partial(_LAPLACE_PREDICT, last)
    features = functools.partial(_FEATURES, state.network, first.params)
    return Surrogates(state.network, state.params, predict, features=features)


def user_surrogates(
    split: Split, data: AuditData, surrogate: UserSurrogate | UserPredictions
) -> Surrogates:
    """The user's surrogate (:mod:`edtjax.audit.surrogate`) in the audit's standardised units.

    A :class:`~edtjax.audit.UserSurrogate` is wrapped (inputs mapped back to physical units,
    outputs standardised with the training statistics, jitted). A
    :class:`~edtjax.audit.UserPredictions` becomes a lookup of the given rows by their
    standardised inputs (a host callback, so it also runs under ``jit``); any other input
    raises ``ValueError`` (the stages that need one are skipped beforehand).
    """
    o = split.y_train.shape[1]
    x_mean = jnp.asarray(split.x_mean, jnp.float32)
    x_scale = jnp.asarray(split.x_scale, jnp.float32)
    y_mean = jnp.asarray(split.y_mean, jnp.float32)
    y_scale = jnp.asarray(split.y_scale, jnp.float32)
    if isinstance(surrogate, UserSurrogate):

        def predict(z: jax.Array) -> Predictive:
            raw = surrogate.predict(z * x_scale + x_mean)
            p = as_predictive(raw, z.shape[0], o, "surrogate.predict")
            var_scale = y_scale * y_scale
            return Predictive(
                mean=((p.mean - y_mean) / y_scale).astype(jnp.float32),
                variance=(p.variance / var_scale).astype(jnp.float32),
                aleatoric=None
                if p.aleatoric is None
                else (p.aleatoric / var_scale).astype(jnp.float32),
            )

        features = None
        if surrogate.features is not None:
            features = jax.jit(lambda z: surrogate.features(z * x_scale + x_mean))
        return Surrogates(
            None,
            None,
            {USER: jax.jit(predict)},
            primary=USER,
            source="function",
            features=features,
            differentiable=bool(surrogate.differentiable),
            name=str(surrogate.name),
        )
    rows = [np.asarray(split.to_inputs(data.x))]
    means = [np.asarray(surrogate.mean, np.float64)]
    stds = [np.asarray(surrogate.std, np.float64)]
    if data.queries is not None:
        rows.append(np.asarray(split.to_inputs(data.queries)))
        means.append(np.asarray(surrogate.queries_mean, np.float64))
        stds.append(np.asarray(surrogate.queries_std, np.float64))
    z_all = np.concatenate(rows)
    mean_table = ((np.concatenate(means) - split.y_mean) / split.y_scale).astype(np.float32)
    var_table = ((np.concatenate(stds) / split.y_scale) ** 2).astype(np.float32)
    index: dict[bytes, int] = {}
    for i, row in enumerate(z_all):
        first = index.setdefault(row.tobytes(), i)
        if first != i and not (
            np.array_equal(mean_table[first], mean_table[i])
            and np.array_equal(var_table[first], var_table[i])
        ):
            raise ValueError(
                f"surrogate predictions differ at two rows with the same inputs (rows {first} "
                f"and {i} of the labelled runs followed by the queries)"
            )

    def lookup(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        found = [index.get(row.tobytes(), -1) for row in np.asarray(z, np.float32)]
        if min(found, default=0) < 0:
            raise ValueError(
                "the surrogate is known only by its predictions at the labelled runs and the "
                "queries; it cannot be evaluated at other inputs"
            )
        return mean_table[found], var_table[found]

    def predict(z: jax.Array) -> Predictive:
        shape = jax.ShapeDtypeStruct((z.shape[0], o), jnp.float32)
        mean, variance = jax.pure_callback(lookup, (shape, shape), z, vmap_method="sequential")
        return Predictive(mean=mean, variance=variance)

    return Surrogates(
        None,
        None,
        {USER: predict},
        primary=USER,
        source="predictions",
        differentiable=False,
        name=str(surrogate.name),
    )


def _float(x) -> float:
    return float(np.asarray(x))


def surrogate_metrics(
    split: Split, surrogates: Surrogates, config: CalibrationConfig
) -> tuple[dict[str, SurrogateScores], dict[str, np.ndarray]]:
    """Metrics per method on the test split, calibration and coverage curves."""
    numbers: dict[str, SurrogateScores] = {}
    arrays: dict[str, np.ndarray] = {}
    nominal = np.asarray(config.coverage_levels, np.float64)
    arrays["coverage/nominal"] = nominal
    for method, predict in surrogates.predict.items():
        pred: Predictive = predict(split.x_test)
        cal: Predictive = predict(split.x_cal)
        y = split.y_test
        rmse = np.sqrt(np.mean((np.asarray(pred.mean) - np.asarray(y)) ** 2, axis=0))
        lo, hi = gaussian_interval(pred.mean, pred.variance, 0.1)
        c_lo, c_hi = split_conformal(split.y_cal, cal.mean, pred.mean, 0.1)
        pit = gaussian_pit(y, pred.mean, pred.variance)
        numbers[method] = SurrogateScores(
            rmse=[float(v) for v in rmse * split.y_scale],
            nll=_float(gaussian_nll(y, pred.mean, pred.variance)),
            crps=_float(crps_gaussian(y, pred.mean, pred.variance)),
            coverage_90=_float(interval_coverage(y, lo, hi)),
            width_90=_float(interval_width(lo, hi)),
            calibration_error=_float(calibration_error(pit, config.calibration_levels)),
            conformal_coverage_90=_float(interval_coverage(y, c_lo, c_hi)),
            conformal_width_90=_float(interval_width(c_lo, c_hi)),
        )
        expected, observed = calibration_curve(pit, config.calibration_levels)
        arrays["calibration/expected"] = np.asarray(expected, np.float64)
        arrays[f"calibration/{method}"] = np.asarray(observed, np.float64)
        gauss, conf = [], []
        for level in config.coverage_levels:
            lo, hi = gaussian_interval(pred.mean, pred.variance, 1.0 - level)
            gauss.append(_float(interval_coverage(y, lo, hi)))
            c_lo, c_hi = split_conformal(split.y_cal, cal.mean, pred.mean, 1.0 - level)
            conf.append(_float(interval_coverage(y, c_lo, c_hi)))
        arrays[f"coverage/{method}"] = np.asarray(gauss)
        arrays[f"coverage/{method}/conformal"] = np.asarray(conf)
    return numbers, arrays
