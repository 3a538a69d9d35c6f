"""Sobol' bar chart renders with the right number of bars and error bars."""

from types import SimpleNamespace

import jax
import numpyro.distributions as dist
import pytest

from edtjax.report.sensitivity_plots import plot_sobol_indices
from edtjax.sensitivity import sobol_indices


@pytest.mark.slow
def test_bars_and_png(tmp_path):
    factors = {"a": dist.Normal(0.0, 1.0), "b": dist.Uniform(-1.0, 1.0)}
    r = sobol_indices(jax.random.key(0), lambda v: v["a"] + v["b"] ** 2, factors, 256)
    fig = plot_sobol_indices(r, title="test")
    ax = fig.axes[0]
    assert len(ax.patches) == 4  # 2 factors x (first, total)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["['a']", "['b']"]
    fig.savefig(tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 1000


def test_mismatched_result_is_rejected():
    fake = SimpleNamespace(first_order={"a": 1.0}, total_order={"a": 1.0, "b": 2.0})
    with pytest.raises(ValueError, match="same structure"):
        plot_sobol_indices(fake)
