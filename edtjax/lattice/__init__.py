"""Lattice field theories: Ising and scalar phi^4 actions, local and cluster updates,
blackjax log-densities, observables and exact small-lattice results."""

from edtjax.lattice.ising import BETA_CRITICAL as BETA_CRITICAL
from edtjax.lattice.ising import IsingState as IsingState
from edtjax.lattice.ising import binder_cumulant as binder_cumulant
from edtjax.lattice.ising import ising_energy as ising_energy
from edtjax.lattice.ising import ising_heatbath_kernel as ising_heatbath_kernel
from edtjax.lattice.ising import ising_magnetisation as ising_magnetisation
from edtjax.lattice.ising import ising_metropolis_kernel as ising_metropolis_kernel
from edtjax.lattice.ising import specific_heat as specific_heat
from edtjax.lattice.ising import susceptibility as susceptibility
from edtjax.lattice.ising_cluster import cluster_labels as cluster_labels
from edtjax.lattice.ising_cluster import ising_swendsen_wang_kernel as ising_swendsen_wang_kernel
from edtjax.lattice.ising_exact import IsingEnumeration as IsingEnumeration
from edtjax.lattice.ising_exact import IsingExact as IsingExact
from edtjax.lattice.ising_exact import ising_enumerate as ising_enumerate
from edtjax.lattice.ising_exact import ising_exact as ising_exact
from edtjax.lattice.ising_multispin import IsingPackedState as IsingPackedState
from edtjax.lattice.ising_multispin import ising_multispin_kernel as ising_multispin_kernel
from edtjax.lattice.ising_multispin import ising_pack as ising_pack
from edtjax.lattice.ising_multispin import ising_packed_energy as ising_packed_energy
from edtjax.lattice.ising_multispin import ising_packed_magnetisation as ising_packed_magnetisation
from edtjax.lattice.ising_multispin import ising_unpack as ising_unpack
from edtjax.lattice.ising_sample import ALGORITHMS as ALGORITHMS
from edtjax.lattice.ising_sample import IsingSample as IsingSample
from edtjax.lattice.ising_sample import ising_observables as ising_observables
from edtjax.lattice.ising_sample import ising_summary as ising_summary
from edtjax.lattice.ising_sample import sample_ising as sample_ising

__all__ = [
    "ALGORITHMS",
    "BETA_CRITICAL",
    "IsingEnumeration",
    "IsingExact",
    "IsingPackedState",
    "IsingSample",
    "IsingState",
    "binder_cumulant",
    "cluster_labels",
    "ising_energy",
    "ising_enumerate",
    "ising_exact",
    "ising_heatbath_kernel",
    "ising_magnetisation",
    "ising_metropolis_kernel",
    "ising_multispin_kernel",
    "ising_observables",
    "ising_pack",
    "ising_packed_energy",
    "ising_packed_magnetisation",
    "ising_summary",
    "ising_swendsen_wang_kernel",
    "ising_unpack",
    "sample_ising",
    "specific_heat",
    "susceptibility",
]
