"""Report writer: figures, HTML and JSON summaries of an audit."""

from edtjax.report.audit_figures import ReportFigure, audit_figures
from edtjax.report.domain_plots import plot_depth_map, plot_quantile_contours
from edtjax.report.queries import query_table, query_table_csv, query_table_json
from edtjax.report.sensitivity_plots import (
    plot_index_trajectories,
    plot_parameter_gsa,
    plot_sobol_comparison,
    plot_sobol_indices,
)
from edtjax.report.summary import (
    LEVELS,
    Verdict,
    audit_summary,
    format_number,
    reaches_level,
    unavailable_reason,
    verdict_records,
)
from edtjax.report.uq_plots import plot_calibration_curve, plot_coverage
from edtjax.report.validity_plots import (
    plot_indicator_scores,
    plot_shift_tests,
    plot_stage_timings,
)
from edtjax.report.writer import check_report_folder, write_audit_report

__all__ = [
    "LEVELS",
    "ReportFigure",
    "Verdict",
    "audit_figures",
    "audit_summary",
    "check_report_folder",
    "format_number",
    "plot_calibration_curve",
    "plot_coverage",
    "plot_depth_map",
    "plot_index_trajectories",
    "plot_indicator_scores",
    "plot_parameter_gsa",
    "plot_quantile_contours",
    "plot_shift_tests",
    "plot_sobol_comparison",
    "plot_sobol_indices",
    "plot_stage_timings",
    "query_table",
    "query_table_csv",
    "query_table_json",
    "reaches_level",
    "unavailable_reason",
    "verdict_records",
    "write_audit_report",
]
