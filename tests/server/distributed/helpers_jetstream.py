"""Asking the JetStream API until it answers, for the tests that kill or restart a NATS node:
after a node change the cluster elects a new meta (or stream) leader, and on a busy machine
that outlasts one request. A failure says what the test last saw. See docs/distributed.md."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.js import JetStreamContext

from tests.helpers_nats import NatsCluster

T = TypeVar("T")

# A request left unanswered: no leader to answer it yet (retried), unlike any other error.
NOT_ANSWERING = (
    nats.errors.TimeoutError,
    nats.js.errors.ServiceUnavailableError,
    nats.js.errors.NoStreamResponseError,
)


def _any_answer(_answer: object) -> bool:
    return True


async def answered(
    ask: Callable[[], Awaitable[T]],
    what: str,
    until: Callable[[T], bool] = _any_answer,
    within_s: float = 60.0,
    interval: float = 0.2,
) -> T:
    """``await ask()`` again while the JetStream API does not answer or ``until`` rejects the
    answer; the first accepted answer. After ``within_s`` s it fails naming ``what`` and the last
    answer (or unanswered request) seen."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            answer = await ask()
        except NOT_ANSWERING as exc:
            last = f"no answer ({type(exc).__name__}: {exc})"
        else:
            if until(answer):
                return answer
            last = repr(answer)
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not as expected within {within_s:g} s; last seen: {last}")
        await asyncio.sleep(interval)


def ask_cluster(
    cluster: NatsCluster,
    ask: Callable[[JetStreamContext], Awaitable[T]],
    what: str,
    until: Callable[[T], bool] = _any_answer,
    within_s: float = 60.0,
) -> T:
    """:func:`answered` on one connection to the cluster's running nodes, from sync code."""

    async def run() -> T:
        nc = await nats.connect(servers=[n.url for n in cluster.nodes if n.running])
        try:
            js = nc.jetstream(timeout=5)
            return await answered(lambda: ask(js), what, until, within_s)
        finally:
            await nc.close()

    return asyncio.run(run())
