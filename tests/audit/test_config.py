"""Audit configuration: presets, TOML overrides and bad keys, types and values."""

import dataclasses
import json

import pytest

from edtjax.audit import (
    AuditConfig,
    CaseConfig,
    MapsConfig,
    audit_preset,
    config_to_dict,
    load_config,
)
from edtjax.audit.config import config_from_mapping, sectioned_config
from edtjax.audit.input_laws import INPUT_LAWS, check_input_names, parse_input_laws
from edtjax.audit.sections import _RULES, FIELD_TABLES, SECTIONS


def _write(tmp_path, text):
    path = tmp_path / "audit.toml"
    path.write_text(text)
    return path


def test_presets_are_configs_and_quick_is_smaller():
    default, quick = audit_preset("default"), audit_preset("quick")
    assert default == AuditConfig()
    for name in (
        "case.n_design",
        "surrogate.members",
        "surrogate.epochs",
        "sensitivity.sobol_samples",
        "sensitivity.gsa_samples",
        "transport.permutations",
    ):
        table, key = name.split(".")
        assert getattr(getattr(quick, table), key) < getattr(getattr(default, table), key), name
    with pytest.raises(ValueError, match="preset must be one of"):
        audit_preset("huge")


def test_every_field_has_one_section_and_one_rule():
    fields = [f.name for cls in SECTIONS.values() for f in dataclasses.fields(cls)]
    assert len(fields) == len(set(fields)) == len(FIELD_TABLES)  # a flat key maps to one table
    assert set(_RULES) == {"seed", "devices"} | {
        f"{table}.{f.name}" for table, cls in SECTIONS.items() for f in dataclasses.fields(cls)
    }
    top = [f.name for f in dataclasses.fields(AuditConfig)]
    assert top == ["seed", "devices", *SECTIONS, "inputs"]
    for table, cls in SECTIONS.items():
        assert isinstance(getattr(AuditConfig(), table), cls)


def test_config_to_dict_is_json_sectioned_and_round_trips():
    cfg = audit_preset("quick")
    d = config_to_dict(cfg)
    assert json.loads(json.dumps(d)) == d
    assert list(d) == [f.name for f in dataclasses.fields(AuditConfig)]
    assert d["surrogate"]["hidden"] == [32, 32] and d["maps"]["grid_size"] == 24
    assert config_from_mapping(d) == cfg  # the TOML layout
    rebuilt = AuditConfig(
        seed=d["seed"],
        devices=d["devices"],
        inputs=d["inputs"],
        **{
            table: cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d[table].items()})
            for table, cls in SECTIONS.items()
        },
    )
    assert rebuilt == cfg
    with pytest.raises(ValueError, match="AuditConfig"):
        config_to_dict({"seed": 0})


def test_load_config_overrides_a_preset(tmp_path):
    path = _write(
        tmp_path,
        'preset = "quick"\n[surrogate]\nmembers = 4\nhidden = [16, 8]\nlearning_rate = 1\n'
        '[reliability]\nalpha = 0.05\nindicators = ["mahalanobis", "lens_fermat"]\n'
        '[maps]\ndepth_map_indicators = ["combined"]\n',
    )
    cfg = load_config(path)
    quick = audit_preset("quick")
    assert cfg.surrogate.members == 4 and cfg.surrogate.hidden == (16, 8)
    assert cfg.reliability.alpha == 0.05
    assert cfg.surrogate.learning_rate == 1.0 and isinstance(cfg.surrogate.learning_rate, float)
    assert cfg.reliability.indicators == ("mahalanobis", "lens_fermat")
    assert cfg.maps.depth_map_indicators == ("combined",)
    # untouched keys, also of a touched section, keep the preset's value
    assert cfg.case == quick.case and cfg.surrogate.epochs == quick.surrogate.epochs
    assert load_config(_write(tmp_path, "seed = 3\n")).case == AuditConfig().case
    assert load_config(_write(tmp_path, "seed = 3\n"), preset="quick").case == quick.case


