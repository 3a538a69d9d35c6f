"""Declared input laws of the audit: the ``[inputs]`` table of its configuration, checked.

The table declares the input laws of the Sobol' and bias stages, one sub-table per input
(see :data:`INPUT_LAWS`)::

    [inputs.Q]
    law = "Gumbel"
    loc = 1013
    scale = 558
    low = 500        # optional truncation, for every law but Uniform
    high = 3000
    [inputs.Zv]
    law = "Uniform"
    low = 49
    high = 51

:func:`parse_input_laws` checks it and returns the canonical (hashable) form that
:class:`~edtjax.audit.AuditConfig` holds in ``inputs``; :func:`input_laws_table` writes it
back. Without a declaration the Sobol' stage uses the empirical law of the labelled runs
(first-order indices only); a declaration must name every input of the data
(:func:`check_input_names`).

Example:
    >>> input_laws_table(parse_input_laws({"Zv": {"law": "Uniform", "low": 49, "high": 51}}))
    {'Zv': {'law': 'Uniform', 'low': 49.0, 'high': 51.0}}
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

INPUT_LAWS: dict[str, tuple[str, ...]] = {
    "Beta": ("concentration1", "concentration0"),
    "Exponential": ("rate",),
    "Gamma": ("concentration", "rate"),
    "Gumbel": ("loc", "scale"),
    "LogNormal": ("loc", "scale"),
    "Normal": ("loc", "scale"),
    "Uniform": ("low", "high"),
}
"""Laws an ``[inputs]`` entry may name (numpyro distributions) and their parameters, named as
numpyro's constructor arguments (``LogNormal``'s ``loc``, ``scale`` are those of the log;
``Beta`` lives on ``(0, 1)`` with ``concentration1 = a``, ``concentration0 = b``; ``Gamma``
and ``Exponential`` take a ``rate``). Every law but ``Uniform`` (whose ``low``, ``high`` are
its parameters) takes an optional truncation ``low`` and/or ``high``. numpyro has no
triangular law."""

_LAW_SUPPORT: dict[str, tuple[float, float]] = {
    "Beta": (0.0, 1.0),
    "Exponential": (0.0, math.inf),
    "Gamma": (0.0, math.inf),
    "LogNormal": (0.0, math.inf),
}
"""Support of the laws that do not live on the whole real line (truncations must meet it)."""

_PARAMETER_RULES: dict[str, tuple[Callable[[float], bool], str]] = {
    "loc": (math.isfinite, "a finite number"),
    "scale": (lambda v: math.isfinite(v) and v > 0.0, "a finite number > 0"),
    "rate": (lambda v: math.isfinite(v) and v > 0.0, "a finite number > 0"),
    "concentration": (lambda v: math.isfinite(v) and v > 0.0, "a finite number > 0"),
    "concentration0": (lambda v: math.isfinite(v) and v > 0.0, "a finite number > 0"),
    "concentration1": (lambda v: math.isfinite(v) and v > 0.0, "a finite number > 0"),
    "low": (math.isfinite, "a finite number"),
    "high": (math.isfinite, "a finite number"),
}


def _law_number(where: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"config key {where!r} must be a number, got {value!r}")
    return float(value)


def _parse_law(name: str, entry: object) -> tuple[str, str, tuple[tuple[str, float], ...]]:
    """One input's law: checked, with its parameters in the canonical order."""
    where = f"inputs.{name}"
    if isinstance(entry, tuple) and len(entry) == 3:  # canonical form
        law, params = entry[1], entry[2]
        if not isinstance(params, tuple) or not all(
            isinstance(p, tuple) and len(p) == 2 for p in params
        ):
            raise ValueError(f"config key {where!r} has malformed parameters {params!r}")
        entry = {"law": law, **dict(params)}
    if not isinstance(entry, Mapping):
        raise ValueError(
            f"config key {where!r} must be a table with law = ... and its parameters, got {entry!r}"
        )
    law = entry.get("law")
    if law not in INPUT_LAWS:
        raise ValueError(
            f"config key '{where}.law' must be one of {sorted(INPUT_LAWS)}, got {law!r}"
        )
    required = INPUT_LAWS[law]
    optional = () if law == "Uniform" else ("low", "high")
    takes = ", ".join(required)
    if optional:
        takes += " (optional truncation low, high)"
    unknown = sorted(set(entry) - {"law", *required, *optional})
    if unknown:
        raise ValueError(f"config key {where!r} has unknown keys {unknown}; {law} takes {takes}")
    missing = [k for k in required if k not in entry]
    if missing:
        raise ValueError(f"config key '{where}.{missing[0]}' is missing; {law} takes {takes}")
    params = []
    for key in (*required, *(k for k in optional if k in entry)):
        value = _law_number(f"{where}.{key}", entry[key])
        rule, expectation = _PARAMETER_RULES[key]
        if not rule(value):
            raise ValueError(f"config key '{where}.{key}' must be {expectation}, got {value!r}")
        params.append((key, value))
    bounds = dict(params)
    low, high = bounds.get("low", -math.inf), bounds.get("high", math.inf)
    if low >= high:
        raise ValueError(
            f"config key '{where}.low' must be below '{where}.high', got {low!r} >= {high!r}"
        )
    s_low, s_high = _LAW_SUPPORT.get(law, (-math.inf, math.inf))
    if max(low, s_low) >= min(high, s_high):
        raise ValueError(
            f"config key '{where}' truncates {law} to [{low:g}, {high:g}], outside its "
            f"support ({s_low:g}, {s_high:g})"
        )
    return (name, law, tuple(params))


