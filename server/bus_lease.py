"""A lease in a JetStream key-value bucket: at most one holder of a key at a time, so that one
worker, not every server process, consumes a partition of the bus (:mod:`server.bus_partitions`;
docs/distributed.md).

The bucket's TTL is the lease's length: the holder creates the key (which fails while another
holds it) and renews it by compare-and-set on its revision every third of the TTL; a holder
that dies stops renewing and the key expires, a holder that stops deletes it. A renewal refused
(the key expired, or another process took it) ends the hold at once; one not answered (the
bucket electing a leader) is tried again, and the lease counts as held while it is fresh.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import nats.errors
import nats.js.errors
from nats.js.kv import KeyValue

log = logging.getLogger(__name__)


class Lease:
    """``key`` in ``kv`` held by ``holder``; call :meth:`hold` at least every ``ttl_s / 3``."""

    def __init__(
        self, kv: KeyValue, key: str, holder: str, ttl_s: float, now: Callable[[], float] = time.monotonic
    ) -> None:
        self.kv = kv
        self.key = key
        self.holder = holder
        self.ttl_s = ttl_s
        self.renew_s = ttl_s / 3
        self._now = now
        self._revision: int | None = None
        self._renewed = 0.0

    @property
    def held(self) -> bool:
        return self._revision is not None

    def fresh(self) -> bool:
        """Held and renewed within two thirds of the TTL: safe to act on (it cannot have expired
        and gone to another process yet, with a third of the TTL left for clock drift)."""
        return self._revision is not None and self._now() - self._renewed < self.ttl_s * 2 / 3

    async def hold(self) -> bool:
        """Take the lease if free, renew it if due; whether this process holds it now."""
        now = self._now()
        if self._revision is not None and now - self._renewed < self.renew_s:
            return True
        try:
            if self._revision is None:
                self._revision = await self.kv.create(self.key, self.holder.encode())
                log.info("lease %s taken by %s", self.key, self.holder)
            else:
                self._revision = await self.kv.update(self.key, self.holder.encode(), last=self._revision)
        except nats.js.errors.KeyWrongLastSequenceError as exc:  # expired, or another holder's now
            if self._revision is not None:
                log.warning("lease %s lost by %s: %s", self.key, self.holder, exc)
            self._revision = None
            return False
        except nats.errors.Error as exc:  # no answer (the bucket elects a leader): still ours till the TTL
            if self._revision is not None:
                log.info("lease %s not renewed yet: %s", self.key, exc)
            return self.fresh()
        self._renewed = now
        return True

    async def release(self) -> None:
        """Give the lease up (if held), so another process takes it without waiting for expiry."""
        if self._revision is None:
            return
        revision, self._revision = self._revision, None
        try:
            await self.kv.delete(self.key, last=revision)
        except nats.errors.Error as exc:  # expired or taken meanwhile: nothing to give up
            log.info("lease %s not released: %s", self.key, exc)
