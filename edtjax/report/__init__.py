"""Report writer: figures, HTML and JSON summaries."""

from edtjax.report.sensitivity_plots import plot_sobol_indices

__all__ = ["plot_sobol_indices"]