def parse_input_laws(table: object) -> tuple[tuple[str, str, tuple[tuple[str, float], ...]], ...]:
    """Check a table of input laws and return it in the canonical (hashable) form.

    Args:
        table: ``{input name: {"law": name, parameter: number, ...}}`` as read from the TOML
            ``[inputs]`` table, or the canonical tuple itself (checked again).

    Returns:
        ``((name, law, ((parameter, value), ...)), ...)``: inputs in the table's order,
        parameters as in :data:`INPUT_LAWS` followed by the truncation ``low``, ``high``.

    Raises:
        ValueError: an unknown law, a missing, unknown or out-of-range parameter, an empty or
            inverted truncation; the message names ``inputs.<name>.<key>``.

    Example:
        >>> parse_input_laws({"Ks": {"law": "Normal", "loc": 30, "scale": 8, "low": 15}})
        (('Ks', 'Normal', (('loc', 30.0), ('scale', 8.0), ('low', 15.0))),)
    """
    if isinstance(table, tuple):
        items = []
        for entry in table:
            if not (isinstance(entry, tuple) and len(entry) == 3):
                raise ValueError(f"config key 'inputs' has a malformed entry {entry!r}")
            items.append((entry[0], entry))
    elif isinstance(table, Mapping):
        items = list(table.items())
    else:
        raise ValueError(f"config key 'inputs' must be a table of input laws, got {table!r}")
    out, seen = [], set()
    for name, entry in items:
        if not isinstance(name, str) or not name:
            raise ValueError(f"config key 'inputs' has an input name {name!r}, not a string")
        if name in seen:
            raise ValueError(f"config key 'inputs.{name}' is declared twice")
        seen.add(name)
        out.append(_parse_law(name, entry))
    return tuple(out)


def input_laws_table(
    inputs: tuple[tuple[str, str, tuple[tuple[str, float], ...]], ...],
) -> dict[str, dict[str, str | float]]:
    """The canonical input laws as the TOML/JSON table ``{name: {"law": ..., **parameters}}``.

    Example:
        >>> input_laws_table(parse_input_laws({"Zv": {"law": "Uniform", "low": 49, "high": 51}}))
        {'Zv': {'law': 'Uniform', 'low': 49.0, 'high': 51.0}}
    """
    return {name: {"law": law, **dict(params)} for name, law, params in inputs}


def box_input_laws(box: Mapping[str, tuple[float, float]]) -> tuple:
    """Independent uniform laws on a box ``{name: (low, high)}``, in the canonical form.

    The built-in case declares its inputs' laws this way: its design is uniform on its box.

    Example:
        >>> box_input_laws({"a": (0.0, 2.0)})
        (('a', 'Uniform', (('low', 0.0), ('high', 2.0))),)
    """
    return parse_input_laws(
        {name: {"law": "Uniform", "low": lo, "high": hi} for name, (lo, hi) in box.items()}
    )


def check_input_names(inputs: tuple, input_names: tuple[str, ...]) -> None:
    """Raise ``ValueError`` unless declared laws name exactly the data's inputs (or none).

    Example:
        >>> check_input_names((), ("a", "b"))  # no declaration: the empirical law
        >>> laws = parse_input_laws({"a": {"law": "Normal", "loc": 0, "scale": 1}})
        >>> try:
        ...     check_input_names(laws, ("a", "b"))
        ... except ValueError as err:
        ...     print(str(err)[:48])
        config [inputs] lacks laws for the inputs ['b']:
    """
    if not inputs:
        return
    declared = [name for name, _, _ in inputs]
    unknown = [n for n in declared if n not in input_names]
    if unknown:
        raise ValueError(
            f"config [inputs] declares laws for unknown inputs {unknown}; the data's inputs "
            f"are {list(input_names)}"
        )
    missing = [n for n in input_names if n not in declared]
    if missing:
        raise ValueError(
            f"config [inputs] lacks laws for the inputs {missing}: declare the law of every "
            "input, or of none (the empirical law of the labelled runs is then used)"
        )
