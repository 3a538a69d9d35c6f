"""The audit workflow: simulate or load data, fit surrogates, explain them, judge new inputs."""

from edtjax.audit.result import AuditData, AuditResult, check_audit_result

__all__ = ["AuditData", "AuditResult", "check_audit_result"]
