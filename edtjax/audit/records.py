"""The typed records of an audit: one per stage result and per nested part the report reads.

Each record is a frozen dataclass whose fields are, in order, the keys of its JSON object in
``report.json``: ``to_json()`` gives that object and ``from_json(value)`` reads it
back (a missing or unknown key raises ``ValueError`` naming it). A stage that did not run is
:class:`Skipped` (``{"skipped": why}`` in JSON) or ``None``. Lists of lists are row-major
arrays indexed as the module :mod:`edtjax.audit.result` documents.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Union

import numpy as np

from edtjax.audit.config import sectioned_config

__all__ = [
    "Agreement",
    "Attribution",
    "BiasResult",
    "CaseInfo",
    "DepthMap",
    "EmpiricalIndices",
    "ErrorGroup",
    "ExtremeQuery",
    "FirstOrderAgreement",
    "FirstOrderIndices",
    "HybridResult",
    "IndexTable",
    "IndicatorRates",
    "InputLaw",
    "LabelledErrors",
    "LawValidity",
    "MeanDepths",
    "ParameterSensitivity",
    "QueryAnswers",
    "Record",
    "ReliabilityResult",
    "RestrictedIndices",
    "ShiftTest",
    "Skipped",
    "SobolResult",
    "Spread",
    "SurrogateInfo",
    "SurrogateScores",
    "TransportResult",
]


def to_json(value: object) -> object:
    """``value`` as JSON: records as objects, NumPy scalars and arrays as Python values."""
    if isinstance(value, (Record, Skipped)):
        return value.to_json()
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def read_json(hint: object, value: object, path: str) -> object:
    """``value`` (JSON) read as the type ``hint`` (records, ``X | None``, ``X | Skipped``,
    ``dict[str, X]``, ``list[X]``; other values as they are); ``path`` names it in errors."""
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        if Skipped in options and isinstance(value, dict) and set(value) == {"skipped"}:
            return Skipped(value["skipped"])
        rest = [t for t in options if t not in (type(None), Skipped)]
        return read_json(rest[0], value, path)
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{path} must be a JSON object, got {type(value).__name__}")
        inner = typing.get_args(hint)[1]
        return {k: read_json(inner, v, f"{path}[{k!r}]") for k, v in value.items()}
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{path} must be a JSON array, got {type(value).__name__}")
        inner = typing.get_args(hint)[0]
        return [read_json(inner, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(hint, type) and issubclass(hint, Record):
        return hint.from_json(value, path)
    return value


@dataclasses.dataclass(frozen=True)
class Record:
    """Base of the audit's records: JSON in and out, field order = key order.

    Example:
        >>> Spread(mean=0.1, interval=[0.0, 0.2]).to_json()
        {'mean': 0.1, 'interval': [0.0, 0.2]}
    """

    def to_json(self) -> dict[str, object]:
        """This record as the JSON object of ``report.json`` (keys in field order)."""
        return {f.name: to_json(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_json(cls, value: object, path: str = "numbers") -> Record:
        """Read the record from its JSON object; ``ValueError`` names a missing or extra key
        (``path`` names the object in the message). Cost: linear in the size of ``value``.

        Example:
            >>> ShiftTest.from_json({"statistic": 1.5, "p_value": 0.02, "rejected": True,
            ...                      "compared": "train vs queries"}).p_value
            0.02
        """
        if not isinstance(value, dict):
            raise ValueError(f"{path} must be a JSON object, got {type(value).__name__}")
        hints = _hints(cls)
        missing = [k for k in hints if k not in value]
        extra = [k for k in value if k not in hints]
        if missing or extra:
            raise ValueError(
                f"{path} does not follow {cls.__name__}: "
                + (f"it lacks {missing}" if missing else "")
                + ("; " if missing and extra else "")
                + (f"unknown keys {extra}" if extra else "")
            )
        return cls(**{k: read_json(t, value[k], f"{path}[{k!r}]") for k, t in hints.items()})


@functools.cache
def _hints(cls: type) -> dict[str, object]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


@dataclasses.dataclass(frozen=True)
class Skipped:
    """A stage or part that did not run, and why (``{"skipped": reason}`` in JSON)."""

    reason: str

    def to_json(self) -> dict[str, str]:
        """``{"skipped": reason}``."""
        return {"skipped": self.reason}


@dataclasses.dataclass(frozen=True)
class SurrogateInfo(Record):
    """Which surrogate was audited (see :mod:`edtjax.audit.surrogate`).

    Attributes:
        source: ``"trained"`` (the audit's ensemble), ``"function"`` or ``"predictions"``.
        name: its name.
        statement: one sentence saying where it comes from and what the audit skips.
    """

    source: str
    name: str
    statement: str


@dataclasses.dataclass(frozen=True)
class CaseInfo(Record):
    """The case, its splits and the configuration (``numbers["case"]``).

    Attributes:
        name: case name.
        input_names: names of the inputs.
        output_names: names of the outputs.
        n_train: rows of the training split.
        n_calibration: rows of the calibration split.
        n_test: rows of the in-domain test split.
        n_queries_in: the in-domain test split, judged as queries for the false alarms.
        n_queries: the user's queries.
        n_queries_shifted: ``n_queries`` when they are shifted by construction, else 0.
        queries_shifted_by_construction: whether they are.
        seed: the configuration's seed.
        config: the configuration as a dict, sectioned as
            :func:`~edtjax.audit.config_to_dict` writes it (a flat configuration of an older
            ``report.json`` is read into its sections).
        edtjax_version: the package version.
        has_simulator: whether a simulator was given.
        surrogate: the :class:`SurrogateInfo`.
    """

    name: str
    input_names: list[str]
    output_names: list[str]
    n_train: int
    n_calibration: int
    n_test: int
    n_queries_in: int
    n_queries: int
    n_queries_shifted: int
    queries_shifted_by_construction: bool
    seed: int
    config: dict[str, object]
    edtjax_version: str
    has_simulator: bool
    surrogate: SurrogateInfo

    @classmethod
    def from_json(cls, value: object, path: str = "numbers") -> CaseInfo:
        """As ``Record.from_json``; a flat ``config`` (a report of an earlier version) is read
        into its sections (``edtjax.audit.config.sectioned_config``)."""
        case = super().from_json(value, path)
        return dataclasses.replace(case, config=sectioned_config(case.config))


@dataclasses.dataclass(frozen=True)
class SurrogateScores(Record):
    """Predictive metrics of one method on the in-domain test split (standardised outputs for
    ``nll``, ``crps`` and the widths; ``rmse`` per output in physical units)."""

    rmse: list[float]
    nll: float
    crps: float
    coverage_90: float
    width_90: float
    calibration_error: float
    conformal_coverage_90: float
    conformal_width_90: float


@dataclasses.dataclass(frozen=True)
class InputLaw(Record):
    """The input law the Sobol' indices describe: ``kind`` ``"declared"`` (``inputs`` gives
    each input's law) or ``"empirical"`` (``num_runs`` labelled runs)."""

    kind: str
    source: str
    description: str
    inputs: dict[str, str] | None
    num_runs: int | None


@dataclasses.dataclass(frozen=True)
class IndexTable(Record):
    """Pick-freeze first and total Sobol' indices ``(d, o)`` and their intervals
    ``(d, o, 2)``, indexed by input then output."""

    first: list[list[float]]
    first_ci: list[list[list[float]]]
    total: list[list[float]]
    total_ci: list[list[list[float]]]
    num_samples: int


@dataclasses.dataclass(frozen=True)
class FirstOrderIndices(Record):
    """Rank-based first-order indices ``(d, o)``, intervals ``(d, o, 2)`` or ``None``."""

    first: list[list[float]]
    first_ci: list[list[list[float]]] | None
    num_samples: int
    method: str


@dataclasses.dataclass(frozen=True)
class Agreement(Record):
    """Simulator vs surrogate indices: largest differences, and whether the ranking of the
    inputs agrees wherever the simulator's intervals separate them."""

    max_abs_diff_first: float
    max_abs_diff_total: float
    same_ranking: bool
    ranking_conflicts: list[str]
    same_top_input: bool


@dataclasses.dataclass(frozen=True)
class FirstOrderAgreement(Record):
    """:class:`Agreement` of first-order indices only (surrogate vs labelled outputs)."""

    max_abs_diff_first: float
    same_ranking: bool
    ranking_conflicts: list[str]
    same_top_input: bool


@dataclasses.dataclass(frozen=True)
class EmpiricalIndices(Record):
    """First-order indices on the empirical law of the labelled runs."""

    data: FirstOrderIndices
    surrogate: FirstOrderIndices | None
    agreement: FirstOrderAgreement | None
    num_runs: int
    method: str


@dataclasses.dataclass(frozen=True)
class RestrictedIndices(Record):
    """First-order indices on the declared laws' draws inside the validity domain."""

    num_draws: int
    surrogate: FirstOrderIndices | None
    simulator: FirstOrderIndices | None
    note: str


@dataclasses.dataclass(frozen=True)
class LawValidity(Record):
    """Share of draws from the declared laws outside the validity domain of the
    ``indicator``, whether it exceeds ``threshold`` (the indices then describe
    extrapolation), and the indices restricted to the domain."""

    indicator: str
    alpha: float
    num_draws: int
    n_outside: int
    share_outside: float
    threshold: float
    describes_extrapolation: bool
    statement: str
    restricted: RestrictedIndices | Skipped


@dataclasses.dataclass(frozen=True)
class SobolResult(Record):
    """The Sobol' stage (``numbers["sobol"]``): see :mod:`edtjax.audit.result`."""

    law: InputLaw
    simulator: IndexTable | None
    surrogate: IndexTable | None
    surrogate_note: str | None
    empirical: EmpiricalIndices | None
    agreement: Agreement | None
    total_available: bool
    total_note: str | None
    validity: LawValidity | Skipped | None
    ranking_index: str
    ranking_inputs: list[str]


@dataclasses.dataclass(frozen=True)
class ParameterSensitivity(Record):
    """Sobol' indices ``(g, o)`` of the prediction under noise on each layer's parameters."""

    groups: list[str]
    first: list[list[float]]
    total: list[list[float]]
    num_samples: int
    perturbation: str
    points: int


@dataclasses.dataclass(frozen=True)
class MeanDepths(Record):
    """Mean Monge-Kantorovich depth of the in-domain test split and of the queries."""

    in_domain_mean: float
    shifted_mean: float | None


@dataclasses.dataclass(frozen=True)
class ShiftTest(Record):
    """One permutation shift test: statistic, p-value, rejection at ``alpha``, what it
    compares."""

    statistic: float
    p_value: float
    rejected: bool
    compared: str


@dataclasses.dataclass(frozen=True)
class TransportResult(Record):
    """The transport stage (``numbers["transport"]``)."""

    mk_depth: MeanDepths
    contour_levels: list[float]
    shift_tests: dict[str, ShiftTest]
    contour_inputs: list[str]


@dataclasses.dataclass(frozen=True)
class IndicatorRates(Record):
    """One indicator on the in-domain test split (and the queries when shifted by
    construction): false alarms, detection, AUROC, rank correlation with the error, and its
    conformal threshold."""

    false_alarm_rate: float
    detection_rate: float | None
    auroc: float | None
    error_spearman: float | None
    threshold: float


@dataclasses.dataclass(frozen=True)
class ReliabilityResult(Record):
    """The reliability stage (``numbers["reliability"]``); ``"combined"`` is one of the
    ``indicators``."""

    alpha: float
    indicators: dict[str, IndicatorRates]
    how_combined: str
    evaluated_on: str


@dataclasses.dataclass(frozen=True)
class DepthMap(Record):
    """A 2-D slice of an indicator's score: its ``arrays`` under ``key``."""

    key: str
    inputs: list[str]
    indicator: str
    threshold: float
    fixed: dict[str, float]


@dataclasses.dataclass(frozen=True)
class Attribution(Record):
    """Which indicators attribute a verdict to an input, and how."""

    indicators: list[str]
    not_differentiable: list[str]
    method: str


@dataclasses.dataclass(frozen=True)
class ExtremeQuery(Record):
    """One of the queries with the lowest combined p-values."""

    query: int
    p_combined: float
    verdict: str
    pushed_out_by: str | None
    inputs: dict[str, float]
    mean: list[float]
    interval: list[list[float]]


@dataclasses.dataclass(frozen=True)
class ErrorGroup(Record):
    """Errors of the accepted (or flagged) labelled queries."""

    count: int
    mae: list[float] | None
    coverage: list[float] | None
    n_large_errors: int


@dataclasses.dataclass(frozen=True)
class LabelledErrors(Record):
    """The surrogate's error among accepted and flagged queries, when they carry outputs."""

    large_error_quantile: float
    large_error_threshold: float
    large_error_definition: str
    inside: ErrorGroup
    outside: ErrorGroup
    n_large_errors: int
    large_errors_caught: float | None
    flagged_with_large_error: float | None
    error_spearman: float | None


@dataclasses.dataclass(frozen=True)
class QueryAnswers(Record):
    """The answer per query (``numbers["queries"]``; per-query arrays in ``arrays``)."""

    count: int
    alpha: float
    verdict_indicator: str
    n_inside: int
    n_outside: int
    shifted_by_construction: bool
    interval_level: float
    indicators: list[str]
    attribution: Attribution | Skipped
    extreme: list[ExtremeQuery]
    labelled: LabelledErrors | None


@dataclasses.dataclass(frozen=True)
class Spread(Record):
    """Spread of the ensemble members' bias about their mean."""

    mean: float
    interval: list[float]


@dataclasses.dataclass(frozen=True)
class BiasResult(Record):
    """Surrogate-induced bias of a downstream mean (``numbers["bias"]``)."""

    quantity: str
    description: str
    exact: float
    surrogate: float
    true_bias: float
    predicted_bias: float
    interval: list[float]
    level: float
    contains_true: bool
    posterior_spread: Spread | None


@dataclasses.dataclass(frozen=True)
class HybridResult(Record):
    """The guarded hybrid on the queries (``numbers["hybrid"]``): speed-up over the simulator
    alone, share of queries that fell back, and the error it costs (physical units, per
    output), with the surrogate alone for comparison; ``speedup`` is ``None`` when the hybrid
    took no measurable time."""

    alpha: float
    n_queries: int
    n_fallback: int
    fallback_share: float
    fallback_share_in_domain: float
    hybrid_seconds: float
    simulator_seconds: float
    speedup: float | None
    mean_abs_error: list[float]
    max_abs_error: list[float]
    surrogate_mean_abs_error: list[float]
    description: str
