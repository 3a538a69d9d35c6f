"""Lattice field theories: Ising and scalar phi^4 actions, local and cluster updates,
blackjax log-densities, observables and exact small-lattice results."""

__all__: list[str] = []
