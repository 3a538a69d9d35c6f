r"""Lattice data sets for surrogate training: Ising configurations and :math:`\phi^4` observables.

These are the "costly computations" a surrogate replaces:

* :func:`ising_configuration_dataset` samples the 2-D Ising model at several inverse
  temperatures and stores decorrelated ``int8`` configurations with their energy and
  magnetisation per site and :math:`\beta` as labels (e.g. to learn :math:`\beta` or the energy
  from a configuration, or to train generative models across the transition).
* :func:`phi4_observable_dataset` runs a Markov chain for every coupling point of a design and
  stores the susceptibility, :math:`\langle|m|\rangle`, the Binder cumulant, the action per site
  and :math:`\langle\overline{\phi^2}\rangle` with their Gamma-method errors as functions of the
  couplings (a regression data set with heteroscedastic, known noise).

Both return a :class:`~edtjax.datasets.Dataset` so that
:func:`~edtjax.datasets.save_dataset`, :func:`~edtjax.datasets.load_dataset` and
:func:`~edtjax.datasets.split_dataset` apply unchanged (``.npz`` arrays plus JSON metadata).

References:
    R. H. Swendsen and J.-S. Wang, "Nonuniversal critical dynamics in Monte Carlo simulations",
    Phys. Rev. Lett. 58, 86 (1987).
    A. D. Sokal, "Monte Carlo methods in statistical mechanics: foundations and new algorithms",
    in Functional Integration (Cargèse, 1996), Springer (1997).
    U. Wolff, "Monte Carlo errors with less errors", Comput. Phys. Commun. 156, 143 (2004).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from edtjax._checks import as_array, check_choice, check_even, check_int, check_real
from edtjax._typing import ArrayLike, DTypeLike, PRNGKey, PyTree
from edtjax.datasets import Dataset
from edtjax.lattice.ising import check_couplings as check_ising_couplings
from edtjax.lattice.ising import (
    float_dtype,
    ising_heatbath_kernel,
    ising_metropolis_kernel,
)
from edtjax.lattice.ising_cluster import ising_swendsen_wang_kernel
from edtjax.lattice.ising_sample import ising_observables, sample_ising
from edtjax.lattice.phi4 import HoppingCouplings, MassCouplings
from edtjax.lattice.phi4 import check_couplings as check_phi4_couplings
from edtjax.lattice.phi4_sample import sample_phi4

__all__ = [
    "ISING_LABEL_NAMES",
    "ISING_SAMPLERS",
    "PHI4_OBSERVABLE_NAMES",
    "ising_configuration_dataset",
    "phi4_observable_dataset",
]

ISING_SAMPLERS = ("metropolis", "heatbath", "swendsen_wang")
"""Names accepted by :func:`ising_configuration_dataset`'s ``algorithm``."""

ISING_LABEL_NAMES = ("energy", "magnetisation", "beta")
"""Output columns of an Ising data set: energy and magnetisation per site, and beta."""

PHI4_OBSERVABLE_NAMES = (
    "susceptibility",
    "abs_magnetisation",
    "binder_cumulant",
    "action_per_site",
    "phi_squared",
)
"""Observables of a phi^4 data set; each is followed in the outputs by its ``*_error`` column."""

_ISING_KERNELS = {
    "metropolis": ising_metropolis_kernel,
    "heatbath": ising_heatbath_kernel,
    "swendsen_wang": ising_swendsen_wang_kernel,
}


@functools.partial(jax.jit, static_argnames=("algorithm", "num_records"))
def _ising_production(key, spins, beta, J, h, thin, *, algorithm, num_records):
    """Record ``num_records`` configurations per chain, ``thin`` sweeps apart.

    ``thin`` is traced (an inner ``fori_loop``), so one compilation serves every beta and thin.
    """
    kernel = _ISING_KERNELS[algorithm](beta, J=J, h=h)

    def one_chain(key: PRNGKey, spins: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        def record(
            state: PyTree, key: PRNGKey
        ) -> tuple[PyTree, tuple[jax.Array, jax.Array, jax.Array]]:
            state = jax.lax.fori_loop(
                0, thin, lambda t, s: kernel.step(jax.random.fold_in(key, t), s)[0], state
            )
            obs = ising_observables(state, J, h)
            return state, (state.spins, obs["energy"], obs["magnetisation"])

        _, out = jax.lax.scan(record, kernel.init(spins), jax.random.split(key, num_records))
        return out

    keys = jax.random.split(key, spins.shape[0])
    return jax.vmap(one_chain)(keys, spins)


def _check_betas(betas: ArrayLike) -> np.ndarray:
    arr = np.asarray(as_array("betas", betas, ndim=(0, 1)))
    arr = np.atleast_1d(arr)
    if arr.size == 0:
        raise ValueError("betas must hold at least one inverse temperature, got an empty array")
    if not np.issubdtype(arr.dtype, np.floating) and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"betas must be real numbers, got dtype {arr.dtype}")
    if np.any(arr < 0):
        raise ValueError(f"betas must all be >= 0, got {arr.tolist()}")
    return arr


