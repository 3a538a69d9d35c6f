"""Hand chains to ArviZ: an ``InferenceData`` from edtjax's chain, lattice and BNN results."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from edtjax._typing import PyTree

__all__ = ["to_inference_data"]


def _leaf_name(path: tuple[Any, ...], default: str) -> str:
    """``"a.b.0"`` for the key path ``['a']['b'][0]`` (a dict key, attribute or index each)."""
    parts = []
    for entry in path:
        for attr in ("key", "name", "idx"):
            if hasattr(entry, attr):
                parts.append(str(getattr(entry, attr)))
                break
    return ".".join(parts) or default


def _variables(name: str, tree: Any, lead: tuple[str, ...], default: str) -> dict[str, Any]:
    """Flatten ``tree`` into named ``(dims, array)`` pairs whose leading axes are ``lead``."""
    variables = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        var = _leaf_name(path, default)
        arr = np.asarray(leaf)
        if arr.ndim < len(lead):
            raise ValueError(
                f"{name} leaf {var!r} must have leading axes {lead}, got shape {arr.shape}"
            )
        extra = tuple(f"{var}_dim_{i}" for i in range(arr.ndim - len(lead)))
        variables[var] = (lead + extra, arr)
    return variables


def _check_sizes(name: str, variables: dict[str, Any], lead: tuple[str, ...], sizes: dict) -> None:
    """Every variable agrees with ``sizes`` (filled from the first one) on the ``lead`` axes."""
    for var, (_, arr) in variables.items():
        for axis, dim in enumerate(lead):
            if sizes.setdefault(dim, arr.shape[axis]) != arr.shape[axis]:
                raise ValueError(
                    f"{name} leaf {var!r} has {arr.shape[axis]} along {dim!r}, other leaves "
                    f"have {sizes[dim]}"
                )


def to_inference_data(result: PyTree) -> Any:
    """Convert a sampler's output to an ArviZ ``InferenceData`` (needs the ``arviz`` extra).

    The recorded draws go to the ``posterior`` group with dimensions ``(chain, draw, ...)``;
    the per-chain diagnostics go to ``sample_stats`` with dimension ``chain``, under the
    sampler's own names. Accepted inputs:

    - :class:`~edtjax.mcmc.ChainResult`, :class:`~edtjax.lattice.IsingSample` and
      :class:`~edtjax.lattice.Phi4Result`: ``traces`` (the observables: energy,
      magnetisation, positions, ...) and ``info`` (per-chain means of the kernel diagnostics:
      acceptance or flip rate, divergence fraction; the tuned ``step_size`` of
      :func:`~edtjax.lattice.sample_phi4`).
    - :class:`~edtjax.surrogates.PosteriorSamples` (BNN posteriors from
      :func:`~edtjax.surrogates.nuts_blackjax` or :func:`~edtjax.surrogates.nuts_numpyro`):
      ``samples`` (the parameter pytree), and ``divergences`` and ``acceptance_rate`` per
      chain; the total ``gradient_evaluations`` is an attribute of ``sample_stats``.

    A pytree leaf is named by its key path joined with dots (``"params.Dense_0.kernel"``), a
    bare array ``"x"``; trailing axes are named ``"<name>_dim_<i>"``. ArviZ's
    ``rhat(..., method="rank")`` on the result is edtjax's :func:`~edtjax.mcmc.split_rhat`;
    its ``ess(..., method="mean")`` estimates the same ``N / (2 tau_int)`` as
    :func:`~edtjax.mcmc.effective_sample_size`, by Geyer's initial monotone sequence on split
    chains rather than Wolff's automatic window. ArviZ is imported here, on first use, never
    with edtjax. Cost: one host copy of the draws.

    Args:
        result: a ``ChainResult``, ``IsingSample``, ``Phi4Result`` or ``PosteriorSamples``.

    Returns:
        ``arviz.InferenceData`` with the groups ``posterior`` and ``sample_stats``.

    Raises:
        ValueError: if ``result`` is none of the above, or its draws do not share the
            ``(chain, draw)`` axes, or its diagnostics the ``chain`` axis.
        ImportError: if ArviZ 0.x is not installed (``pip install "edtjax[arviz]"``).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.mcmc import ChainResult, to_inference_data
        >>> draws = {"energy": jax.random.normal(jax.random.key(0), (4, 100))}
        >>> chains = ChainResult(draws, None, {"acceptance_rate": jnp.full((4,), 0.7)})
        >>> idata = to_inference_data(chains)
        >>> idata.posterior["energy"].shape, idata.sample_stats["acceptance_rate"].dims
        ((4, 100), ('chain',))

    References:
        Kumar, R., Carroll, C., Hartikainen, A. and Martin, O. (2019). ArviZ a unified library
        for exploratory analysis of Bayesian models in Python. JOSS 4(33), 1143.
    """
    if hasattr(result, "traces") and hasattr(result, "info"):
        draws, stats, attrs = result.traces, result.info, {}
    elif all(hasattr(result, f) for f in ("samples", "divergences", "acceptance_rate")):
        draws = result.samples
        stats = {"acceptance_rate": result.acceptance_rate, "divergences": result.divergences}
        attrs = {"gradient_evaluations": int(np.asarray(result.gradient_evaluations))}
    else:
        raise ValueError(
            "result must be a ChainResult, IsingSample, Phi4Result or PosteriorSamples (an "
            f"object with traces and info, or with samples, divergences and acceptance_rate), "
            f"got {type(result).__name__}"
        )
    posterior = _variables("result's draws", draws, ("chain", "draw"), "x")
    if not posterior:
        raise ValueError("result holds no recorded draws")
    sample_stats = _variables("result's diagnostics", stats, ("chain",), "info")
    sizes: dict[str, int] = {}
    _check_sizes("result's draws", posterior, ("chain", "draw"), sizes)
    _check_sizes("result's diagnostics", sample_stats, ("chain",), sizes)

    import arviz
    import xarray

    if not hasattr(arviz, "InferenceData"):
        raise ImportError(
            f"to_inference_data builds ArviZ 0.x's InferenceData, which ArviZ {arviz.__version__} "
            'no longer has: pip install "arviz<1" (the edtjax[arviz] extra)'
        )
    coords = {"chain": np.arange(sizes["chain"]), "draw": np.arange(sizes["draw"])}
    return arviz.InferenceData(
        posterior=xarray.Dataset(posterior, coords=coords),
        sample_stats=xarray.Dataset(sample_stats, coords={"chain": coords["chain"]}, attrs=attrs),
    )
