"""The audit workflow: simulate or load data, fit surrogates, explain them, judge new inputs."""

from edtjax.audit.config import AuditConfig, audit_preset, config_to_dict, load_config
from edtjax.audit.data import load_user_data, read_table
from edtjax.audit.pipeline import STAGES, run_audit
from edtjax.audit.result import AuditData, AuditResult, check_audit_result
from edtjax.audit.summary import format_summary
from edtjax.audit.surrogate import (
    UserPredictions,
    UserSurrogate,
    load_predictions,
    load_surrogate,
)
from edtjax.audit.thermodiffusion import pellet_simulator, thermodiffusion_case

__all__ = [
    "AuditConfig",
    "AuditData",
    "AuditResult",
    "STAGES",
    "UserPredictions",
    "UserSurrogate",
    "audit_preset",
    "check_audit_result",
    "config_to_dict",
    "format_summary",
    "load_config",
    "load_predictions",
    "load_surrogate",
    "load_user_data",
    "pellet_simulator",
    "read_table",
    "run_audit",
    "thermodiffusion_case",
]