def test_config_from_mapping_starts_from_a_config():
    quick = audit_preset("quick")
    cfg = config_from_mapping({"seed": 5, "transport": {"contour_levels": (0.5,)}}, quick)
    assert cfg.seed == 5 and cfg.transport.contour_levels == (0.5,)
    assert cfg.transport.permutations == quick.transport.permutations
    assert config_from_mapping({}, quick) == quick
    assert config_from_mapping({"preset": "default"}, quick) == AuditConfig()


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[surrogate]\nmembres = 3\n", r"unknown key 'surrogate\.membres'; \[surrogate\] takes"),
        ("colour = 3\n", r"unknown key 'colour'; expected among \['preset', 'seed'"),
        ('[surrogate]\nmembers = "3"\n', "'surrogate.members' must be of type int"),
        ("[surrogate]\nmembers = 3.0\n", "'surrogate.members' must be of type int"),
        ("[surrogate]\nmembers = true\n", "'surrogate.members' must be of type int"),
        ("[reliability]\nalpha = 0.7\n", r"'reliability\.alpha' must be a float in \(0, 0.5\)"),
        ("[surrogate]\nmembers = 1\n", "'surrogate.members' must be an int >= 2"),
        ("[sensitivity]\nsobol_samples = 1000\n", "'sensitivity.sobol_samples' must be a power"),
        ("[surrogate]\nhidden = 64\n", "'surrogate.hidden' must be an array"),
        ("[surrogate]\nhidden = [64, 0]\n", "'surrogate.hidden' must be widths >= 1"),
        ('[reliability]\nindicators = ["lens"]\n', "'reliability.indicators' must be a non-empty"),
        ('[surrogate]\nbayesian_method = "nuts"\n', "'surrogate.bayesian_method' must be 'mbll'"),
        ("[calibration]\ncoverage_levels = [0.9, 0.5]\n", "'calibration.coverage_levels' must"),
        (
            "[split]\ntrain_fraction = 0.9\n",
            r"'split\.train_fraction' \+ 'split\.calibration_fraction' must be < 1",
        ),
        (
            '[maps]\ndepth_map_indicators = ["ensemble_spread"]\n'
            '[reliability]\nindicators = ["mahalanobis"]\n',
            "'maps.depth_map_indicators' must name indicators among 'reliability.indicators'",
        ),
        ("surrogate = 3\n", r"'surrogate' must be a table \(\[surrogate\]\)"),
        ('preset = "fast"\n', "preset must be one of"),
        ("[surrogate]\nmembers = \n", "not valid TOML"),
    ],
)
def test_load_config_rejects_bad_files(tmp_path, text, match):
    with pytest.raises(ValueError, match=match):
        load_config(_write(tmp_path, text))


@pytest.mark.parametrize(
    ("text", "table"),
    [
        ("members = 4\n", "surrogate"),
        ("n_design = 128\n", "case"),
        ("train_fraction = 0.5\n", "split"),
        ("coverage_levels = [0.9]\n", "calibration"),
        ("sobol_extrapolation_share = 0.3\n", "sensitivity"),
        ("permutations = 50\n", "transport"),
        ("alpha = 0.05\n", "reliability"),
        ("grid_size = 8\n", "maps"),
        ("bias_samples = 64\n", "bias"),
    ],
)
def test_flat_keys_of_the_earlier_layout_are_refused_naming_their_table(tmp_path, text, table):
    key = text.split(" ")[0]
    match = rf"config key '{key}' belongs to the \[{table}\] table: write it under \[{table}\]"
    with pytest.raises(ValueError, match=match):
        load_config(_write(tmp_path, text))
    assert FIELD_TABLES[key] == table


def test_a_key_in_the_wrong_table_names_its_table(tmp_path):
    with pytest.raises(ValueError, match=r"'surrogate\.alpha' is not in the \[surrogate\] table: "
                       r"alpha belongs to \[reliability\]"):  # fmt: skip
        load_config(_write(tmp_path, "[surrogate]\nalpha = 0.05\n"))


