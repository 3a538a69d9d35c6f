"""The ``devices=`` keyword (edtjax/_sharding.py) on four forced host CPU devices.

The checks below run in a subprocess started with
``XLA_FLAGS=--xla_force_host_platform_device_count=4`` (the device count is fixed when JAX
starts): ``python tests/test_sharding.py NAME ...`` runs the named checks and prints one JSON
object ``{name: "ok" or the traceback}``. Each check compares a sharded call with the
single-device call on the same input, checks that outputs that stay sharded span the four
devices, uses sizes not divisible by four, and checks that a second call with new data of the
same shapes reuses the compiled program.

The same checks also run on two processes with two devices each, joined by
``jax.distributed.initialize`` (collectives over gloo on localhost), as on two hosts (slow).

Tolerances: MCMC chains are compared bitwise (each device runs the single-device program on
its chains with the same keys). Elsewhere the compiler fuses differently around the
cross-device gather (Sobol' estimators), batches a different number of items together
(ensemble training, query points), or compiles what runs op by op on one device (indicator
scores), so results are compared with ``rtol = atol = 1e-5`` in float32: reordering a float32
sum of ``n`` terms changes it by at most ``n u max|term|`` with ``u = 6e-8`` (Higham 2002,
Thm 4.4), i.e. ``1.5e-5`` relative for the ``n <= 256`` rows used here; the observed
differences are ``<= 4e-7``. These are rounding bounds, not statistical ones: no false-failure
rate applies.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import traceback
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest
from jax.sharding import Mesh

from edtjax._sharding import device_mesh, pad_rows, padded_size, to_host, unpad_rows
from edtjax.mcmc import Kernel, run_chains
from edtjax.reliability import (
    Calibration,
    calibrate,
    knn_indicator,
    mahalanobis_indicator,
    validity_report,
)
from edtjax.sensitivity import parameter_sensitivity, sobol_indices
from edtjax.surrogates import ensemble_predictive, fit_ensemble, mlp

ROOT = Path(__file__).resolve().parents[1]
TOL = {"rtol": 1e-5, "atol": 1e-5}  # float32 rounding bound, see the module docstring


def _ar1_step(key, x):
    noise = jax.random.normal(key, x.shape, x.dtype)
    return 0.6 * x + 0.8 * noise, {"noise": noise, "positive": noise[0] > 0}


AR1 = Kernel(init=lambda x: x, step=_ar1_step)


def _ishigami(v):
    x = v["x"]
    return jnp.sin(x[0]) + 7.0 * jnp.sin(x[1]) ** 2 + 0.1 * x[2] ** 4 * jnp.sin(x[0])


def _ishigami_factors(half_width=jnp.pi):
    return {"x": dist.Uniform(-half_width * jnp.ones(3), half_width)}


def _leaves_equal(a, b) -> bool:
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    pairs = zip(la, lb, strict=True)
    return len(la) == len(lb) and all(np.array_equal(to_host(u), to_host(v)) for u, v in pairs)


def _assert_close(a, b) -> None:
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(la) == len(lb)
    for u, v in zip(la, lb, strict=True):
        np.testing.assert_allclose(to_host(u), to_host(v), **TOL)


def _spans_all(x, axis: int = 0) -> bool:
    """``x`` is split along ``axis`` over all four devices."""
    spec = x.sharding.spec
    return len(x.sharding.device_set) == 4 and len(spec) > axis and spec[axis] is not None


# ---------------------------------------------------------------- checks run on four devices


def _check_devices_argument():
    devs = jax.devices()
    assert len(devs) == 4, devs
    assert device_mesh(None) is None
    assert device_mesh(4).devices.size == 4
    assert list(device_mesh(devs[1:3]).devices) == devs[1:3]
    mesh = Mesh(np.array(devs[:2]), ("rows",))
    assert device_mesh(mesh) is mesh
    bad = [
        0,
        5,
        -1,
        True,
        2.0,
        "cpu",
        [],
        [0, 1],
        [devs[0], devs[0]],
        Mesh(np.array(devs).reshape(2, 2), ("a", "b")),
    ]
    x0 = jnp.zeros((4, 2))
    calls = {
        "run_chains": lambda d: run_chains(jax.random.key(0), AR1, x0, 3, num_chains=4, devices=d),
        "sobol_indices": lambda d: sobol_indices(
            jax.random.key(0), _ishigami, _ishigami_factors(), 8, devices=d
        ),
        "fit_ensemble": lambda d: fit_ensemble(
            jax.random.key(0), mlp((2,)), x0, x0[:, :1], members=2, loss="mse", epochs=1, devices=d
        ),
        "ensemble_predictive": lambda d: ensemble_predictive(mlp((2,)), {}, x0, devices=d),
        "calibrate": lambda d: calibrate(
            jax.random.key(0), knn_indicator(), x0, x0, 0.5, devices=d
        ),
    }
    for name, call in calls.items():
        for d in bad:
            try:
                call(d)
            except ValueError as err:
                assert "devices" in str(err), (name, d, err)
            else:
                raise AssertionError(f"{name}(devices={d!r}) did not raise ValueError")


def _check_run_chains():
    from edtjax.mcmc import driver

    for n in (8, 6):
        x0 = jnp.arange(2.0 * n).reshape(n, 2)
        kw = dict(num_chains=n, thin=2, burn_in=3)
        ref = run_chains(jax.random.key(0), AR1, x0, 40, **kw)
        res = run_chains(jax.random.key(0), AR1, x0, 40, devices=4, **kw)
        assert _leaves_equal(res, ref), n
        if n == 8:
            assert _spans_all(res.traces) and _spans_all(res.final_state), res.traces.sharding
            assert _spans_all(res.info["noise"])
            size = driver._run_segment._cache_size()
            again = run_chains(jax.random.key(1), AR1, x0 + 1.0, 40, devices=4, **kw)
            assert driver._run_segment._cache_size() == size
            assert not np.array_equal(to_host(again.traces), to_host(res.traces))


def _check_run_chains_resume(tmp):
    # a run checkpointed on 4 devices, interrupted, resumed on 2 (and on 1): bitwise the
    # uninterrupted single-device run
    from edtjax.mcmc import driver

    x0 = jnp.arange(12.0).reshape(6, 2)
    kw = dict(num_chains=6, burn_in=2, thin=3, checkpoint_every=10)
    ref = run_chains(jax.random.key(1), AR1, x0, 40, num_chains=6, burn_in=2, thin=3)
    save, saves = driver._save_checkpoint, []

    def save_then_stop(*args):
        save(*args)
        saves.append(1)
        if len(saves) == 2:
            raise KeyboardInterrupt

    # on two processes, resume on all four devices (a mesh of process 0's devices alone would
    # leave process 1 out of the computation)
    for resume_on in (4 if jax.process_count() > 1 else 2, None):
        path = os.path.join(tmp, f"chains-{resume_on}.npz")
        saves.clear()
        driver._save_checkpoint = save_then_stop
        try:
            run_chains(jax.random.key(1), AR1, x0, 40, checkpoint_path=path, devices=4, **kw)
        except KeyboardInterrupt:
            pass
        finally:
            driver._save_checkpoint = save
        resumed = run_chains(
            jax.random.key(1),
            AR1,
            x0,
            40,
            checkpoint_path=path,
            resume=True,
            devices=resume_on,
            **kw,
        )
        assert _leaves_equal(resumed, ref), resume_on


def _check_sobol():
    from edtjax.sensitivity import sobol

    factors = _ishigami_factors()
    # Monte Carlo design, 50 rows in chunks of 5 rows per device: the last chunk runs past the
    # design (its extra rows are dropped)
    kw = dict(num_samples=50, sampler="mc", batch_size=25)
    ref = sobol_indices(jax.random.key(0), _ishigami, factors, **kw)
    res = sobol_indices(jax.random.key(0), _ishigami, factors, devices=4, **kw)
    _assert_close(res, ref)
    size = sobol._sobol_outputs._cache_size()
    sobol_indices(jax.random.key(2), _ishigami, _ishigami_factors(2.0), devices=4, **kw)
    assert sobol._sobol_outputs._cache_size() == size


def _check_ensemble():
    from edtjax.surrogates import ensembles

    x = jnp.linspace(-1.0, 1.0, 24)[:, None]
    y = jnp.sin(3.0 * x)
    net = mlp((4,), 1, heteroscedastic=True)
    ref = fit_ensemble(jax.random.key(0), net, x, y, members=3, epochs=4)
    res = fit_ensemble(jax.random.key(0), net, x, y, members=3, epochs=4, devices=4)
    _assert_close(res, ref)
    assert np.array_equal(to_host(res.best_epoch), ref.best_epoch)
    size = ensembles._fit_members._cache_size()
    fit_ensemble(jax.random.key(1), net, x, 2.0 * y, members=3, epochs=4, devices=4)
    assert ensembles._fit_members._cache_size() == size

    xq = jnp.linspace(-2.0, 2.0, 12)[:, None]
    out = ensemble_predictive(net, res.params, xq, devices=4)
    _assert_close(out, jax.jit(ensemble_predictive, static_argnums=0)(net, res.params, xq))
    assert _spans_all(out.mean) and _spans_all(out.samples, axis=1)
    size = ensembles._sharded_predictive._cache_size()
    ensemble_predictive(net, res.params, xq + 0.5, devices=4)
    assert ensembles._sharded_predictive._cache_size() == size


def _check_reliability():
    from edtjax.reliability import _scoring

    x = jax.random.normal(jax.random.key(0), (150, 2))
    queries = jnp.concatenate(
        [
            jax.random.normal(jax.random.key(1), (34, 2)),
            4.0 + jax.random.normal(jax.random.key(2), (30, 2)),
        ]
    )
    labels = np.arange(64) < 34
    ind = knn_indicator(n_neighbors=3)
    state = ind.fit(jax.random.key(3), x[:100])
    cal = calibrate(jax.random.key(4), ind, state, x[100:], 0.1)  # 50 rows: padded to 52
    cal4 = calibrate(jax.random.key(4), ind, state, x[100:], 0.1, devices=4)
    _assert_close((cal4.scores, cal4.threshold), (cal.scores, cal.threshold))
    rep = validity_report(ind, state, cal, queries, in_domain=labels)
    rep4 = validity_report(ind, state, cal, queries, in_domain=labels, devices=4)
    _assert_close(rep4.scores, rep.scores)
    assert np.array_equal(rep4.outside, rep.outside)
    assert (rep4.false_alarm_rate, rep4.detection_rate) == (
        rep.false_alarm_rate,
        rep.detection_rate,
    )
    if jax.process_count() == 1:
        assert _spans_all(rep4.scores) and _spans_all(rep4.p_values)
    else:  # gathered to every process for the host-side metrics
        assert rep4.scores.is_fully_replicated
    size = _scoring._sharded_scores._cache_size()
    validity_report(ind, state, cal, queries + 0.25, devices=4)
    assert _scoring._sharded_scores._cache_size() == size


def _check_sobol_slow():
    factors = _ishigami_factors()
    ref = sobol_indices(jax.random.key(0), _ishigami, factors, 64)
    _assert_close(sobol_indices(jax.random.key(0), _ishigami, factors, 64, devices=4), ref)
    kw = dict(num_samples=128, second_order=True, num_bootstrap=40)
    ref = sobol_indices(jax.random.key(5), _ishigami, factors, **kw)
    mesh = Mesh(np.array(jax.devices()[::-1]), ("rows",))
    _assert_close(sobol_indices(jax.random.key(5), _ishigami, factors, devices=mesh, **kw), ref)

    params = {
        "d0": {"w": 0.3 * jnp.ones((3, 5)), "b": jnp.zeros(5)},
        "d1": {"w": jnp.ones((5, 2)), "b": jnp.zeros(2)},
    }

    def apply(p, x):
        return jnp.tanh(x @ p["d0"]["w"] + p["d0"]["b"]) @ p["d1"]["w"] + p["d1"]["b"]

    x = jax.random.normal(jax.random.key(3), (7, 3))
    ref = parameter_sensitivity(jax.random.key(1), apply, params, x, num_samples=130)
    out = parameter_sensitivity(jax.random.key(1), apply, params, x, num_samples=130, devices=3)
    _assert_close(out, ref)

    # gradient through the sharded estimator: f = x1 + theta x2 on U(0, 1)^2, S1 = 1/(1+theta^2)
    unit = dist.Uniform(jnp.zeros(2), 1.0)

    def s1(theta, devices):
        def model(v):
            return v[0] + theta * v[1]

        return sobol_indices(jax.random.key(3), model, unit, 256, devices=devices).first_order[0]

    g4 = jax.jit(jax.grad(lambda t: s1(t, 4)))(0.7)
    g1 = jax.jit(jax.grad(lambda t: s1(t, None)))(0.7)
    np.testing.assert_allclose(g4, g1, rtol=1e-4)
    h = 1e-2  # float32: central differences with error O(h^2 S''') + O(u / h)
    fd = (jax.jit(lambda t: s1(t, 4))(0.7 + h) - jax.jit(lambda t: s1(t, 4))(0.7 - h)) / (2 * h)
    np.testing.assert_allclose(g4, fd, rtol=2e-3)


def _check_ensemble_slow():
    x = jnp.linspace(-1.0, 1.0, 33)[:, None]
    y = jnp.cos(2.0 * x)
    net = mlp((6,), 1)
    kw = dict(members=5, epochs=8, loss="mse", validation_fraction=0.0, batch_size=8)
    ref = fit_ensemble(jax.random.key(7), net, x, y, **kw)
    res = fit_ensemble(jax.random.key(7), net, x, y, devices=jax.devices()[1:], **kw)
    _assert_close(res, ref)
    kw["members"] = 4
    ref = fit_ensemble(jax.random.key(7), net, x, y, **kw)
    res = fit_ensemble(jax.random.key(7), net, x, y, devices=4, **kw)
    _assert_close(res, ref)
    assert all(_spans_all(leaf) for leaf in jax.tree.leaves(res))
    for n in (9, 16):
        xq = jnp.linspace(-1.5, 1.5, n)[:, None]
        out = ensemble_predictive(net, res.params, xq, devices=4)
        _assert_close(out, ensemble_predictive(net, res.params, xq))
        assert out.aleatoric is None and out.samples.shape == (4, n, 1)

    # gradient of the ensemble spread with respect to the query points, through the padding
    # and the shard_map, against one device and central differences (float32, h = 1e-2:
    # truncation O(h^2) plus rounding O(u / h), relative error well below 1e-3)
    def spread(x, devices):
        return jnp.sum(ensemble_predictive(net, res.params, x, devices=devices).variance)

    xq = jnp.linspace(-1.5, 1.5, 9)[:, None]
    g4 = jax.jit(jax.grad(spread), static_argnums=1)(xq, 4)
    _assert_close(g4, jax.grad(spread)(xq, None))
    h = 1e-2
    step = jnp.zeros_like(xq).at[3, 0].set(h)
    fd = (spread(xq + step, 4) - spread(xq - step, 4)) / (2 * h)
    np.testing.assert_allclose(g4[3, 0], fd, rtol=1e-3, atol=1e-6)


def _check_indicators_slow():
    from edtjax.reliability import (
        combine,
        lens_fermat_indicator,
        monge_kantorovich_indicator,
        predictive_spread_indicator,
        projection_indicator,
    )

    x = jax.random.normal(jax.random.key(0), (160, 2))
    queries = jnp.concatenate(
        [
            jax.random.normal(jax.random.key(1), (21, 2)),
            3.0 + jax.random.normal(jax.random.key(2), (20, 2)),
        ]
    )
    indicators = [
        mahalanobis_indicator(),
        projection_indicator(n_directions=40),
        lens_fermat_indicator(n_neighbors=8),
        monge_kantorovich_indicator(),
        predictive_spread_indicator(lambda z: 1.0 + jnp.sum(z**2, axis=1)),
        combine(mahalanobis_indicator(), knn_indicator()),
    ]
    for ind in indicators:
        state = ind.fit(jax.random.key(3), x[:100])
        cal = calibrate(jax.random.key(4), ind, state, x[100:], 0.1)
        rep = validity_report(ind, state, cal, queries)
        rep4 = validity_report(ind, state, cal, queries, devices=4)
        _assert_close(rep4.scores, rep.scores)
        assert np.array_equal(rep4.outside, rep.outside)


def _check_audit_slow():
    """The quick audit with ``devices = 4`` against ``devices = 0`` on the same data.

    Stages that do not train (the split, the simulator's Sobol' indices, the transport stage on
    the raw inputs) must agree exactly. Training does not: each epoch's rounding differences
    (bounded as in the module docstring) are amplified over hundreds of epochs and by early
    stopping, so the trained networks, and what is computed from them, differ like networks
    trained with another seed; there the sharded run must still give a complete report.
    """
    import dataclasses
    import math

    from edtjax.audit import audit_preset, check_audit_result, run_audit, thermodiffusion_case

    config = audit_preset("quick")
    data = thermodiffusion_case(jax.random.key(0), config, progress=False)
    one = run_audit(jax.random.key(1), data, config, progress=False)
    four = run_audit(
        jax.random.key(1), data, dataclasses.replace(config, devices=4), progress=False
    )
    check_audit_result(four)
    assert four.numbers["case"]["config"]["devices"] == 4
    assert four.numbers["sobol"]["simulator"] == one.numbers["sobol"]["simulator"]
    assert four.numbers["transport"] == one.numbers["transport"]
    for name in ("inputs/train", "inputs/queries_in", "inputs/queries"):
        assert np.array_equal(four.arrays[name], one.arrays[name])

    def floats(value):
        if isinstance(value, dict):
            return [f for v in value.values() for f in floats(v)]
        if isinstance(value, list):
            return [f for v in value for f in floats(v)]
        return [value] if isinstance(value, float) else []

    assert all(math.isfinite(f) for f in floats(four.numbers))


def _run_checks(names: list[str]) -> dict[str, str]:
    import tempfile

    results = {}
    for name in names:
        check = globals()[f"_check_{name}"]
        try:
            if name == "run_chains_resume":
                with tempfile.TemporaryDirectory() as tmp:
                    check(tmp)
            else:
                check()
            results[name] = "ok"
        except Exception:  # reported to the parent test with its traceback
            results[name] = traceback.format_exc()
    return results


# ------------------------------------------------------------------------- the pytest side

# the default selection runs FAST; the slow one runs SLOW, and FAST + BASIC on two processes
FAST = ["devices_argument", "run_chains", "run_chains_resume", "sobol"]
BASIC = ["ensemble", "reliability"]
SLOW = [*BASIC, "sobol_slow", "ensemble_slow", "indicators_slow", "audit_slow"]


def _on_four_devices(names: list[str]) -> dict[str, str]:
    env = dict(os.environ)
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    env["JAX_PLATFORMS"] = "cpu"  # four host CPU devices, also on a machine with an accelerator
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *names],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


# one of two processes with two devices each (four in all), as on two hosts: the collectives
# go through gloo over localhost
_PROCESS = """
import runpy, sys
import jax
jax.config.update("jax_cpu_collectives_implementation", "gloo")
script, process, port, *names = sys.argv[1:]
jax.distributed.initialize(
    coordinator_address=f"localhost:{port}", num_processes=2, process_id=int(process)
)
sys.argv = [script, *names]
runpy.run_path(script, run_name="__main__")
"""


def _on_two_processes(names: list[str]) -> list[dict[str, str]]:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    env = dict(os.environ)
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    script = str(Path(__file__).resolve())
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _PROCESS, script, str(i), str(port), *names],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outputs = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err[-3000:]
    return [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]


@pytest.fixture(scope="module")
def fast_results():
    return _on_four_devices(FAST)


@pytest.fixture(scope="module")
def slow_results():
    return _on_four_devices(SLOW)


@pytest.mark.parametrize("name", FAST)
def test_sharded_equals_single_device(fast_results, name):
    assert fast_results[name] == "ok", fast_results[name]


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW)
def test_sharded_equals_single_device_more_cases(slow_results, name):
    assert slow_results[name] == "ok", slow_results[name]


@pytest.mark.slow
def test_two_processes_like_two_hosts():
    # the same checks with jax.distributed: a global mesh over both processes' devices
    for process, results in enumerate(_on_two_processes([*FAST, *BASIC])):
        for name, outcome in results.items():
            assert outcome == "ok", f"process {process}, {name}: {outcome}"


def test_devices_validation_on_this_process():
    n = len(jax.devices())
    with pytest.raises(ValueError, match=f"devices must be between 1 and {n}"):
        device_mesh(n + 1)
    with pytest.raises(ValueError, match="devices must be between 1"):
        device_mesh(0)
    with pytest.raises(ValueError, match="devices must be None, an int"):
        device_mesh("cpu")
    with pytest.raises(ValueError, match="devices must be None, an int"):
        device_mesh(True)
    with pytest.raises(ValueError, match=r"devices must hold jax\.Device"):
        device_mesh([0])
    with pytest.raises(ValueError, match="at least one device"):
        device_mesh(())
    with pytest.raises(ValueError, match="distinct"):
        device_mesh([jax.devices()[0]] * 2)
    with pytest.raises(ValueError, match="exactly one axis"):
        device_mesh(Mesh(np.array(jax.devices()[:1]).reshape(1, 1), ("a", "b")))
    with pytest.raises(ValueError, match="devices must be between 1"):
        cal = Calibration(jnp.zeros(3), jnp.array(0.0), jnp.array(0.1), jax.random.key(0))
        validity_report(knn_indicator(), jnp.zeros((3, 2)), cal, jnp.zeros((2, 2)), devices=n + 1)
    with pytest.raises(ValueError, match="devices must be between 1"):
        parameter_sensitivity(
            jax.random.key(0), lambda p, x: x @ p, jnp.ones(2), jnp.eye(2), devices=0
        )


def test_padding_round_trip():
    mesh = device_mesh(1)
    assert padded_size(5, mesh) == 5
    tree = {"a": jnp.arange(5.0), "b": jnp.arange(10).reshape(5, 2)}
    padded = jax.jit(pad_rows, static_argnums=1)(tree, 8)
    np.testing.assert_array_equal(padded["a"], [0, 1, 2, 3, 4, 4, 4, 4])
    np.testing.assert_array_equal(padded["b"][5:], [[8, 9]] * 3)
    back = unpad_rows(padded, 5)
    assert _leaves_equal(back, tree)
    assert pad_rows(tree, 5) is not None and unpad_rows(tree, 5)["a"] is tree["a"]


def test_one_device_mesh_equals_no_mesh(key):
    # devices=1 runs the shard_map path on one device: same result as the default path
    x0 = jnp.arange(10.0).reshape(5, 2)
    ref = run_chains(key, AR1, x0, 20, num_chains=5)
    assert _leaves_equal(run_chains(key, AR1, x0, 20, num_chains=5, devices=1), ref)
    net = mlp((4,), 1)
    params = jax.vmap(lambda k: net.init(k, x0))(jax.random.split(key, 3))
    _assert_close(
        ensemble_predictive(net, params, x0[:, :2], devices=[jax.devices()[0]]),
        ensemble_predictive(net, params, x0[:, :2]),
    )


if __name__ == "__main__":
    print(json.dumps(_run_checks(sys.argv[1:])))