def ising_configuration_dataset(
    key: jax.Array,
    L: int,
    betas: ArrayLike,
    num_per_beta: int,
    *,
    algorithm: str = "swendsen_wang",
    num_chains: int = 4,
    thin: int | None = None,
    thin_factor: float = 2.0,
    pilot_sweeps: int = 1000,
    burn_in: int | None = None,
    start: str = "random",
    J: ArrayLike = 1.0,
    h: ArrayLike = 0.0,
    progress: bool = False,
) -> Dataset:
    r"""Decorrelated Ising configurations with energy, magnetisation and :math:`\beta` labels.

    For every :math:`\beta` a pilot run (:func:`edtjax.lattice.sample_ising`, ``num_chains``
    chains, ``burn_in`` discarded sweeps then ``pilot_sweeps`` recorded ones) equilibrates the
    chains and measures the integrated autocorrelation times :math:`\tau_E` and
    :math:`\tau_{|m|}` (Gamma method, in sweeps). Production continues from the pilot's final
    states and records a configuration every
    :math:`t = \max(1, \lceil c\,\max(\tau_E, \tau_{|m|})\rceil)` sweeps (``c = thin_factor``;
    :math:`c = 2` makes successive records essentially independent, Sokal 1997), or every
    ``thin`` sweeps when given. The labels of a configuration :math:`s` are its energy per site
    :math:`e = -(J\sum_{\langle ij\rangle}s_is_j + h\sum_i s_i)/L^2`, its magnetisation per site
    :math:`m = \sum_i s_i / L^2` and :math:`\beta`. The production run is one jitted computation
    with :math:`\beta` and the thinning traced: new betas reuse one compilation.

    Cost: :math:`O(n_\beta\,\text{chains}\,(\text{burn\_in} + \text{pilot\_sweeps} + t\,
    \lceil\text{num\_per\_beta}/\text{chains}\rceil)\,L^2)` spin updates (times the cluster
    labelling rounds for Swendsen-Wang); memory :math:`O(n_\beta\,\text{num\_per\_beta}\,L^2)`
    bytes.

    Args:
        key: PRNG key (``jax.random.key``).
        L: linear size of the periodic ``L x L`` lattice (``>= 2``; even for the checkerboard
            samplers ``"metropolis"`` and ``"heatbath"``).
        betas: inverse temperatures, scalar or ``(n_beta,)``, each ``>= 0``.
        num_per_beta: configurations kept per beta, ``>= 1``.
        algorithm: one of :data:`ISING_SAMPLERS`.
        num_chains: independent chains per beta (the records are split between them).
        thin: sweeps between records; ``None`` chooses it from the measured :math:`\tau_{int}`.
        thin_factor: the multiple ``c`` of :math:`\tau_{int}` used when ``thin`` is ``None``.
        pilot_sweeps: recorded sweeps of the pilot run (``>= 4``).
        burn_in: discarded sweeps before the pilot records (default ``pilot_sweeps // 10``).
        start: ``"random"`` or ``"ordered"`` initial configurations.
        J: coupling, finite.
        h: magnetic field, finite.
        progress: show a progress bar over the betas on stderr.

    Returns:
        A :class:`~edtjax.datasets.Dataset` with ``inputs`` the ``int8`` configurations
        flattened row-major, shape ``(n_beta * num_per_beta, L * L)`` (reshape to
        ``(-1, L, L)``), ``input_names`` ``("s_0_0", "s_0_1", ...)``, ``outputs`` of shape
        ``(n, 3)`` named :data:`ISING_LABEL_NAMES`, rows ordered by beta then chain then time;
        ``converged`` and ``within_validity`` all true (every record comes after the burn-in);
        ``metadata`` with the run settings and, per beta, the pilot's ``tau_int`` and the
        ``thin`` used.

    Raises:
        ValueError: empty or negative ``betas``, ``num_per_beta < 1``, non-positive ``L``,
            an odd ``L`` for a checkerboard sampler, an unknown ``algorithm`` or ``start``,
            ``thin < 1``, ``thin_factor <= 0``, ``pilot_sweeps < 4`` or non-finite ``J``/``h``.

    Example:
        >>> import jax
        >>> from edtjax.lattice import ising_configuration_dataset
        >>> ds = ising_configuration_dataset(jax.random.key(0), 4, [0.2, 0.5], 8,
        ...                                  num_chains=2, pilot_sweeps=50)
        >>> ds.inputs.shape, ds.inputs.dtype, ds.output_names
        ((16, 16), dtype('int8'), ('energy', 'magnetisation', 'beta'))

    References:
        Swendsen and Wang, Phys. Rev. Lett. 58, 86 (1987); Sokal (1997), sec. 2; Wolff, Comput.
        Phys. Commun. 156, 143 (2004).
    """
    size = check_int("L", L, minimum=2)
    check_choice("algorithm", algorithm, ISING_SAMPLERS)
    if algorithm in ("metropolis", "heatbath"):
        check_even("L", size)
    check_choice("start", start, ("random", "ordered"))
    betas = _check_betas(betas)
    num_per_beta = check_int("num_per_beta", num_per_beta, minimum=1)
    num_chains = check_int("num_chains", num_chains, minimum=1)
    pilot_sweeps = check_int("pilot_sweeps", pilot_sweeps, minimum=4)
    if thin is not None:
        thin = check_int("thin", thin, minimum=1)
    thin_factor = check_real("thin_factor", thin_factor, minimum=0.0, strict_minimum=True)
    burn_in = pilot_sweeps // 10 if burn_in is None else check_int("burn_in", burn_in, minimum=0)
    check_ising_couplings(0.0, J, h)
    dtype = float_dtype(J, h)
    num_records = -(-num_per_beta // num_chains)

    configurations, labels, taus, thins = [], [], [], []
    keys = jax.random.split(key, len(betas))
    for k, beta in zip(tqdm(keys, desc="ising betas", disable=not progress), betas, strict=True):
        k_pilot, k_run = jax.random.split(k)
        pilot = sample_ising(
            k_pilot,
            size,
            float(beta),
            pilot_sweeps,
            num_chains=num_chains,
            algorithm=algorithm,
            burn_in=burn_in,
            start=start,
            J=J,
            h=h,
        )
        tau = {name: float(pilot.summary[name].tau_int) for name in ("energy", "abs_magnetisation")}
        t = max(1, math.ceil(thin_factor * max(tau.values()))) if thin is None else thin
        spins, energy, magnetisation = _ising_production(
            k_run,
            pilot.final_state.spins,
            jnp.asarray(beta, dtype),
            jnp.asarray(J, dtype),
            jnp.asarray(h, dtype),
            jnp.asarray(t, jnp.int32),
            algorithm=algorithm,
            num_records=num_records,
        )
        configurations.append(np.asarray(spins).reshape(-1, size * size)[:num_per_beta])
        energy = np.asarray(energy).reshape(-1)[:num_per_beta]
        magnetisation = np.asarray(magnetisation).reshape(-1)[:num_per_beta]
        labels.append(np.stack([energy, magnetisation, np.full_like(energy, beta)], axis=1))
        taus.append(tau)
        thins.append(t)

    n = len(betas) * num_per_beta
    metadata = {
        "kind": "ising_configurations",
        "L": size,
        "betas": [float(b) for b in betas],
        "num_per_beta": num_per_beta,
        "num_chains": num_chains,
        "algorithm": algorithm,
        "J": float(J),
        "h": float(h),
        "start": start,
        "burn_in": burn_in,
        "pilot_sweeps": pilot_sweeps,
        "thin_factor": thin_factor,
        "thin": thins,
        "tau_int": taus,
        "n": n,
    }
    return Dataset(
        inputs=np.concatenate(configurations).astype(np.int8),
        outputs=np.concatenate(labels),
        converged=np.ones(n, bool),
        within_validity=np.ones(n, bool),
        input_names=tuple(f"s_{i}_{j}" for i in range(size) for j in range(size)),
        output_names=ISING_LABEL_NAMES,
        metadata=metadata,
    )


def _coupling_points(couplings: object, ndim: int) -> tuple[np.ndarray, tuple[str, ...], type]:
    if not isinstance(couplings, (HoppingCouplings, MassCouplings)):
        raise ValueError(
            "couplings must be HoppingCouplings or MassCouplings whose fields are 1-D arrays of "
            f"the coupling points, got {type(couplings).__name__}"
        )
    cls = type(couplings)
    columns = [
        np.atleast_1d(np.asarray(as_array(f"couplings.{name}", value, ndim=(0, 1))))
        for name, value in zip(cls._fields, couplings, strict=True)
    ]
    sizes = {c.size for c in columns}
    if len(sizes) != 1 or 0 in sizes:
        raise ValueError(
            f"couplings fields must be non-empty and of equal length, got lengths "
            f"{[c.size for c in columns]}"
        )
    points = np.stack(columns, axis=1).astype(float)
    for point in points:
        check_phi4_couplings(cls(*point), ndim)
    return points, cls._fields, cls


def phi4_observable_dataset(
    key: jax.Array,
    shape: int | Sequence[int],
    couplings: HoppingCouplings | MassCouplings,
    num_steps: int,
    *,
    num_chains: int = 4,
    algorithm: str = "nuts",
    burn_in: int | None = None,
    thin: int = 1,
    step_size: float | None = None,
    num_integration_steps: int = 10,
    dtype: DTypeLike = None,
    min_effective_samples: float = 100.0,
    progress: bool = True,
) -> Dataset:
    r""":math:`\phi^4` observables with Gamma-method errors over a design of coupling points.

    For every point :math:`c_p` of the design, :func:`edtjax.lattice.sample_phi4` runs
    ``num_chains`` chains (burn-in with step-size adaptation, then ``num_steps`` transitions)
    and the Gamma method (Wolff 2004) gives the means and errors of the susceptibility
    :math:`\chi = V(\langle m^2\rangle - \langle m\rangle^2)`, :math:`\langle|m|\rangle`, the
    Binder cumulant :math:`U_4 = 1 - \langle m^4\rangle/(3\langle m^2\rangle^2)`, the action
    per site :math:`\langle S\rangle/V` and :math:`\langle\overline{\phi^2}\rangle`. The
    couplings are traced inside the sampler, so the Python loop over points (with a progress
    bar) reuses one compilation for all points of the same lattice and sampler settings. A
    point counts as ``converged`` when every stored observable has an effective sample size
    :math:`N/(2\tau_{int}) \ge` ``min_effective_samples`` (``N`` records over all chains), the
    regime in which the Gamma-method errors are reliable; rerun a point that fails it longer.

    Cost: :math:`O(P\,\text{chains}\,(\text{burn\_in} + \text{num\_steps})\,g\,V)` for
    :math:`P` points and :math:`g` gradient evaluations per transition (see
    :func:`~edtjax.lattice.sample_phi4`).

    Args:
        key: PRNG key (``jax.random.key``); point ``p`` uses the ``p``-th of
            ``jax.random.split(key, P)``.
        shape: lattice side ``L`` (``L x L``) or the full lattice shape.
        couplings: :class:`~edtjax.lattice.HoppingCouplings` or
            :class:`~edtjax.lattice.MassCouplings` whose fields are ``(P,)`` arrays, one entry
            per point (a grid flattened with ``numpy.meshgrid``, or a QMC design such as
            :func:`~edtjax.simulators.sobol_design`'s).
        num_steps: recorded transitions per chain before thinning.
        num_chains: chains per point.
        algorithm: ``"nuts"`` (default), ``"hmc"``, ``"mala"`` or ``"metropolis"``. NUTS is
            the default because HMC with a fixed trajectory length can resonate with the
            nearly harmonic modes of a weakly coupled theory (Mackenzie 1989): long
            autocorrelations and error bars that the Gamma method underestimates.
        burn_in: adaptation transitions per chain (default ``min(num_steps, 1000)``).
        thin: record every ``thin``-th transition (must divide ``num_steps``).
        step_size: initial step size (see :func:`~edtjax.lattice.sample_phi4`).
        num_integration_steps: leapfrog steps per HMC trajectory.
        dtype: floating dtype of the fields (default JAX's default float).
        min_effective_samples: effective sample size required for ``converged``, ``> 0``.
        progress: show a progress bar over the points on stderr.

    Returns:
        A :class:`~edtjax.datasets.Dataset` with ``inputs`` the ``(P, 2)`` coupling
        points (columns named by the couplings' fields), ``outputs`` of shape
        ``(P, 2 * len(PHI4_OBSERVABLE_NAMES))``: the observables of
        :data:`PHI4_OBSERVABLE_NAMES` then their errors (``"<name>_error"``), ``converged`` as
        above, ``within_validity`` all true (every point passed the couplings' validation), and
        ``metadata`` with the settings and per point the ``tau_int`` of each observable and the
        mean acceptance rate.

    Raises:
        ValueError: couplings that are not a couplings tuple of equal-length 1-D fields, an
            invalid point (NaN, negative quartic coupling, non-normalisable free theory), and
            the argument errors of :func:`~edtjax.lattice.sample_phi4`.

    Example:
        >>> import jax, numpy as np
        >>> from edtjax.lattice import HoppingCouplings, phi4_observable_dataset
        >>> design = HoppingCouplings(kappa=np.array([0.1, 0.2]), lam=np.array([0.0, 0.5]))
        >>> ds = phi4_observable_dataset(jax.random.key(0), 4, design, 64, num_chains=2,
        ...                              algorithm="metropolis", burn_in=64, progress=False)
        >>> ds.inputs.shape, ds.outputs.shape, ds.input_names
        ((2, 2), (2, 10), ('kappa', 'lam'))

    References:
        Duane et al., Phys. Lett. B 195, 216 (1987); Hoffman and Gelman, JMLR 15, 1593 (2014);
        P. B. Mackenzie, "An improved hybrid Monte Carlo method", Phys. Lett. B 226, 369
        (1989); Wolff, Comput. Phys. Commun. 156, 143 (2004); Montvay and Münster, *Quantum
        Fields on a Lattice* (1994).
    """
    if isinstance(shape, int) and not isinstance(shape, bool):
        check_int("shape", shape, minimum=2)
        ndim = 2
    elif isinstance(shape, Sequence) and not isinstance(shape, (str, bytes)) and len(shape) > 0:
        for i, s in enumerate(shape):
            check_int(f"shape[{i}]", s, minimum=2)
        ndim = len(shape)
    else:
        raise ValueError(f"shape must be an int L or a sequence of lattice sides, got {shape!r}")
    points, names, cls = _coupling_points(couplings, ndim)
    min_effective_samples = check_real(
        "min_effective_samples", min_effective_samples, minimum=0.0, strict_minimum=True
    )
    rows, errors, converged, taus, acceptance = [], [], [], [], []
    keys = jax.random.split(key, len(points))
    for k, point in zip(tqdm(keys, desc="phi4 points", disable=not progress), points, strict=True):
        result = sample_phi4(
            k,
            shape,
            cls(*point),
            num_steps,
            num_chains=num_chains,
            algorithm=algorithm,
            burn_in=burn_in,
            thin=thin,
            step_size=step_size,
            num_integration_steps=num_integration_steps,
            dtype=dtype,
        )
        summary = result.summary
        rows.append([float(summary[name].mean) for name in PHI4_OBSERVABLE_NAMES])
        errors.append([float(summary[name].error) for name in PHI4_OBSERVABLE_NAMES])
        num_records = result.traces["magnetisation"].size
        tau = {name: float(summary[name].tau_int) for name in PHI4_OBSERVABLE_NAMES}
        converged.append(num_records / (2.0 * max(tau.values())) >= min_effective_samples)
        taus.append(tau)
        acceptance.append(float(jnp.mean(result.info["acceptance_rate"])))

    metadata = {
        "kind": "phi4_observables",
        "shape": [int(shape)] * 2 if ndim == 2 and isinstance(shape, int) else list(shape),
        "couplings": cls.__name__,
        "num_steps": int(num_steps),
        "num_chains": int(num_chains),
        "algorithm": algorithm,
        "burn_in": burn_in,
        "thin": int(thin),
        "min_effective_samples": min_effective_samples,
        "tau_int": taus,
        "acceptance_rate": acceptance,
        "n": len(points),
    }
    return Dataset(
        inputs=points,
        outputs=np.concatenate([np.asarray(rows), np.asarray(errors)], axis=1),
        converged=np.asarray(converged, bool),
        within_validity=np.ones(len(points), bool),
        input_names=tuple(names),
        output_names=PHI4_OBSERVABLE_NAMES + tuple(f"{n}_error" for n in PHI4_OBSERVABLE_NAMES),
        metadata=metadata,
    )
