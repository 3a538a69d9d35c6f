"""Connected components by label propagation and the Swendsen-Wang kernel."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.lattice import cluster_labels, ising_swendsen_wang_kernel


def union_find_labels(right, down):
    """Smallest site index of every component, by sequential union-find."""
    size = right.shape[0]
    parent = list(range(size * size))

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    def union(a, b):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    for i in range(size):
        for j in range(size):
            if right[i, j]:
                union(i * size + j, i * size + (j + 1) % size)
            if down[i, j]:
                union(i * size + j, ((i + 1) % size) * size + j)
    return np.array([find(a) for a in range(size * size)]).reshape(size, size)


@pytest.mark.parametrize("density", [0.2, 0.5, 0.8])
def test_cluster_labels_match_union_find(key, density):
    labels_fn = jax.jit(cluster_labels)
    for k in jax.random.split(jax.random.fold_in(key, int(density * 10)), 3):
        k_right, k_down = jax.random.split(k)
        right = jax.random.bernoulli(k_right, density, (12, 12))
        down = jax.random.bernoulli(k_down, density, (12, 12))
        labels, rounds = labels_fn(right, down)
        np.testing.assert_array_equal(
            labels, union_find_labels(np.asarray(right), np.asarray(down))
        )
        assert int(rounds) >= 1


def test_cluster_labels_spiral_needs_few_rounds():
    # A single snake-shaped cluster of 64 sites: pointer jumping keeps the rounds far below 64.
    size = 8
    right = np.zeros((size, size), bool)
    down = np.zeros((size, size), bool)
    right[:, : size - 1] = True
    for i in range(size - 1):
        down[i, size - 1 if i % 2 == 0 else 0] = True
    labels, rounds = jax.jit(cluster_labels)(jnp.asarray(right), jnp.asarray(down))
    assert bool(jnp.all(labels == 0))
    assert int(rounds) < 20


def test_swendsen_wang_limits(key):
    @jax.jit
    def step(beta, spins, key):
        kernel = ising_swendsen_wang_kernel(beta)
        return kernel.step(key, kernel.init(spins))

    spins = jnp.where(jax.random.bernoulli(key, 0.5, (6, 6)), 1, -1).astype(jnp.int8)
    # beta = 0: no bonds, every site its own cluster.
    _, info = step(0.0, spins, key)
    assert int(info["num_clusters"]) == 36
    # Very large beta from the ordered state: one cluster, flipped as a whole or not at all.
    state, info = step(50.0, jnp.ones((6, 6), jnp.int8), key)
    assert int(info["num_clusters"]) == 1
    assert abs(int(jnp.sum(state.spins))) == 36


def test_swendsen_wang_accepts_odd_size_and_rejects_bad_input(key):
    kernel = ising_swendsen_wang_kernel(0.3)
    state, _ = jax.jit(kernel.step)(key, kernel.init(jnp.ones((5, 5), jnp.int8)))
    chex.assert_shape(state.spins, (5, 5))
    for beta in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="beta"):
            ising_swendsen_wang_kernel(beta)
    with pytest.raises(ValueError, match="J"):
        ising_swendsen_wang_kernel(0.3, J=float("nan"))
    with pytest.raises(ValueError, match="shape"):
        kernel.init(jnp.ones((4,), jnp.int8))