def test_sectioned_config_reads_an_older_flat_configuration():
    flat = {
        "seed": 2,
        "n_design": 384,
        "members": 3,
        "alpha": 0.1,
        "indicators": ["mahalanobis"],
        "devices": 0,
        "inputs": {},
    }
    assert sectioned_config(flat) == {
        "seed": 2,
        "case": {"n_design": 384},
        "surrogate": {"members": 3},
        "reliability": {"alpha": 0.1, "indicators": ["mahalanobis"]},
        "devices": 0,
        "inputs": {},
    }
    d = config_to_dict(audit_preset("quick"))
    assert sectioned_config(d) == d  # the sectioned layout is left as it is
    flat_quick = {
        "seed": d["seed"],
        "devices": d["devices"],
        **{k: v for table in SECTIONS for k, v in d[table].items()},
        "inputs": d["inputs"],
    }
    assert config_from_mapping(sectioned_config(flat_quick)) == audit_preset("quick")


def test_direct_construction_is_validated():
    with pytest.raises(ValueError, match=r"'maps\.grid_size' must be an int >= 4"):
        MapsConfig(grid_size=2)
    with pytest.raises(ValueError, match=r"'case\.shift_distance' must be a float > 0"):
        CaseConfig(shift_distance=float("nan"))
    with pytest.raises(ValueError, match="'devices' must be an int >= 0"):
        AuditConfig(devices=-1)
    with pytest.raises(ValueError, match="section 'maps' must be a MapsConfig, got dict"):
        AuditConfig(maps={"grid_size": 8})
    with pytest.raises(ValueError, match=r"'maps\.depth_map_indicators' must name indicators"):
        AuditConfig(maps=MapsConfig(depth_map_indicators=("spatial",)))


@pytest.mark.parametrize("seed", [-1, 2**63 - 1, 2**80])
def test_seed_outside_the_64_bit_key_range_is_refused(tmp_path, seed):
    # before: 2**80 passed validation and the run ended in an OverflowError from jax.random.key
    with pytest.raises(ValueError, match=r"'seed' must be an int in \[0, 2\*\*63 - 2\]"):
        load_config(_write(tmp_path, f"seed = {seed}\n"))
    assert load_config(_write(tmp_path, f"seed = {2**63 - 2}\n")).seed == 2**63 - 2


def test_load_config_refuses_oversized_and_non_regular_files(tmp_path):
    big = tmp_path / "big.toml"
    big.write_text("# padding\n" * (2**20 // 10 + 1))
    with pytest.raises(ValueError, match="cannot be read"):
        load_config(big)
    link = tmp_path / "zero.toml"
    link.symlink_to("/dev/zero")
    with pytest.raises(ValueError, match="cannot be read"):
        load_config(link)


_INPUTS_TOML = """
[inputs.Q]
law = "Gumbel"
loc = 1013
scale = 558
low = 500
high = 3000
[inputs.Ks]
law = "Normal"
loc = 30
scale = 8
low = 15
[inputs.Zv]
law = "Uniform"
low = 49
high = 51
"""


def test_inputs_table_declares_laws_and_round_trips(tmp_path):
    cfg = load_config(_write(tmp_path, 'preset = "quick"\n' + _INPUTS_TOML))
    assert cfg.inputs == (
        ("Q", "Gumbel", (("loc", 1013.0), ("scale", 558.0), ("low", 500.0), ("high", 3000.0))),
        ("Ks", "Normal", (("loc", 30.0), ("scale", 8.0), ("low", 15.0))),
        ("Zv", "Uniform", (("low", 49.0), ("high", 51.0))),
    )
    hash(cfg)  # still hashable
    d = config_to_dict(cfg)
    assert json.loads(json.dumps(d)) == d
    assert d["inputs"]["Q"] == {"law": "Gumbel", "loc": 1013.0, "scale": 558.0, "low": 500.0,
                                "high": 3000.0}  # fmt: skip
    assert config_from_mapping(d) == cfg  # what the command line does with overrides
    assert dataclasses.replace(cfg, inputs=d["inputs"]) == cfg
    # every law of INPUT_LAWS is accepted with its parameters and an optional truncation
    table = {
        law: {"law": law, **{p: 0.5 for p in params}, **({} if law == "Uniform" else {"high": 2})}
        for law, params in INPUT_LAWS.items()
    }
    table["Uniform"]["high"] = 1.0
    table["Normal"]["low"] = -1.0
    assert [law for _, law, _ in parse_input_laws(table)] == list(INPUT_LAWS)
    assert audit_preset("default").inputs == ()


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        ('law = "Weibull"\nscale = 1', r"'inputs\.Q\.law' must be one of \['Beta'"),
        ("loc = 1\nscale = 2", r"'inputs\.Q\.law' must be one of"),
        ('law = "Normal"\nloc = 1', r"'inputs\.Q\.scale' is missing; Normal takes loc, scale"),
        ('law = "Normal"\nloc = 1\nscale = 0', r"'inputs\.Q\.scale' must be a finite number > 0"),
        ('law = "Normal"\nloc = 1\nscale = -2', r"'inputs\.Q\.scale' must be a finite number"),
        ('law = "Normal"\nloc = "a"\nscale = 2', r"'inputs\.Q\.loc' must be a number"),
        ('law = "Normal"\nloc = true\nscale = 2', r"'inputs\.Q\.loc' must be a number"),
        ('law = "Normal"\nloc = inf\nscale = 2', r"'inputs\.Q\.loc' must be a finite number"),
        ('law = "Normal"\nloc = 1\nscale = 2\nmean = 3', r"'inputs\.Q' has unknown keys"),
        ('law = "Uniform"\nlow = 2\nhigh = 1', r"'inputs\.Q\.low' must be below 'inputs\.Q\.high'"),
        ('law = "Normal"\nloc = 0\nscale = 1\nlow = 3\nhigh = 3', r"'inputs\.Q\.low' must be"),
        ('law = "Gamma"\nconcentration = 2\nrate = 1\nhigh = -1', r"'inputs\.Q' truncates Gamma"),
        ('law = "Beta"\nconcentration1 = 2\nconcentration0 = 1\nlow = 1.5', r"outside its support"),
        ('law = "Exponential"\nrate = 0', r"'inputs\.Q\.rate' must be a finite number > 0"),
    ],
)
def test_inputs_table_rejects_bad_laws(tmp_path, entry, match):
    with pytest.raises(ValueError, match=match):
        load_config(_write(tmp_path, f"[inputs.Q]\n{entry}\n"))


