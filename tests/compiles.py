"""Counting XLA backend compilations, for the tests that promise no recompilation."""

from collections.abc import Callable

import jax

_EVENT = "/jax/core/compile/backend_compile_duration"


def backend_compiles(thunk: Callable[[], object]) -> list[str | None]:
    """Names of the functions compiled by XLA while running ``thunk`` (results awaited)."""
    names = []

    def listener(event, duration, **kwargs):
        if event == _EVENT:
            names.append(kwargs.get("fun_name"))

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        jax.block_until_ready(thunk())
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    return names
