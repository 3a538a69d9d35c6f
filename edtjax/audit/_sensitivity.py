"""Audit stages that explain: Sobol' indices of simulator and surrogate, and parameter GSA.

Which input law the indices describe is never assumed silently:

* **Declared laws** (the config's ``[inputs]`` table, or the data's ``box``, which declares
  independent uniform laws on it, as the built-in case does): numpyro distributions, truncated
  where declared (:func:`edtjax.audit._laws.declared_laws`). The simulator, a black box on
  ``(k, d)`` NumPy arrays, gets a Saltelli design (:func:`edtjax.sensitivity.saltelli_design`)
  mapped through the laws' inverse CDFs and
  :func:`edtjax.sensitivity.sobol_indices_from_outputs`; the surrogate, a JAX function, gets
  :func:`edtjax.sensitivity.sobol_indices` over the same laws. First and total indices
  (Saltelli 2002; Janon et al. 2014).
* **No declared laws**: the empirical law of the labelled runs. First-order indices by the
  rank estimator of Gamboa, Janon, Klein & Lagnoux (2022)
  (:func:`edtjax.sensitivity.given_data_first_order`), of the labelled outputs themselves and
  of the surrogate's predictions at the labelled inputs. Total indices need a pick-freeze
  design, i.e. a law to draw from, and are not given.

With declared laws the draws are also judged by the audit's validity indicator
(:func:`sobol_validity`, after the reliability stage): the share flagged outside the domain
says how much of the indices describe extrapolation, and first-order indices restricted to the
accepted draws are given beside them.

References:
    Saltelli, A. (2002). Making best use of model evaluations to compute sensitivity indices.
    Comput. Phys. Commun. 145, 280-297.
    Janon, A., Klein, T., Lagnoux, A., Nodet, M. & Prieur, C. (2014). Asymptotic normality and
    efficiency of two Sobol index estimators. ESAIM: PS 18, 342-364.
    Gamboa, F., Janon, A., Klein, T. & Lagnoux, A. (2022). Global sensitivity analysis: a novel
    generation of mighty estimators based on rank statistics. Bernoulli 28(4), 2345-2374.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from edtjax._typing import ArrayLike, PyTree
from edtjax.audit._laws import DeclaredLaws, declared_laws
from edtjax.audit._surrogates import Split, Surrogates
from edtjax.audit.records import (
    Agreement,
    EmpiricalIndices,
    FirstOrderAgreement,
    FirstOrderIndices,
    IndexTable,
    InputLaw,
    LawValidity,
    ParameterSensitivity,
    RestrictedIndices,
    Skipped,
    SobolResult,
)
from edtjax.audit.result import AuditData
from edtjax.audit.sections import ReliabilityConfig, SensitivityConfig
from edtjax.sensitivity import (
    IndexEstimates,
    given_data_first_order,
    parameter_sensitivity,
    simulator_sobol_indices,
    sobol_indices,
    uniform_sample,
)

#: Fewest accepted draws for indices restricted to the validity domain.
MIN_RESTRICTED_DRAWS = 30

#: Most i.i.d. draws from the declared laws judged by :func:`sobol_validity` (the share's
#: standard error is then at most 0.016).
MAX_VALIDITY_DRAWS = 1024

#: Why a stage that re-evaluates the surrogate is skipped for a surrogate given as predictions.
PREDICTIONS_ONLY = (
    "the surrogate was given as predictions at the labelled runs and the queries only"
)

_RANK_METHOD = "rank-based first-order estimator (Gamboa, Janon, Klein & Lagnoux 2022)"
_TOTAL_NOTE = (
    "total indices need declared input laws (an [inputs] table in the config): with the "
    "empirical law of the labelled runs only first-order indices are estimated"
)


class LawSample(NamedTuple):
    """I.i.d. draws from the declared laws kept for :func:`sobol_validity`.

    Plain Monte Carlo, not the Sobol' design's rows: the rank-based estimator of the
    restricted indices needs a random sample (a low-discrepancy design biases it).

    Attributes:
        x: ``(n, d)`` draws in physical units.
        simulator_y: ``(n, o)`` simulator outputs at ``x``, or ``None`` without a simulator.
    """

    x: np.ndarray
    simulator_y: np.ndarray | None


def _stack(tree) -> np.ndarray:
    return np.stack([np.asarray(leaf, np.float64) for leaf in tree])


def _summary(est: IndexEstimates, stacked: bool) -> dict[str, list]:
    def pick(tree: PyTree) -> np.ndarray:
        return _stack(tree) if stacked else np.asarray(tree, np.float64)

    first, total = pick(est.first_order), pick(est.total_order)
    first_ci = np.stack(
        [pick(est.first_order_interval.low), pick(est.first_order_interval.high)], -1
    )
    total_ci = np.stack(
        [pick(est.total_order_interval.low), pick(est.total_order_interval.high)], -1
    )
    return {
        "first": first.tolist(),
        "first_ci": first_ci.tolist(),
        "total": total.tolist(),
        "total_ci": total_ci.tolist(),
    }


def given_data_summary(
    x: ArrayLike, y: ArrayLike, confidence: float
) -> tuple[FirstOrderIndices, np.ndarray]:
    """Rank-based first-order indices ``(d, o)`` of ``y`` on ``x`` with their intervals.

    Returns the :class:`~edtjax.audit.records.FirstOrderIndices` (intervals ``None`` below
    125 rows; see :func:`edtjax.sensitivity.given_data_first_order`) and the ``(d,)``
    aggregated first-order indices (output variances as weights).
    """
    r = given_data_first_order(
        jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32), confidence=confidence
    )
    ci = None
    if r.first_order_interval is not None:
        low, high = r.first_order_interval
        ci = np.stack([np.asarray(low, np.float64), np.asarray(high, np.float64)], -1).tolist()
    summary = FirstOrderIndices(
        first=np.asarray(r.first_order, np.float64).tolist(),
        first_ci=ci,
        num_samples=int(np.shape(x)[0]),
        method=_RANK_METHOD,
    )
    return summary, np.asarray(r.aggregated_first_order, np.float64)


def _simulate(data: AuditData, x: np.ndarray) -> np.ndarray:
    y = np.asarray(data.simulator(x), np.float64)
    if y.ndim != 2 or y.shape[0] != x.shape[0] or not np.isfinite(y).all():
        raise ValueError(
            f"data.simulator must return finite outputs of shape ({x.shape[0]}, o) for "
            f"{x.shape} inputs, got shape {y.shape}"
        )
    return y


def simulator_sobol(
    key: jax.Array, data: AuditData, laws: DeclaredLaws | None, config: SensitivityConfig
) -> IndexTable | None:
    """First/total Sobol' indices ``(d, o)`` of ``data.simulator`` under the declared laws
    (``None`` without a simulator or without declared laws)."""
    if data.simulator is None or laws is None:
        return None
    n = config.sobol_samples
    est = simulator_sobol_indices(
        key,
        lambda x: _simulate(data, x),
        len(laws.names),
        n,
        to_inputs=laws.icdf,
        confidence=config.sobol_confidence,
        dtype=jnp.float32,
    )
    return IndexTable(**_summary(est, False), num_samples=n)


def _surrogate_mean(split: Split, surrogates: Surrogates) -> Callable[[jax.Array], jax.Array]:
    """``f(x (k, d) physical) -> (k, o)`` standardised mean of the primary surrogate."""
    mean = jnp.asarray(split.x_mean, jnp.float32)
    scale = jnp.asarray(split.x_scale, jnp.float32)
    predict = surrogates.main
    return lambda x: predict((x - mean) / scale).mean


def surrogate_sobol(
    key: jax.Array,
    laws: DeclaredLaws,
    split: Split,
    surrogates: Surrogates,
    config: SensitivityConfig,
    *,
    devices: int | None = None,
) -> tuple[IndexTable, np.ndarray]:
    """Sobol' indices of the ensemble mean under the declared laws (rows shared over
    ``devices``); also the ``(d,)`` aggregated total indices (Gamboa et al. 2014) that rank
    the inputs."""
    f = _surrogate_mean(split, surrogates)

    def model(v: list[jax.Array]) -> jax.Array:
        return f(jnp.stack(v)[None])[0]

    est = sobol_indices(
        key,
        model,
        tuple(laws.laws),
        config.sobol_samples,
        confidence=config.sobol_confidence,
        devices=devices,
    )
    summary = IndexTable(**_summary(est, True), num_samples=config.sobol_samples)
    return summary, _stack(est.aggregated_total_order)


def sobol_agreement(
    simulator: IndexTable | FirstOrderIndices | None,
    surrogate: IndexTable | FirstOrderIndices | None,
    input_names: tuple[str, ...],
    output_names: tuple[str, ...],
    *,
    index: str = "total",
) -> Agreement | FirstOrderAgreement | None:
    """Largest index differences and whether both rank the inputs alike (per output).

    Two inputs whose reference intervals (``simulator``'s ``{index}_ci``) overlap are not told
    apart by the reference's own estimate, so only the pairs it separates count:
    ``same_ranking`` is true when the surrogate's ``index`` indices (``"total"`` or
    ``"first"``) order every such pair as the reference does (``ranking_conflicts`` lists the
    others as ``"output: a > b"``, ``a`` above ``b`` for the reference). Without reference
    intervals every pair counts. An :class:`~edtjax.audit.records.Agreement` for
    ``index="total"``, a :class:`~edtjax.audit.records.FirstOrderAgreement` for ``"first"``.
    ``O(d^2 o)`` work.
    """
    if simulator is None or surrogate is None:
        return None
    s_first, g_first = np.asarray(simulator.first), np.asarray(surrogate.first)
    s_rank, g_rank = np.asarray(getattr(simulator, index)), np.asarray(getattr(surrogate, index))
    d, o = s_rank.shape
    ci = getattr(simulator, f"{index}_ci")
    if ci is None:
        s_ci = np.stack([s_rank, s_rank], -1)
    else:
        s_ci = np.asarray(ci)  # (d, o, 2)
    conflicts = [
        f"{output_names[j]}: {input_names[i]} > {input_names[k]}"
        for j in range(o)
        for i in range(d)
        for k in range(d)
        if s_ci[i, j, 0] > s_ci[k, j, 1] and g_rank[i, j] <= g_rank[k, j]
    ]
    same_top = all(int(np.argmax(s_rank[:, j])) == int(np.argmax(g_rank[:, j])) for j in range(o))
    diff_first = float(np.max(np.abs(s_first - g_first)))
    if index == "total":
        diff_total = float(np.max(np.abs(s_rank - g_rank)))
        return Agreement(diff_first, diff_total, not conflicts, conflicts, bool(same_top))
    return FirstOrderAgreement(diff_first, not conflicts, conflicts, bool(same_top))


def _input_law(laws: DeclaredLaws | None, n_runs: int) -> InputLaw:
    if laws is None:
        return InputLaw(
            kind="empirical",
            source="the labelled runs",
            description=f"empirical ({n_runs} runs)",
            inputs=None,
            num_runs=n_runs,
        )
    described = "; ".join(f"{a} ~ {t}" for a, t in zip(laws.names, laws.descriptions, strict=True))
    return InputLaw(
        kind="declared",
        source=laws.source,
        description=f"declared by {laws.source}: {described}",
        inputs=dict(zip(laws.names, laws.descriptions, strict=True)),
        num_runs=None,
    )


def sobol_stage(
    key: jax.Array,
    simulator_key: jax.Array,
    data: AuditData,
    split: Split,
    surrogates: Surrogates | None,
    config: SensitivityConfig,
    inputs: tuple,
    *,
    devices: int | None = None,
) -> tuple[SobolResult, np.ndarray, LawSample | None]:
    """The :class:`~edtjax.audit.records.SobolResult`, the ``(d,)`` scores that rank the
    inputs, and the law sample.

    With declared laws (:func:`declared_laws`): first/total indices of the simulator (when
    there is one) and of the ensemble mean, their agreement, and the draws that
    :func:`sobol_validity` judges later (``validity`` is ``None`` until then). Without: the
    empirical law of the ``n`` labelled runs, first-order rank-based indices of the labelled
    outputs (``empirical.data``) and of the ensemble mean at the labelled inputs
    (``empirical.surrogate``), their agreement, and no totals. The ranking scores are the
    surrogate's aggregated total indices (declared) or aggregated first-order indices
    (empirical). ``surrogates=None`` (no surrogate to evaluate) leaves its parts ``None``.
    ``inputs`` are the configuration's declared laws (``AuditConfig.inputs``); ``devices``
    shares the surrogate's Sobol' rows.

    See :mod:`edtjax.audit.result` for the fields.
    """
    laws = declared_laws(data, inputs)
    names, outputs = tuple(data.input_names), tuple(data.output_names)
    x_all = np.asarray(data.x, np.float64)
    sim = sur = note = agreement = empirical = validity = None
    if laws is not None:
        sim = simulator_sobol(simulator_key, data, laws, config)
        ranking = None
        if surrogates is not None and surrogates.evaluable:
            sur, ranking = surrogate_sobol(key, laws, split, surrogates, config, devices=devices)
            agreement = sobol_agreement(sim, sur, names, outputs)
        elif surrogates is not None:
            note = (
                f"{PREDICTIONS_ONLY}: its Sobol' indices under the declared laws need new "
                "evaluations and are skipped"
            )
        m = min(config.sobol_samples, MAX_VALIDITY_DRAWS)
        unit = uniform_sample(jax.random.fold_in(key, 1), m, len(names), dtype=jnp.float32)
        x_law = np.asarray(laws.icdf(unit), np.float64)
        sample = LawSample(x_law, None if data.simulator is None else _simulate(data, x_law))
        if ranking is None:
            ranking = np.asarray(sim.total if sim else np.zeros((len(names), 1))).mean(1)
        ranking_index = "total"
    else:
        sample = None
        data_idx, ranking = given_data_summary(
            x_all, np.asarray(data.y, np.float64), config.sobol_confidence
        )
        sur_idx = None
        if surrogates is not None:
            pred = np.asarray(surrogates.main(split.to_inputs(x_all)).mean)
            # ranked by the surrogate's indices aggregated over the outputs (Gamboa et al. 2014)
            sur_idx, ranking = given_data_summary(x_all, pred, config.sobol_confidence)
        empirical = EmpiricalIndices(
            data=data_idx,
            surrogate=sur_idx,
            agreement=sobol_agreement(data_idx, sur_idx, names, outputs, index="first"),
            num_runs=int(x_all.shape[0]),
            method=_RANK_METHOD,
        )
        validity = Skipped(
            "the indices are taken on the labelled runs' own law, the training "
            "domain itself; declare input laws to judge where they describe extrapolation"
        )
        ranking_index = "first"
    result = SobolResult(
        law=_input_law(laws, int(x_all.shape[0])),
        simulator=sim,
        surrogate=sur,
        surrogate_note=note,
        empirical=empirical,
        agreement=agreement,
        total_available=laws is not None,
        total_note=None if laws is not None else _TOTAL_NOTE,
        validity=validity,
        ranking_index=ranking_index,
        ranking_inputs=[names[i] for i in np.argsort(-ranking, kind="stable")],
    )
    return result, ranking, sample


def _combined_outside(
    key: jax.Array,
    split: Split,
    surrogates: Surrogates,
    config: ReliabilityConfig,
    devices: int | None,
) -> Callable[[jax.Array], np.ndarray]:
    """``outside(z) -> (k,) bool`` of the combined indicator at ``config.alpha``.

    Fitted as the reliability stage fits it: members on the training inputs, the combination
    on one half of the calibration split, its threshold on the other half.
    """
    from edtjax.audit._reliability import build_indicators
    from edtjax.reliability import CombinedState, calibrate, combine

    indicators = build_indicators(surrogates, config)
    keys = jax.random.split(key, len(indicators) + 1)
    states = {n: ind.fit(keys[k], split.x_train) for k, (n, ind) in enumerate(indicators.items())}
    half = split.x_cal.shape[0] // 2
    combined = combine(*indicators.values(), how=config.combine_how)
    state = CombinedState(
        tuple(states.values()),
        tuple(jnp.sort(indicators[n].score(states[n], split.x_cal[:half])) for n in states),
    )
    cal = calibrate(keys[-1], combined, state, split.x_cal[half:], config.alpha, devices=devices)
    score = jax.jit(combined.score)
    return lambda z: np.asarray(score(state, z) > cal.threshold)


def sobol_validity(
    key: jax.Array,
    sample: LawSample | None,
    split: Split,
    surrogates: Surrogates | None,
    config: SensitivityConfig,
    reliability: ReliabilityConfig,
    *,
    outside: Callable[[jax.Array], ArrayLike] | None = None,
    devices: int | None = None,
) -> LawValidity | Skipped | None:
    """How much of the declared-law Sobol' design lies outside the validity domain.

    The draws of ``sample`` (from the declared laws) are judged by the combined indicator at
    ``reliability.alpha`` (``outside``, a function of standardised inputs ``(k, d) -> (k,)``
    bool; fitted here as the reliability stage does when not given, over ``devices``).
    Returns ``None`` without a sample (empirical law), else the
    :class:`~edtjax.audit.records.LawValidity` whose ``restricted`` holds first-order
    rank-based indices on the accepted draws only (the declared law restricted to the
    validity domain; the inputs are then dependent, which the
    estimator allows), or :class:`~edtjax.audit.records.Skipped` with fewer than
    :data:`MIN_RESTRICTED_DRAWS` accepted draws.
    Draws from the training law itself are flagged at a rate of about ``alpha``.
    Cost: one indicator score and one prediction per draw.
    """
    if sample is None:
        return None
    if surrogates is None and outside is None:
        return Skipped("no surrogate to fit the validity indicator on")
    if outside is None:
        outside = _combined_outside(key, split, surrogates, reliability, devices)
    z = split.to_inputs(sample.x)
    flagged = np.asarray(outside(z), bool).reshape(-1)
    n = int(flagged.shape[0])
    n_out = int(flagged.sum())
    share = n_out / n
    extrapolating = share > config.sobol_extrapolation_share
    if extrapolating:
        statement = (
            f"{share:.0%} of {n} draws from the declared input laws lie outside the "
            f"surrogate's validity domain (above the {config.sobol_extrapolation_share:.0%} "
            "threshold): the surrogate's Sobol' indices describe largely where it "
            "extrapolates; the first-order indices restricted to the validity domain are "
            "given beside them"
        )
    else:
        statement = (
            f"{share:.0%} of {n} draws from the declared input laws lie outside the "
            f"surrogate's validity domain (at most the "
            f"{config.sobol_extrapolation_share:.0%} threshold; about {reliability.alpha:.0%} is "
            "expected from the indicator's false alarms alone): the indices describe the "
            "surrogate where it was trained"
        )
    keep = ~flagged
    k = int(keep.sum())
    if k < MIN_RESTRICTED_DRAWS:
        restricted: RestrictedIndices | Skipped = Skipped(
            f"only {k} of {n} draws are inside the validity domain (fewer than "
            f"{MIN_RESTRICTED_DRAWS})"
        )
    else:
        x_in = sample.x[keep]
        sur = None
        if surrogates is not None and surrogates.evaluable:
            pred = np.asarray(surrogates.main(z[keep]).mean)
            sur = given_data_summary(x_in, pred, config.sobol_confidence)[0]
        sim = None
        if sample.simulator_y is not None:
            sim = given_data_summary(x_in, sample.simulator_y[keep], config.sobol_confidence)[0]
        restricted = RestrictedIndices(
            num_draws=k,
            surrogate=sur,
            simulator=sim,
            note="first-order indices under the declared laws restricted to the validity "
            "domain (the accepted draws; the inputs are dependent there), rank-based",
        )
    return LawValidity(
        indicator="combined",
        alpha=reliability.alpha,
        num_draws=n,
        n_outside=n_out,
        share_outside=share,
        threshold=config.sobol_extrapolation_share,
        describes_extrapolation=bool(extrapolating),
        statement=statement,
        restricted=restricted,
    )


def layer_sensitivity(
    key: jax.Array,
    split: Split,
    surrogates: Surrogates,
    config: SensitivityConfig,
    *,
    devices: int | None = None,
) -> ParameterSensitivity | Skipped:
    """Group (layer) Sobol' indices of member 0's mean prediction under multiplicative noise
    (rows shared over ``devices``).

    The network is evaluated at ``gsa_points`` test inputs; per-point indices are aggregated
    per output with the output variances as weights (the generalised indices of Gamboa et al.
    2014 over the points), giving ``(g, o)`` arrays.
    """
    if surrogates.net is None:
        return Skipped(
            f"the surrogate ({surrogates.name}) was given by the user: its "
            "parameters are not known to the audit"
        )
    net = surrogates.net
    x = split.x_test[: config.gsa_points]

    def apply_fn(params: PyTree, inputs: jax.Array) -> jax.Array:
        return net.apply(params, inputs).mean

    est = parameter_sensitivity(
        key,
        apply_fn,
        surrogates.member(0),
        x,
        perturbation="multiplicative",
        scale=config.gsa_scale,
        groups="layer",
        num_samples=config.gsa_samples,
        devices=devices,
    )
    groups = sorted(est.first_order)
    weights = np.asarray(est.variance, np.float64)  # (P, o)

    def aggregate(tree: dict[str, jax.Array]) -> list:
        per = np.stack([np.asarray(tree[g], np.float64) for g in groups])  # (g, P, o)
        return (np.sum(per * weights[None], axis=1) / np.sum(weights, axis=0)[None]).tolist()

    return ParameterSensitivity(
        groups=groups,
        first=aggregate(est.first_order),
        total=aggregate(est.total_order),
        num_samples=config.gsa_samples,
        perturbation=f"multiplicative, scale {config.gsa_scale}",
        points=int(x.shape[0]),
    )
