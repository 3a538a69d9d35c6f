"""run_chains: step-by-step reference, blackjax samplers, checkpoint/resume, input checks."""

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import blackjax
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.mcmc import ChainResult, Kernel, gamma_method, run_chains
from edtjax.mcmc import driver as driver_module

RHO = 0.6
SCALE = float(np.sqrt(1.0 - RHO**2))


def _ar1_step(key, x):
    noise = jax.random.normal(key, x.shape, x.dtype)
    return RHO * x + SCALE * noise, {"noise": noise, "positive": noise > 0}


AR1 = Kernel(init=lambda x: x, step=_ar1_step)


def _observe(x):
    return {"x": x, "x2": jnp.sum(x**2)}


def _reference(key, x0, num_steps, burn_in, thin):
    """Step-by-step transcription of the documented random stream (one jitted step at a time)."""
    num_chains = x0.shape[0]

    @jax.jit
    def transition(x, t):
        keys = jax.random.split(jax.random.fold_in(key, t), num_chains)
        return jax.vmap(_ar1_step)(keys, x)

    x, kept, noise_sum, pos_sum = x0, [], 0.0, 0.0
    for t in range(num_steps):
        x, info = transition(x, t)
        done = t + 1
        if done > burn_in:
            noise_sum = noise_sum + info["noise"]
            pos_sum = pos_sum + info["positive"].astype(jnp.float32)
            if (done - burn_in) % thin == 0:
                kept.append(x)
    sampled = num_steps - burn_in
    return jnp.stack(kept, axis=1), x, noise_sum / sampled, pos_sum / sampled


