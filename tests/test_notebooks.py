"""Run every research notebook as a script at small size and check its figures.

Each notebook asserts its own scientific claims (estimates against exact answers, detection
rates, calibration), so a notebook that exits with a non-zero status has a broken claim.
"""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

NOTEBOOKS = {
    "lattice_sampling_and_surrogate_bias": (
        "ising_vs_exact.png",
        "ising_tau_int.png",
        "surrogate_bias.png",
    ),
    "sobol_over_network_parameters": (
        "input_sobol_indices.png",
        "unit_sensitivity_heatmap.png",
        "pruning_by_sobol_index.png",
    ),
    "hallin_quantiles_and_ot_shift": ("center_outward_banana.png", "ot_shift_tests.png"),
    "depth_and_fermat_ood": ("ood_score_maps.png", "ood_auroc.png"),
    "thermodiffusion_reliability": (
        "thermo_calibration.png",
        "thermo_indicators.png",
        "thermo_walk_back.png",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_notebook_runs_and_writes_figures(name, tmp_path):
    env = dict(os.environ)
    env.update(
        EDTJAX_NOTEBOOK_SMALL="1",
        EDTJAX_FIGURES=str(tmp_path),
        MPLBACKEND="Agg",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
    )
    script = ROOT / "notebooks" / f"{name}.py"
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    for figure in NOTEBOOKS[name]:
        path = tmp_path / figure
        assert path.is_file() and path.stat().st_size > 0, figure