def test_inputs_must_be_a_table_of_tables(tmp_path):
    with pytest.raises(ValueError, match="'inputs' must be a table of input laws"):
        load_config(_write(tmp_path, 'inputs = ["Q"]\n'))
    with pytest.raises(ValueError, match=r"'inputs\.Q' must be a table with law"):
        load_config(_write(tmp_path, "[inputs]\nQ = 3\n"))
    with pytest.raises(
        ValueError, match=r"'sensitivity\.sobol_extrapolation_share' must be a float in"
    ):
        load_config(_write(tmp_path, "[sensitivity]\nsobol_extrapolation_share = 1.5\n"))


def test_declared_inputs_must_match_the_data():
    laws = parse_input_laws({"a": {"law": "Normal", "loc": 0, "scale": 1}, "z": _UNIFORM})
    with pytest.raises(ValueError, match=r"unknown inputs \['z'\]; the data's inputs are"):
        check_input_names(laws, ("a", "b"))
    with pytest.raises(ValueError, match=r"lacks laws for the inputs \['b'\]"):
        check_input_names(laws[:1], ("a", "b"))
    check_input_names(laws, ("z", "a"))  # any order
    check_input_names((), ("a", "b"))  # no declaration: the empirical law


_UNIFORM = {"law": "Uniform", "low": 0, "high": 1}


def test_a_report_with_a_flat_configuration_reads_back_sectioned():
    from edtjax.audit import AuditResult
    from tests.report.test_audit_figures import synthetic_result

    numbers = synthetic_result().numbers
    d = config_to_dict(audit_preset("quick"))
    flat = {
        "seed": d["seed"],
        **{k: v for table in SECTIONS for k, v in d[table].items()},
        "inputs": d["inputs"],
        "devices": d["devices"],
    }
    numbers["case"]["config"] = flat  # as report.json held it before the sections
    back = AuditResult.from_json(numbers, {}, {})
    assert back.case.config == sectioned_config(flat)
    assert config_from_mapping(back.case.config) == audit_preset("quick")
    numbers["case"]["config"] = d  # the sectioned form reads back as written
    assert AuditResult.from_json(numbers, {}, {}).case.config == d
