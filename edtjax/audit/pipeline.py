"""The audit pipeline: :func:`run_audit` fills an :class:`~edtjax.audit.AuditResult`.

Stages, in order, each timed into ``result.timings``:

1. ``split``: random train / calibration / test split of the labelled rows; inputs and outputs
   standardised with training statistics. The in-domain test split evaluates the indicators'
   false alarms; the queries are ``data.queries``, in the user's order. They are judged, not
   assumed shifted: detection rates and AUROC are computed on them only when
   ``data.queries_shifted`` says they are shifted by construction (the built-in case).
2. ``surrogates``: a deep ensemble of heteroscedastic MLPs (Lakshminarayanan et al. 2017) and
   one Bayesian method on the first member's features (multivariate Bayesian last layer, Wang
   et al. 2024, or last-layer Laplace, Daxberger et al. 2021); predictive metrics, calibration
   curves and split-conformal intervals (Lei et al. 2018) on the test split.
3. ``sobol``: first/total Sobol' indices (Saltelli 2002, Janon et al. 2014) of the simulator
   (when there is one) and of the ensemble mean under the declared input laws (the config's
   ``[inputs]``, or uniform laws on ``data.box``), and their agreement; without declared laws,
   rank-based first-order indices (Gamboa et al. 2022) on the labelled runs' empirical law.
   After the reliability stage, the share of draws from the declared laws that the combined
   indicator flags outside the domain is added (``AuditResult.sobol.validity``).
4. ``parameter_gsa``: Sobol' indices of the first member's prediction under multiplicative
   noise on its parameters, grouped by layer.
5. ``transport``: center-outward (Hallin et al. 2021) Monge-Kantorovich depths of the queries,
   quantile contours in the two inputs of largest total index, and Sinkhorn-divergence and
   rank-energy permutation shift tests (train vs in-domain, train vs shifted).
6. ``reliability``: LD-Fermat, Mahalanobis, Monge-Kantorovich and ensemble-spread indicators,
   conformally calibrated, combined through their p-values, evaluated on the in-domain test
   split; an answer per query (prediction, conformal interval, p-values, verdict at ``alpha``,
   the input that pushes it out most; with true outputs, the error among accepted and flagged
   queries); indicator scores on 2-D slices (depth maps).
7. ``bias``: surrogate-induced bias of a downstream mean and its prediction from the ensemble.
8. ``hybrid``: with a simulator, the queries evaluated as a hybrid simulation would (the
   surrogate where the combined indicator accepts, the simulator elsewhere,
   :func:`edtjax.hybrid.guarded`): speed-up over the simulator alone, fallback share, error.

Everything runs in float32 (the JAX default); all randomness is split from ``key``, so the same
key, data and configuration give the same numbers. Cost is dominated by ensemble training
(``members * epochs * n_train``), the Sobol' analyses (``sobol_samples * (d + 2)`` simulator
and surrogate runs) and the permutation tests (``permutations`` Sinkhorn solves on
``shift_test_size + m`` points).

References:
    Lakshminarayanan, B., Pritzel, A. & Blundell, C. (2017). Simple and scalable predictive
    uncertainty estimation using deep ensembles. NeurIPS.
    Wang, H., Kawasaki, E., Damblin, G. & Daniel, G. (2024). Multivariate Bayesian last layer
    for regression. arXiv:2405.01761.
    Lei, J. et al. (2018). Distribution-free predictive inference for regression. JASA 113.
    Saltelli, A. (2002). Comput. Phys. Commun. 145, 280-297.
    Hallin, M., del Barrio, E., Cuesta-Albertos, J. & Matrán, C. (2021). Distribution and
    quantile functions, ranks and signs in dimension d. Ann. Statist. 49(2), 1139-1165.
    Nguyen, H. L. et al. (2024). Combining statistical depth and Fermat distance for
    uncertainty quantification. NeurIPS.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import jax
import numpy as np
from tqdm.auto import tqdm

from edtjax.audit._bias import bias_stage
from edtjax.audit._hybrid import hybrid_stage
from edtjax.audit._laws import declared_laws
from edtjax.audit._reliability import reliability_stage
from edtjax.audit._sensitivity import (
    PREDICTIONS_ONLY,
    layer_sensitivity,
    sobol_stage,
    sobol_validity,
)
from edtjax.audit._surrogates import (
    READS_SURROGATE,
    fit_surrogates,
    split_data,
    surrogate_metrics,
    user_surrogates,
)
from edtjax.audit._transport import transport_stage
from edtjax.audit.config import AuditConfig, config_to_dict
from edtjax.audit.records import CaseInfo, Skipped
from edtjax.audit.result import AuditData, AuditResult
from edtjax.audit.surrogate import UserPredictions, UserSurrogate, check_user_surrogate

__all__ = ["STAGES", "check_devices", "run_audit"]

STAGES = (
    "split",
    "surrogates",
    "sobol",
    "parameter_gsa",
    "transport",
    "reliability",
    "bias",
    "hybrid",
)
"""Names of the timed stages, in the order they run."""


def _check_data(data: AuditData) -> None:
    if not isinstance(data, AuditData):
        raise ValueError(f"data must be an AuditData, got {type(data).__name__}")
    x, y = np.asarray(data.x), np.asarray(data.y)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"data.x and data.y must be (n, d) and (n, o), got {x.shape}, {y.shape}")
    if len(data.input_names) != x.shape[1] or len(data.output_names) != y.shape[1]:
        raise ValueError("data.input_names / data.output_names must name every column")
    if x.shape[1] < 2:
        raise ValueError(f"data.x must have at least 2 inputs, got {x.shape[1]}")
    for name, a in (("data.x", x), ("data.y", y)):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} must be finite")
    if data.queries is not None:
        q = np.asarray(data.queries)
        if q.ndim != 2 or q.shape[1] != x.shape[1] or q.shape[0] < 2:
            raise ValueError(f"data.queries must have shape (m >= 2, {x.shape[1]}), got {q.shape}")
        if not np.all(np.isfinite(q)):
            raise ValueError("data.queries must be finite")
        if data.queries_y is not None:
            qy = np.asarray(data.queries_y)
            if qy.shape != (q.shape[0], y.shape[1]) or not np.all(np.isfinite(qy)):
                raise ValueError(
                    f"data.queries_y must be finite of shape {(q.shape[0], y.shape[1])}"
                )
    elif data.queries_y is not None:
        raise ValueError("data.queries_y is given without data.queries")
    if not isinstance(data.queries_shifted, bool):
        raise ValueError(f"data.queries_shifted must be a bool, got {data.queries_shifted!r}")
    if data.box is not None:
        missing = [n for n in data.input_names if n not in data.box]
        if missing:
            raise ValueError(f"data.box lacks the inputs {missing}")


class _Stages:
    """Times stages and reports them on one tqdm bar (stderr) when ``progress``."""

    def __init__(self, progress: bool):
        self.timings: dict[str, float] = {}
        self.bar = tqdm(total=len(STAGES), disable=not progress, file=sys.stderr, unit="stage")

    @contextmanager
    def stage(self, name: str, what: str) -> Iterator[None]:
        self.bar.set_description(f"audit: {what}")
        start = time.perf_counter()
        yield
        self.timings[name] = float(time.perf_counter() - start)
        self.bar.set_postfix_str(f"{name} {self.timings[name]:.1f} s")
        self.bar.update(1)

    def close(self, clear: bool = False) -> None:
        """Close the bar; ``clear`` removes it (an interrupted or failed run)."""
        if clear:
            self.bar.leave = False
        self.bar.close()


def _top_two(total: np.ndarray) -> tuple[int, int]:
    order = np.argsort(-total, kind="stable")
    return int(order[0]), int(order[1])


def check_devices(config: AuditConfig) -> None:
    """Raise ``ValueError`` when ``config.devices`` exceeds the JAX devices of this process."""
    if config.devices > jax.device_count():
        raise ValueError(
            f"config devices={config.devices} exceeds the {jax.device_count()} JAX devices "
            "visible to this process"
        )


def run_audit(
    key: jax.Array,
    data: AuditData,
    config: AuditConfig,
    *,
    surrogate: UserSurrogate | UserPredictions | None = None,
    progress: bool = True,
) -> AuditResult:
    """Run every audit stage on ``data`` and collect the report's numbers and arrays.

    Args:
        key: PRNG key (``jax.random.key``); split into one key per stage.
        data: the :class:`~edtjax.audit.AuditData` (built-in case from
            :func:`~edtjax.audit.thermodiffusion_case`, or the user's data).
        config: the :class:`~edtjax.audit.AuditConfig`.
        surrogate: the user's own surrogate, audited instead of the ensemble the audit trains
            (the default, ``None``): a :class:`~edtjax.audit.UserSurrogate` (a JAX function
            returning a :class:`~edtjax.surrogates.Predictive`) or
            :class:`~edtjax.audit.UserPredictions` (its predictions at the labelled runs and
            the queries). See :mod:`edtjax.audit.surrogate` for what each form skips.
        progress: show a progress bar of the stages on stderr.

    Returns:
        An :class:`~edtjax.audit.AuditResult` following the contract of
        :mod:`edtjax.audit.result`; ``timings`` holds the seconds of each of :data:`STAGES`.

    Raises:
        ValueError: malformed ``data`` (shapes, names, non-finite values, too few rows) or a
            ``config`` that is not an :class:`~edtjax.audit.AuditConfig`, or that asks for
            more devices than are visible.

    Example:
        >>> import jax
        >>> from edtjax.audit import audit_preset, run_audit, thermodiffusion_case
        >>> cfg = audit_preset("quick")
        >>> data = thermodiffusion_case(jax.random.key(0), cfg, progress=False)
        >>> result = run_audit(jax.random.key(1), data, cfg, progress=False)  # doctest: +SKIP
        >>> sorted(result.timings) == sorted(STAGES)  # doctest: +SKIP
        True

    References:
        See the module docstring.
    """
    if not isinstance(config, AuditConfig):
        raise ValueError(f"config must be an AuditConfig, got {type(config).__name__}")
    _check_data(data)
    m = 0 if data.queries is None else int(np.shape(data.queries)[0])
    check_user_surrogate(surrogate, int(np.shape(data.x)[0]), m, len(data.output_names))
    if (
        "feature_mahalanobis" in config.reliability.indicators
        and isinstance(surrogate, (UserSurrogate, UserPredictions))
        and getattr(surrogate, "features", None) is None
    ):
        raise ValueError(
            "config reliability.indicators name feature_mahalanobis, which needs the "
            "surrogate's features: give UserSurrogate(features=...) or remove it from the "
            "indicators"
        )
    declared_laws(data, config.inputs)  # a bad [inputs] table fails here, before training
    check_devices(config)
    devices = config.devices or None
    import edtjax

    names = (*STAGES, "sobol_simulator")
    keys = dict(zip(names, jax.random.split(key, len(names)), strict=True))
    stages = _Stages(progress)
    arrays: dict[str, np.ndarray] = {}
    finished = False
    try:
        with stages.stage("split", "splitting the data"):
            split = split_data(keys["split"], data, config.split)
        members = config.surrogate.members
        what = f"training {members} networks" if surrogate is None else "the surrogate"
        with stages.stage("surrogates", what):
            if surrogate is None:
                surrogates = fit_surrogates(
                    keys["surrogates"], split, config.surrogate, devices=devices
                )
            else:
                surrogates = user_surrogates(split, data, surrogate)
            scores, more = surrogate_metrics(split, surrogates, config.calibration)
            arrays.update(more)
        with stages.stage("sobol", "Sobol' indices"):
            sobol, ranking, law_sample = sobol_stage(
                keys["sobol"],
                keys["sobol_simulator"],
                data,
                split,
                surrogates,
                config.sensitivity,
                config.inputs,
                devices=devices,
            )
        contour_inputs = _top_two(ranking)
        with stages.stage("parameter_gsa", "parameter sensitivity by layer"):
            parameter_gsa = layer_sensitivity(
                keys["parameter_gsa"], split, surrogates, config.sensitivity, devices=devices
            )
        with stages.stage("transport", "transport and shift tests"):
            transport, more = transport_stage(
                keys["transport"],
                split,
                contour_inputs,
                data.input_names,
                config.transport,
                alpha=config.reliability.alpha,
                queries_shifted=data.queries_shifted,
            )
            arrays.update(more)
        with stages.stage("reliability", "reliability indicators"):
            rel = reliability_stage(
                keys["reliability"],
                split,
                surrogates,
                contour_inputs,
                data.input_names,
                config.reliability,
                config.maps,
                devices=devices,
                queries_shifted=bool(data.queries_shifted),
                queries_y=None if data.queries_y is None else np.asarray(data.queries_y),
            )
            arrays.update(rel.arrays)
            reads = set(READS_SURROGATE) & set(config.reliability.indicators)
            if law_sample is not None and reads and not surrogates.evaluable:
                validity = Skipped(
                    f"{PREDICTIONS_ONLY}: the combined indicator reads it "
                    f"({', '.join(sorted(reads))}) and cannot judge new draws"
                )
                sobol = dataclasses.replace(sobol, validity=validity)
            elif law_sample is not None:  # declared laws: how much of their draws is outside
                validity = sobol_validity(
                    jax.random.fold_in(keys["sobol"], 1),
                    law_sample,
                    split,
                    surrogates,
                    config.sensitivity,
                    config.reliability,
                    outside=rel.outside,  # the combined indicator just fitted, not a refit
                )
                sobol = dataclasses.replace(sobol, validity=validity)
        with stages.stage("bias", "surrogate-induced bias"):
            bias = bias_stage(keys["bias"], data, split, surrogates, config.bias, config.inputs)
        with stages.stage("hybrid", "the surrogate in the loop"):
            hybrid = hybrid_stage(data, split, surrogates, rel, alpha=config.reliability.alpha)
        finished = True
    finally:
        stages.close(clear=not finished)

    arrays["inputs/train"] = split.raw_train
    arrays["inputs/queries_in"] = split.raw_test
    n_queries = 0 if split.x_shift is None else int(split.x_shift.shape[0])
    case = CaseInfo(
        name=data.name,
        input_names=list(data.input_names),
        output_names=list(data.output_names),
        n_train=int(split.x_train.shape[0]),
        n_calibration=int(split.x_cal.shape[0]),
        n_test=int(split.x_test.shape[0]),
        n_queries_in=int(split.x_test.shape[0]),
        n_queries=n_queries,
        n_queries_shifted=n_queries if data.queries_shifted else 0,
        queries_shifted_by_construction=bool(data.queries_shifted) and n_queries > 0,
        seed=config.seed,
        config=config_to_dict(config),
        edtjax_version=str(edtjax.__version__),
        has_simulator=data.simulator is not None,
        surrogate=surrogates.describe(),
    )
    return AuditResult(
        case=case,
        surrogates=scores,
        sobol=sobol,
        parameter_gsa=parameter_gsa,
        transport=transport,
        reliability=rel.reliability,
        depth_maps=rel.depth_maps,
        queries=rel.queries,
        bias=bias,
        arrays=arrays,
        timings=stages.timings,
        hybrid=hybrid,
    )
