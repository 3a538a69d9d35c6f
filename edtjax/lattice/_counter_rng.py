r"""Counter-based random words computed where they are used: Threefry-2x32 on ``uint32`` lanes.

A counter-based generator is a keyed bijection :math:`(k, c) \mapsto f_k(c)`; the random words
of a lattice site are :math:`f_k(\text{site}, \text{plane})` with the key :math:`k` drawn once
per sweep from the step's PRNG key. Nothing is stored: each word is computed in registers next
to the comparison that consumes it (inside one XLA fusion, or inside a Pallas kernel), instead of
being written to memory by ``jax.random.bits`` and read back.

The bijection is Threefry-2x32 with 20 rounds, the function behind JAX's default PRNG
(``jax.extend.random.threefry_2x32`` returns the same words for the same key and counters, which
the tests check bit for bit), so the words have the statistical quality of ``jax.random``:
Salmon et al. (2011) report Threefry-2x32 Crush-resistant (no failure in TestU01's BigCrush)
from 13 rounds, and JAX and this module use 20. Only 32-bit
additions, rotations and XORs are used, so the same code runs on any backend without 64-bit
integers.

References:
    Salmon, J. K., Moraes, M. A., Dror, R. O. and Shaw, D. E. (2011). Parallel random numbers:
    as easy as 1, 2, 3. Proc. SC'11, 16.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = 0x1BD11BDA


def _rotate_left(x: jax.Array, r: int) -> jax.Array:
    return (x << jnp.uint32(r)) | (x >> jnp.uint32(32 - r))


def threefry2x32(
    k0: jax.Array, k1: jax.Array, x0: jax.Array, x1: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Threefry-2x32-20 of the counter ``(x0, x1)`` under the key ``(k0, k1)`` (``uint32``).

    Elementwise over broadcastable ``uint32`` arrays; 20 rounds of add/rotate/XOR and five key
    injections, about 120 integer operations per pair of output words.
    """
    keys = (k0, k1, k0 ^ k1 ^ jnp.uint32(_PARITY))
    x0, x1 = x0 + k0, x1 + k1
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x0 = x0 + x1
            x1 = _rotate_left(x1, r) ^ x0
        x0 = x0 + keys[(i + 1) % 3]
        x1 = x1 + keys[(i + 2) % 3] + jnp.uint32(i + 1)
    return x0, x1


def sweep_seed(key: jax.Array) -> jax.Array:
    """The two ``uint32`` key words of one sweep's counter-based generator, from a PRNG key."""
    return jax.random.bits(key, (2,), jnp.uint32)
