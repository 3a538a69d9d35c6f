#!/usr/bin/env bash
# Build the documentation into docs/_build/html (entry point: docs/_build/html/index.html).
# Needs the docs extra (pip install -e ".[docs]"). Every warning is an error, a broken
# cross-reference included; the notebooks are rendered without being run. Extra arguments go
# to sphinx-build (e.g. -j 2).
set -euo pipefail
cd "$(dirname "$0")"
# The build imports edtjax but computes nothing: keep JAX off any accelerator.
export JAX_PLATFORMS="${JAX_PLATFORMS:-cpu}"
rm -rf _build/html _build/doctrees
python -m sphinx -E -W --keep-going -n -b html -d _build/doctrees "$@" . _build/html
