"""Every choice of the audit workflow: :class:`AuditConfig`, its sections, presets and TOML.

An :class:`AuditConfig` holds the run-wide ``seed`` and ``devices``, one section per stage
(a frozen dataclass each, :mod:`edtjax.audit.sections`) and the declared input laws
(:mod:`edtjax.audit.input_laws`). Every value is a plain Python value (ints,
floats, strings and tuples of them), so a configuration is hashable, printable and
round-trips through TOML and JSON. Each stage of :func:`~edtjax.audit.run_audit` receives only
the sections it reads. Two presets exist: ``"default"`` (the full built-in audit, a few
minutes on a 2-core CPU) and ``"quick"`` (the same stages at small sizes, under a minute).

:func:`load_config` reads a TOML file whose keys override a preset, one table per section::

    preset = "quick"
    seed = 3

    [surrogate]
    members = 8
    hidden = [64, 64, 64]

    [reliability]
    alpha = 0.05
    indicators = ["lens_fermat", "mahalanobis"]

Unknown keys, wrong types and out-of-range values raise ``ValueError`` naming the key as
``section.key`` and what was expected; a section key written at the top level (the flat
layout of earlier versions: ``members = 8``) is refused with the table it belongs to
(:data:`~edtjax.audit.sections.FIELD_TABLES`). Configurations stored flat in older
``report.json`` files are read into sections by :func:`sectioned_config`. The ``[inputs]``
table declares the input laws (:mod:`edtjax.audit.input_laws`).

Example:
    >>> cfg = audit_preset("quick")
    >>> cfg.surrogate.members, cfg.reliability.alpha
    (3, 0.1)
    >>> config_to_dict(cfg)["reliability"]["indicators"][:2]
    ['lens_fermat', 'mahalanobis']
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping

from edtjax._io import read_text
from edtjax.audit.input_laws import input_laws_table, parse_input_laws
from edtjax.audit.sections import (
    FIELD_TABLES,
    INDICATOR_NAMES,
    SECTIONS,
    BiasConfig,
    CalibrationConfig,
    CaseConfig,
    MapsConfig,
    ReliabilityConfig,
    Section,
    SensitivityConfig,
    SplitConfig,
    SurrogateConfig,
    TransportConfig,
    check_field,
)

__all__ = ["INDICATOR_NAMES", "AuditConfig", "audit_preset", "config_to_dict", "load_config"]

MAX_CONFIG_BYTES = 2**20
"""Largest configuration file read (1 MiB): a TOML config is a few hundred bytes."""


@dataclasses.dataclass(frozen=True)
class AuditConfig:
    """Configuration of one audit run (defaults: the ``"default"`` preset).

    Run-wide values sit at the top; every stage's choices form a section (a frozen dataclass,
    a TOML table), and each stage receives only the sections it reads.

    Attributes:
        seed: seed of ``jax.random.key`` for the whole run (every stage splits from it).
        devices: how many devices share the independent axes (ensemble members, Sobol'
            rows, indicator queries) through the ``devices=`` option of those functions: 0
            (the default) keeps the single-device path, ``k`` takes the first ``k`` of
            ``jax.devices()``. Every stage gives the single-device result up to rounding on
            the same inputs, but training amplifies rounding over its epochs, so the trained
            networks (and what is computed from them) differ as with another seed.
        case: :class:`~edtjax.audit.CaseConfig`, the built-in case (``[case]``).
        split: :class:`~edtjax.audit.SplitConfig`, the data split (``[split]``).
        surrogate: :class:`~edtjax.audit.SurrogateConfig`, the trained surrogates
            (``[surrogate]``).
        calibration: :class:`~edtjax.audit.CalibrationConfig`, their calibration
            (``[calibration]``).
        sensitivity: :class:`~edtjax.audit.SensitivityConfig`, Sobol' and parameter sensitivity
            (``[sensitivity]``).
        transport: :class:`~edtjax.audit.TransportConfig`, contours and shift tests
            (``[transport]``).
        reliability: :class:`~edtjax.audit.ReliabilityConfig`, the indicators (``[reliability]``).
        maps: :class:`~edtjax.audit.MapsConfig`, the depth maps (``[maps]``).
        bias: :class:`~edtjax.audit.BiasConfig`, the downstream bias (``[bias]``).
        inputs: declared input laws of the Sobol' and bias stages, ``((name, law,
            ((parameter, value), ...)), ...)`` in the canonical order of
            :func:`parse_input_laws`; a mapping ``{name: {"law": ..., parameter: value}}`` (the
            TOML ``[inputs]`` table) is accepted and converted. Empty (the default): no
            declared laws, the empirical law of the labelled runs is used (data with a
            ``box``, such as the built-in case, declare independent uniform laws on it).

    Raises:
        ValueError: a value out of range (the message names ``section.key``), a section of
            the wrong type, or ``maps.depth_map_indicators`` not among
            ``reliability.indicators`` (or ``combined``).
    """

    seed: int = 0
    devices: int = 0
    case: CaseConfig = dataclasses.field(default_factory=CaseConfig)
    split: SplitConfig = dataclasses.field(default_factory=SplitConfig)
    surrogate: SurrogateConfig = dataclasses.field(default_factory=SurrogateConfig)
    calibration: CalibrationConfig = dataclasses.field(default_factory=CalibrationConfig)
    sensitivity: SensitivityConfig = dataclasses.field(default_factory=SensitivityConfig)
    transport: TransportConfig = dataclasses.field(default_factory=TransportConfig)
    reliability: ReliabilityConfig = dataclasses.field(default_factory=ReliabilityConfig)
    maps: MapsConfig = dataclasses.field(default_factory=MapsConfig)
    bias: BiasConfig = dataclasses.field(default_factory=BiasConfig)
    inputs: tuple[tuple[str, str, tuple[tuple[str, float], ...]], ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "inputs", parse_input_laws(self.inputs))
        check_field("seed", self.seed)
        check_field("devices", self.devices)
        for table, cls in SECTIONS.items():
            value = getattr(self, table)
            if not isinstance(value, cls):
                raise ValueError(
                    f"config section {table!r} must be a {cls.__name__}, got {type(value).__name__}"
                )
        unknown = (
            set(self.maps.depth_map_indicators) - set(self.reliability.indicators) - {"combined"}
        )
        if unknown:
            raise ValueError(
                "config key 'maps.depth_map_indicators' must name indicators among "
                f"'reliability.indicators' or 'combined', got {sorted(unknown)}"
            )


def audit_preset(name: str) -> AuditConfig:
    """The preset configuration ``"default"`` or ``"quick"``.

    ``"quick"`` runs every stage of the built-in audit at small sizes (under a minute on an
    idle 2-core CPU, compilation included); ``"default"`` is the full audit (under five
    minutes there).

    Example:
        >>> audit_preset("default").surrogate.members
        5
    """
    if name not in _PRESETS:
        raise ValueError(f"preset must be one of {sorted(_PRESETS)}, got {name!r}")
    return _PRESETS[name]


def config_to_dict(config: AuditConfig) -> dict[str, object]:
    """The configuration as a JSON-serialisable dict: ``seed``, ``devices``, one dict per
    section, and ``inputs`` as its table (tuples become lists); the TOML file's layout.

    Example:
        >>> config_to_dict(audit_preset("quick"))["surrogate"]["hidden"]
        [32, 32]
    """
    if not isinstance(config, AuditConfig):
        raise ValueError(f"config must be an AuditConfig, got {type(config).__name__}")

    def plain(section: Section) -> dict[str, object]:
        return {f.name: _json_value(getattr(section, f.name)) for f in dataclasses.fields(section)}

    return {
        "seed": config.seed,
        "devices": config.devices,
        **{table: plain(getattr(config, table)) for table in SECTIONS},
        "inputs": input_laws_table(config.inputs),
    }


def _json_value(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


def sectioned_config(table: Mapping[str, object]) -> dict[str, object]:
    """A configuration dict with every flat key of an older layout moved into its section.

    Older ``report.json`` files hold the configuration flat (``{"members": 5, ...}``); this
    places each key named in :data:`~edtjax.audit.sections.FIELD_TABLES` into its table, as
    :func:`config_to_dict` writes it, and keeps every other key as it is. Nothing is checked:
    it describes a run that happened.

    Example:
        >>> sectioned_config({"seed": 0, "members": 3, "alpha": 0.1})
        {'seed': 0, 'surrogate': {'members': 3}, 'reliability': {'alpha': 0.1}}
    """
    out: dict[str, object] = {}
    for key, value in table.items():
        if key in FIELD_TABLES:
            section = out.setdefault(FIELD_TABLES[key], {})
            section[key] = value
        elif key in SECTIONS and isinstance(value, Mapping):
            out.setdefault(key, {}).update(value)
        else:
            out[key] = value
    return out


def load_config(path: str | os.PathLike, preset: str = "default") -> AuditConfig:
    """Read a TOML file of overrides over a preset.

    The file holds the top-level keys ``seed`` and ``devices``, one table per section
    (``[case]``, ``[split]``, ``[surrogate]``, ``[calibration]``, ``[sensitivity]``,
    ``[transport]``, ``[reliability]``, ``[maps]``, ``[bias]``: the fields of
    :class:`~edtjax.audit.CaseConfig` ... :class:`~edtjax.audit.BiasConfig`, arrays for tuple
    fields) and an optional ``[inputs]`` table of input laws (see :data:`INPUT_LAWS`); an
    optional ``preset = "quick"`` entry picks the preset the overrides apply to (else
    ``preset``). A section key written at the top level (the flat layout of earlier
    versions) is refused with the table it belongs to.

    Args:
        path: the TOML file.
        preset: preset name when the file does not name one.

    Returns:
        The :class:`AuditConfig`.

    Raises:
        ValueError: unreadable or malformed TOML, an unknown or misplaced key, a value of the
            wrong type or out of range (the message names ``section.key`` and the
            expectation).

    Example:
        >>> import pathlib, tempfile
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "audit.toml"
        >>> _ = p.write_text('preset = "quick"\\n[surrogate]\\nmembers = 4\\n')
        >>> load_config(p).surrogate.members
        4
    """
    try:
        text = read_text(path, max_bytes=MAX_CONFIG_BYTES)
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"config file {os.fspath(path)!r} cannot be read: {err}") from err
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"config file {os.fspath(path)!r} is not valid TOML: {err}") from err
    return config_from_mapping(table, preset)


_TOP_LEVEL = ("preset", "seed", "devices", *SECTIONS, "inputs")


def config_from_mapping(
    table: Mapping[str, object], preset: str | AuditConfig = "default"
) -> AuditConfig:
    """Apply a mapping of overrides (as read from TOML) to a preset or to a configuration.

    Layout and errors as in :func:`load_config`; ``preset`` is a preset name or an
    :class:`AuditConfig` to start from (a ``"preset"`` key of ``table`` wins). Arrays may be
    lists or tuples.

    Example:
        >>> cfg = config_from_mapping({"reliability": {"alpha": 0.05}}, audit_preset("quick"))
        >>> cfg.reliability.alpha, cfg.surrogate.members
        (0.05, 3)
    """
    if not isinstance(table, Mapping):
        raise ValueError(f"config must be a table of keys, got {type(table).__name__}")
    table = dict(table)
    name = table.pop("preset", preset)
    if isinstance(name, AuditConfig):
        base = name
    elif isinstance(name, str):
        base = audit_preset(name)
    else:
        raise ValueError(f"config key 'preset' must be a string, got {name!r}")
    for key in table:
        if key in FIELD_TABLES:
            raise ValueError(
                f"config key {key!r} belongs to the [{FIELD_TABLES[key]}] table: write it "
                f"under [{FIELD_TABLES[key]}] (as {FIELD_TABLES[key]}.{key})"
            )
        if key not in _TOP_LEVEL:
            raise ValueError(f"config has unknown key {key!r}; expected among {list(_TOP_LEVEL)}")
    values: dict[str, object] = {}
    for key in ("seed", "devices"):
        if key in table:
            values[key] = _coerce(key, table[key], getattr(base, key))
    if "inputs" in table:
        if not isinstance(table["inputs"], Mapping):
            raise ValueError(
                "config key 'inputs' must be a table of input laws ([inputs.NAME] with law = "
                f"..., parameters), got {table['inputs']!r}"
            )
        values["inputs"] = parse_input_laws(table["inputs"])
    for section_name in SECTIONS:
        if section_name in table:
            section = getattr(base, section_name)
            values[section_name] = _section(section, table[section_name])
    return dataclasses.replace(base, **values)


def _section(section: Section, overrides: object) -> Section:
    """``section`` with the ``overrides`` of its TOML table applied and checked."""
    table = section.table
    if not isinstance(overrides, Mapping):
        raise ValueError(f"config key {table!r} must be a table ([{table}]), got {overrides!r}")
    fields = [f.name for f in dataclasses.fields(section)]
    for key in overrides:
        if key in fields:
            continue
        if key in FIELD_TABLES:
            raise ValueError(
                f"config key '{table}.{key}' is not in the [{table}] table: {key} belongs to "
                f"[{FIELD_TABLES[key]}]"
            )
        raise ValueError(f"config has unknown key '{table}.{key}'; [{table}] takes {fields}")
    values = {
        key: _coerce(f"{table}.{key}", value, getattr(section, key))
        for key, value in overrides.items()
    }
    return dataclasses.replace(section, **values)


def _coerce(key: str, value: object, default: object) -> object:
    if isinstance(default, tuple):
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"config key {key!r} must be an array, got {value!r}")
        kind = type(default[0]) if default else str
        return tuple(_scalar(f"{key}[{i}]", v, kind) for i, v in enumerate(value))
    return _scalar(key, value, type(default))


def _scalar(key: str, value: object, kind: type) -> object:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if type(value) is not kind:
        raise ValueError(f"config key {key!r} must be of type {kind.__name__}, got {value!r}")
    return value


_PRESETS: dict[str, AuditConfig] = {
    "default": AuditConfig(),
    "quick": AuditConfig(
        case=CaseConfig(n_design=384, n_queries=96, solver_cells=8, solver_steps=30),
        surrogate=SurrogateConfig(
            hidden=(32, 32), members=3, epochs=150, batch_size=32, patience=30, mbll_iterations=50
        ),
        sensitivity=SensitivityConfig(sobol_samples=512, gsa_samples=256, gsa_points=32),
        transport=TransportConfig(permutations=100, shift_test_size=150, contour_points=32),
        maps=MapsConfig(depth_map_indicators=("lens_fermat",), grid_size=24),
        bias=BiasConfig(bias_samples=256),
    ),
}