def test_custom_kernel_matches_step_by_step_reference(key):
    x0 = jax.random.normal(jax.random.key(1), (3, 2))
    res = run_chains(key, AR1, x0, 23, num_chains=3, burn_in=4, thin=3)
    assert isinstance(res, ChainResult)
    traces, final, noise_mean, pos_mean = _reference(key, x0, 23, 4, 3)
    chex.assert_shape(res.traces, (3, (23 - 4) // 3, 2))
    np.testing.assert_allclose(res.traces, traces, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(res.final_state, final, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(res.info["noise"], noise_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(res.info["positive"], pos_mean, rtol=1e-6)
    assert res.info["positive"].dtype == jnp.result_type(float)


def test_custom_observables_pytree(key):
    res = run_chains(key, AR1, jnp.zeros((2, 3)), 10, num_chains=2, observables=_observe)
    chex.assert_shape(res.traces["x"], (2, 10, 3))
    chex.assert_shape(res.traces["x2"], (2, 10))
    np.testing.assert_allclose(res.traces["x2"], jnp.sum(res.traces["x"] ** 2, -1), rtol=1e-6)


def _gaussian_logdensity(x):
    return -0.5 * jnp.sum((x - 1.0) ** 2 / 4.0)


RWMH = blackjax.additive_step_random_walk(
    _gaussian_logdensity, blackjax.mcmc.random_walk.normal(jnp.full(2, 2.0))
)
HMC = blackjax.hmc(_gaussian_logdensity, 0.5, jnp.ones(2), 5)


def _check_gaussian_moments(traces):
    # Target N(1, 4) per coordinate. Tolerance: 5 Gamma-method standard errors per check,
    # two-sided false-failure rate ~6e-7 each under normality of the estimators.
    for d in range(2):
        x = traces[..., d]
        mean = gamma_method(x)
        assert abs(float(mean.mean) - 1.0) < 5 * float(mean.error)
        var = gamma_method((x - 1.0) ** 2)
        assert abs(float(var.mean) - 4.0) < 5 * float(var.error)


@pytest.mark.parametrize(
    "kernel", [RWMH, pytest.param(HMC, marks=pytest.mark.slow)], ids=["rwmh", "hmc"]
)
def test_blackjax_kernels_recover_gaussian(key, kernel):
    state = jax.vmap(kernel.init)(jnp.zeros((8, 2)))
    res = run_chains(key, kernel, state, 3000, num_chains=8, burn_in=300)
    chex.assert_shape(res.traces, (8, 2700, 2))
    _check_gaussian_moments(res.traces)
    chex.assert_shape(res.info.acceptance_rate, (8,))
    assert bool(jnp.all((res.info.acceptance_rate > 0.2) & (res.info.acceptance_rate <= 1.0)))


def test_no_retrace_on_new_data_of_same_shape(key):
    calls = []

    def observe(x):
        calls.append(1)
        return x

    run_chains(key, AR1, jnp.zeros((2, 2)), 20, num_chains=2, observables=observe)
    traced = len(calls)
    size = driver_module._run_segment._cache_size()
    res = run_chains(
        jax.random.key(7), AR1, jnp.ones((2, 2)), 20, num_chains=2, observables=observe
    )
    assert len(calls) == traced  # observables are traced once, on the first call only
    assert driver_module._run_segment._cache_size() == size
    chex.assert_shape(res.traces, (2, 20, 2))


def _assert_same(a, b):
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_result_independent_of_segmentation_and_progress(key, tmp_path, capsys):
    x0 = jnp.zeros((3, 2))
    kwargs = {"num_chains": 3, "burn_in": 5, "thin": 2, "observables": _observe}
    ref = run_chains(key, AR1, x0, 41, **kwargs)
    for every in (10,):
        res = run_chains(
            key,
            AR1,
            x0,
            41,
            checkpoint_path=tmp_path / f"c{every}.npz",
            checkpoint_every=every,
            **kwargs,
        )
        _assert_same(ref, res)
    res = run_chains(key, AR1, x0, 41, progress=True, **kwargs)
    _assert_same(ref, res)
    assert "41/41" in capsys.readouterr().err


def test_resume_after_crash_is_bitwise_identical(key, tmp_path, monkeypatch):
    state = jax.vmap(RWMH.init)(jnp.zeros((4, 2)))
    kwargs = {"num_chains": 4, "burn_in": 10, "thin": 3}
    ref = run_chains(key, RWMH, state, 120, **kwargs)
    path = tmp_path / "run.npz"
    save = driver_module._save_checkpoint
    saves = []

    def crashing_save(*args, **kw):
        save(*args, **kw)
        saves.append(args[2])
        if len(saves) == 2:
            raise KeyboardInterrupt("simulated crash")

    monkeypatch.setattr(driver_module, "_save_checkpoint", crashing_save)
    with pytest.raises(KeyboardInterrupt):
        run_chains(key, RWMH, state, 120, checkpoint_path=path, checkpoint_every=30, **kwargs)
    assert saves == [30, 60]
    monkeypatch.setattr(driver_module, "_save_checkpoint", save)
    with pytest.raises(FileExistsError, match="pass resume=True"):
        run_chains(key, RWMH, state, 120, checkpoint_path=path, checkpoint_every=30, **kwargs)
    resumed = run_chains(
        key, RWMH, state, 120, checkpoint_path=path, checkpoint_every=30, resume=True, **kwargs
    )
    _assert_same(ref, resumed)
    # A finished checkpoint returns the same result without running further steps.
    again = run_chains(key, RWMH, state, 120, checkpoint_path=path, resume=True, **kwargs)
    _assert_same(ref, again)


def test_resume_without_file_starts_afresh(key, tmp_path):
    ref = run_chains(key, AR1, jnp.zeros((2, 1)), 30, num_chains=2)
    res = run_chains(
        key,
        AR1,
        jnp.zeros((2, 1)),
        30,
        num_chains=2,
        checkpoint_path=tmp_path / "new.npz",
        checkpoint_every=8,
        resume=True,
    )
    _assert_same(ref, res)
    assert (tmp_path / "new.npz").exists()


def test_corrupt_or_mismatched_checkpoint_raises(key, tmp_path):
    path = tmp_path / "run.npz"
    x0 = jnp.zeros((2, 3))
    run_chains(key, AR1, x0, 20, num_chains=2, thin=2, checkpoint_path=path, checkpoint_every=5)
    good = path.read_bytes()

    def resume(**overrides):
        kw = {"num_chains": 2, "thin": 2, "checkpoint_path": path, "resume": True}
        kw.update(overrides)
        args = kw.pop("args", (key, AR1, x0, 20))
        return run_chains(*args, **kw)

    with pytest.raises(ValueError, match="thin"):
        resume(thin=4)
    with pytest.raises(ValueError, match="num_steps"):
        resume(args=(key, AR1, x0, 30))
    with pytest.raises(ValueError, match="state"):
        resume(args=(key, AR1, jnp.zeros((2, 4)), 20))
    with pytest.raises(ValueError, match="key_data"):
        resume(args=(jax.random.key(3), AR1, x0, 20))
    with pytest.raises(ValueError, match="burn_in"):
        resume(burn_in=2)
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match="not a readable"):
        resume()
    path.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a readable"):
        resume()
    np.savez(path, step=np.int64(3))
    with pytest.raises(ValueError, match="corrupt"):
        resume()


def test_bad_inputs(key, tmp_path):
    x0 = jnp.zeros((2, 3))
    with pytest.raises(ValueError, match="num_steps must be >= 1"):
        run_chains(key, AR1, x0, 0, num_chains=2)
    with pytest.raises(ValueError, match="num_steps must be <= 2147483647"):
        run_chains(key, AR1, x0, 2**31, num_chains=2)
    with pytest.raises(ValueError, match="thin must be >= 1"):
        run_chains(key, AR1, x0, 10, num_chains=2, thin=0)
    with pytest.raises(ValueError, match="thin must be <= 5"):
        run_chains(key, AR1, x0, 10, num_chains=2, burn_in=5, thin=6)
    with pytest.raises(ValueError, match="burn_in must be <= 9"):
        run_chains(key, AR1, x0, 10, num_chains=2, burn_in=10)
    with pytest.raises(ValueError, match="leading axis of size num_chains=3"):
        run_chains(key, AR1, x0, 10, num_chains=3)
    with pytest.raises(ValueError, match="num_chains must be an integer"):
        run_chains(key, AR1, x0, 10, num_chains=2.0)
    with pytest.raises(ValueError, match="typed PRNG key"):
        run_chains(jax.random.PRNGKey(0), AR1, x0, 10, num_chains=2)
    with pytest.raises(ValueError, match="single key"):
        run_chains(jax.random.split(key, 2), AR1, x0, 10, num_chains=2)
    with pytest.raises(ValueError, match="kernel must have a callable step"):
        run_chains(key, object(), x0, 10, num_chains=2)
    with pytest.raises(ValueError, match="checkpoint_every needs a checkpoint_path"):
        run_chains(key, AR1, x0, 10, num_chains=2, checkpoint_every=2)
    with pytest.raises(ValueError, match="resume=True needs a checkpoint_path"):
        run_chains(key, AR1, x0, 10, num_chains=2, resume=True)
    with pytest.raises(ValueError, match="checkpoint_every must be >= 1"):
        run_chains(
            key, AR1, x0, 10, num_chains=2, checkpoint_path=tmp_path / "a", checkpoint_every=0
        )


_SHARDED_RUN = textwrap.dedent(
    """
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    from edtjax.mcmc import Kernel, run_chains

    def step(key, x):
        noise = jax.random.normal(key, x.shape, x.dtype)
        return 0.6 * x + 0.8 * noise, {"noise": noise}

    ar1 = Kernel(init=lambda x: x, step=step)
    x0 = jnp.arange(16.0).reshape(8, 2)
    assert len(jax.devices()) == 4
    sharding = NamedSharding(Mesh(np.array(jax.devices()), ("chains",)), P("chains"))
    ref = run_chains(jax.random.key(0), ar1, x0, 50, num_chains=8, thin=2)
    res = run_chains(jax.random.key(0), ar1, jax.device_put(x0, sharding), 50, num_chains=8,
                     thin=2)
    assert res.traces.sharding.is_equivalent_to(sharding, 3), res.traces.sharding
    assert res.final_state.sharding.is_equivalent_to(sharding, 2), res.final_state.sharding
    np.testing.assert_allclose(res.traces, ref.traces, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(res.info["noise"], ref.info["noise"], rtol=1e-5, atol=1e-6)
    """
)


@pytest.mark.slow
def test_chains_sharded_over_four_cpu_devices():
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ)
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    env["JAX_PLATFORMS"] = "cpu"  # four host CPU devices, also on a machine with an accelerator
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    out = subprocess.run(
        [sys.executable, "-c", _SHARDED_RUN], cwd=root, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-3000:]


_CRASH_AND_RESUME = textwrap.dedent(
    """
    import os, sys
    import jax, jax.numpy as jnp, numpy as np
    from flax import struct
    from edtjax.mcmc import Kernel, run_chains
    from edtjax.mcmc import driver

    @struct.dataclass
    class State:
        x: jax.Array
        scale: object = struct.field(pytree_node=False)  # static field: repr holds an address

    def step(key, s):
        return State(0.6 * s.x + s.scale(jax.random.normal(key, s.x.shape)), s.scale), {}

    def scale(z):
        return 0.8 * z

    def position(s):
        return s.x

    kernel = Kernel(init=lambda x: State(x, scale), step=step)
    path, mode = sys.argv[1], sys.argv[2]
    state = jax.vmap(kernel.init)(jnp.zeros((3, 2)))
    kwargs = dict(num_chains=3, burn_in=7, thin=2, observables=position, checkpoint_path=path,
                  checkpoint_every=20)
    if mode == "crash":
        save, saves = driver._save_checkpoint, []

        def save_then_die(*args):
            save(*args)
            saves.append(1)
            if len(saves) == 2:
                os._exit(3)  # hard kill: no cleanup, no exception handling

        driver._save_checkpoint = save_then_die
        run_chains(jax.random.key(5), kernel, state, 90, **kwargs)
    else:
        resumed = run_chains(jax.random.key(5), kernel, state, 90, resume=True, **kwargs)
        kwargs.pop("checkpoint_path"), kwargs.pop("checkpoint_every")
        ref = run_chains(jax.random.key(5), kernel, state, 90, **kwargs)
        np.testing.assert_array_equal(resumed.traces, ref.traces)
        np.testing.assert_array_equal(resumed.final_state.x, ref.final_state.x)
    """
)


@pytest.mark.slow
def test_resume_in_a_new_process_after_hard_kill(tmp_path):
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(root))
    path = str(tmp_path / "run.npz")

    def run(mode):
        return subprocess.run(
            [sys.executable, "-c", _CRASH_AND_RESUME, path, mode],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
        )

    crashed = run("crash")
    assert crashed.returncode == 3, crashed.stderr[-3000:]
    assert int(np.load(path)["step"]) == 40
    resumed = run("resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]


def _ar1_kernel(rho):
    """An AR(1) kernel whose coefficient lives in the closure (same shapes for every rho)."""

    def step(key, x):
        return rho * x + jnp.sqrt(1.0 - rho**2) * jax.random.normal(key, x.shape, x.dtype), {}

    return Kernel(init=lambda x: x, step=step)


def _doubled(x):
    return 2.0 * x


def _uniform_step(key, x):
    return jax.random.uniform(key, x.shape, x.dtype), {}


def test_resume_refuses_a_checkpoint_of_another_kernel_or_observables(key, tmp_path, monkeypatch):
    x0 = jnp.zeros((2, 3))
    kw = {"num_chains": 2, "thin": 2, "checkpoint_path": tmp_path / "run.npz"}
    ref = run_chains(key, _ar1_kernel(0.6), x0, 40, num_chains=2, thin=2)
    save, saves = driver_module._save_checkpoint, []

    def crashing_save(*args, **kwargs):
        save(*args, **kwargs)
        saves.append(args[2])
        if len(saves) == 2:
            raise KeyboardInterrupt("simulated crash")

    monkeypatch.setattr(driver_module, "_save_checkpoint", crashing_save)
    with pytest.raises(KeyboardInterrupt):
        run_chains(key, _ar1_kernel(0.6), x0, 40, checkpoint_every=10, **kw)
    monkeypatch.setattr(driver_module, "_save_checkpoint", save)
    written = kw["checkpoint_path"].read_bytes()
    # same shapes, dtypes, key and sizes: only the transition or the recorded function differ
    for kernel, observables, what in [
        (_ar1_kernel(0.5), None, "kernel.step"),  # another value in the closure
        (Kernel(init=lambda x: x, step=_uniform_step), None, "kernel.step"),  # another function
        (_ar1_kernel(0.6), _doubled, "observables"),
    ]:
        with pytest.raises(ValueError, match=f"different {re.escape(what)} ") as info:
            run_chains(key, kernel, x0, 40, resume=True, observables=observables, **kw)
        assert "\n" not in str(info.value)
        assert kw["checkpoint_path"].read_bytes() == written  # left intact
    # a new kernel object built the same way resumes bitwise (before: every case above resumed)
    resumed = run_chains(key, _ar1_kernel(0.6), x0, 40, checkpoint_every=10, resume=True, **kw)
    _assert_same(ref, resumed)


def _ar1_transition(rho, key, x):
    """The step of :func:`_ar1_kernel` with the coefficient as an argument."""
    return rho * x + jnp.sqrt(1.0 - rho**2) * jax.random.normal(key, x.shape, x.dtype), {}


def _ar1_pytree_kernel(rho):
    """An AR(1) kernel whose coefficient is an array leaf of its step (a ``Partial``)."""
    return Kernel(init=lambda x: x, step=jax.tree_util.Partial(_ar1_transition, jnp.asarray(rho)))


def test_pytree_step_traces_its_arrays_and_checkpoints_them(key, tmp_path, monkeypatch):
    """A step written as a pytree: its arrays are traced (a new coefficient reuses the compiled
    segment and gives the closure kernel's draws bit for bit), and they are part of the
    checkpoint's kernel fingerprint (another coefficient cannot resume the run)."""
    x0 = jnp.zeros((2, 3))
    run_chains(key, _ar1_pytree_kernel(0.6), x0, 40, num_chains=2)
    sizes = driver_module._run_segment._cache_size(), driver_module._allocate._cache_size()
    res = run_chains(key, _ar1_pytree_kernel(0.5), x0, 40, num_chains=2)
    assert (driver_module._run_segment._cache_size(), driver_module._allocate._cache_size()) == (
        sizes
    )
    _assert_same(res, run_chains(key, _ar1_kernel(0.5), x0, 40, num_chains=2))
    kw = {"num_chains": 2, "checkpoint_path": tmp_path / "run.npz", "checkpoint_every": 20}
    save = driver_module._save_checkpoint

    def crashing_save(*args, **kwargs):
        save(*args, **kwargs)
        raise KeyboardInterrupt("simulated crash after the first checkpoint")

    monkeypatch.setattr(driver_module, "_save_checkpoint", crashing_save)
    with pytest.raises(KeyboardInterrupt):
        run_chains(key, _ar1_pytree_kernel(0.6), x0, 40, **kw)
    monkeypatch.setattr(driver_module, "_save_checkpoint", save)
    with pytest.raises(ValueError, match=r"different kernel\.step "):
        run_chains(key, _ar1_pytree_kernel(0.5), x0, 40, resume=True, **kw)
    resumed = run_chains(key, _ar1_pytree_kernel(0.6), x0, 40, resume=True, **kw)
    _assert_same(resumed, run_chains(key, _ar1_kernel(0.6), x0, 40, num_chains=2))


def test_fingerprint_is_stable_and_tells_kernels_apart():
    from edtjax.mcmc._fingerprint import fingerprint as fp

    assert fp(_ar1_kernel(0.6).step) == fp(_ar1_kernel(0.6).step)
    assert fp(_ar1_kernel(0.6).step) != fp(_ar1_kernel(0.6000001).step)
    assert fp(RWMH.step) != fp(HMC.step) and fp(RWMH.step) == fp(RWMH.step)
    hmc_small = blackjax.hmc(_gaussian_logdensity, 0.25, jnp.ones(2), 5)
    assert fp(hmc_small.step) != fp(HMC.step)  # only the step size differs
    assert fp(jax.jit(_doubled)) == fp(jax.jit(_doubled)) != fp(jax.jit(_observe))


def test_temporaries_of_a_killed_write_are_removed_on_the_next_run(key, tmp_path):
    from edtjax import _io

    path = tmp_path / "run.npz"
    fd, _ = _io._create_temporary(path)  # what a kill inside the write leaves behind
    os.write(fd, b"partial checkpoint")
    os.close(fd)
    (tmp_path / "notes.txt").write_text("keep")
    run_chains(key, AR1, jnp.zeros((2, 1)), 10, num_chains=2, checkpoint_path=path, resume=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "run.npz"]  # before: 3


def test_checkpoint_of_an_older_format_is_named(key, tmp_path):
    path = tmp_path / "run.npz"
    x0 = jnp.zeros((2, 1))
    run_chains(key, AR1, x0, 10, num_chains=2, checkpoint_path=path)
    arrays = dict(np.load(path))
    meta = json.loads(str(arrays["metadata"]))
    meta["format"] = "edtjax.mcmc.checkpoint/1"
    arrays["metadata"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match="another edtjax version"):
        run_chains(key, AR1, x0, 10, num_chains=2, checkpoint_path=path, resume=True)


def test_oversized_traces_are_refused_before_allocating():
    with pytest.raises(ValueError, match=r"recorded traces would need about .* GiB"):
        run_chains(jax.random.key(0), AR1, jnp.zeros((4, 10**6)), 10**6, num_chains=4)


def test_step_counter_is_carried_not_materialised():
    """A billion-step segment compiles without any array of its length (was an arange)."""
    state = jnp.zeros((2, 1))
    traces = jnp.zeros((2, 1, 1))
    jaxpr = jax.make_jaxpr(
        lambda s, tr: driver_module._scan_segment(
            jax.random.key(0),
            s,
            tr,
            {"noise": jnp.zeros((2, 1)), "positive": jnp.zeros((2, 1))},
            jnp.asarray(0, jnp.int32),
            step_fn=_ar1_step,
            observables=lambda x: x,
            length=10**9,
            thin=1,
            burn_in=10**9 - 1,
            num_chains=2,
            axis=None,
        )
    )(state, traces)
    shapes = [v.aval.shape for eqn in jaxpr.eqns for v in eqn.outvars]
    assert all(10**9 not in shape for shape in shapes)
