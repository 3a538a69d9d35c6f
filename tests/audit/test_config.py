"""Audit configuration: presets, TOML overrides and bad keys, types and values."""

import dataclasses
import json

import pytest

from edtjax.audit import AuditConfig, audit_preset, config_to_dict, load_config
from edtjax.audit.config import (
    INPUT_LAWS,
    check_input_names,
    config_from_mapping,
    parse_input_laws,
)


def _write(tmp_path, text):
    path = tmp_path / "audit.toml"
    path.write_text(text)
    return path


def test_presets_are_configs_and_quick_is_smaller():
    default, quick = audit_preset("default"), audit_preset("quick")
    assert default == AuditConfig()
    for name in ("n_design", "members", "epochs", "sobol_samples", "gsa_samples", "permutations"):
        assert getattr(quick, name) < getattr(default, name), name
    with pytest.raises(ValueError, match="preset must be one of"):
        audit_preset("huge")


def test_config_to_dict_is_json_and_round_trips():
    cfg = audit_preset("quick")
    d = config_to_dict(cfg)
    assert json.loads(json.dumps(d)) == d
    assert set(d) == {f.name for f in dataclasses.fields(AuditConfig)}
    rebuilt = AuditConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})
    assert rebuilt == cfg
    with pytest.raises(ValueError, match="AuditConfig"):
        config_to_dict({"seed": 0})


def test_load_config_overrides_a_preset(tmp_path):
    path = _write(
        tmp_path,
        'preset = "quick"\nmembers = 4\nalpha = 0.05\nhidden = [16, 8]\nlearning_rate = 1\n'
        'indicators = ["mahalanobis", "lens_fermat"]\ndepth_map_indicators = ["combined"]\n',
    )
    cfg = load_config(path)
    quick = audit_preset("quick")
    assert cfg.members == 4 and cfg.alpha == 0.05 and cfg.hidden == (16, 8)
    assert cfg.learning_rate == 1.0 and isinstance(cfg.learning_rate, float)
    assert cfg.indicators == ("mahalanobis", "lens_fermat")
    assert cfg.n_design == quick.n_design  # untouched keys keep the preset's value
    assert load_config(_write(tmp_path, "seed = 3\n")).n_design == AuditConfig().n_design
    assert load_config(_write(tmp_path, "seed = 3\n"), preset="quick").n_design == quick.n_design


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("membres = 3\n", r"unknown keys \['membres'\]"),
        ('members = "3"\n', "'members' must be of type int"),
        ("members = 3.0\n", "'members' must be of type int"),
        ("members = true\n", "'members' must be of type int"),
        ("alpha = 0.7\n", r"'alpha' must be a float in \(0, 0.5\)"),
        ("members = 1\n", "'members' must be an int >= 2"),
        ("sobol_samples = 1000\n", "'sobol_samples' must be a power of two"),
        ("hidden = 64\n", "'hidden' must be an array"),
        ("hidden = [64, 0]\n", "'hidden' must be widths >= 1"),
        ('indicators = ["lens"]\n', "'indicators' must be a non-empty list"),
        ('bayesian_method = "nuts"\n', "'bayesian_method' must be 'mbll' or 'laplace'"),
        ("coverage_levels = [0.9, 0.5]\n", "'coverage_levels' must be increasing"),
        ("train_fraction = 0.9\n", "train_fraction \\+ calibration_fraction must be < 1"),
        (
            'depth_map_indicators = ["ensemble_spread"]\nindicators = ["mahalanobis"]\n',
            "depth_map_indicators must be among indicators",
        ),
        ('preset = "fast"\n', "preset must be one of"),
        ("members = \n", "not valid TOML"),
    ],
)
def test_load_config_rejects_bad_files(tmp_path, text, match):
    with pytest.raises(ValueError, match=match):
        load_config(_write(tmp_path, text))


def test_load_config_missing_file(tmp_path):
    with pytest.raises(ValueError, match="cannot be read"):
        load_config(tmp_path / "absent.toml")


def test_direct_construction_is_validated():
    with pytest.raises(ValueError, match="'grid_size' must be an int >= 4"):
        AuditConfig(grid_size=2)
    with pytest.raises(ValueError, match="'shift_distance' must be a float > 0"):
        AuditConfig(shift_distance=float("nan"))


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
    with pytest.raises(ValueError, match="'sobol_extrapolation_share' must be a float in"):
        load_config(_write(tmp_path, "sobol_extrapolation_share = 1.5\n"))


def test_declared_inputs_must_match_the_data():
    laws = parse_input_laws({"a": {"law": "Normal", "loc": 0, "scale": 1}, "z": _UNIFORM})
    with pytest.raises(ValueError, match=r"unknown inputs \['z'\]; the data's inputs are"):
        check_input_names(laws, ("a", "b"))
    with pytest.raises(ValueError, match=r"lacks laws for the inputs \['b'\]"):
        check_input_names(laws[:1], ("a", "b"))
    check_input_names(laws, ("z", "a"))  # any order
    check_input_names((), ("a", "b"))  # no declaration: the empirical law


_UNIFORM = {"law": "Uniform", "low": 0, "high": 1}
