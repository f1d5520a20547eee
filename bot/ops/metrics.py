"""The bot's health figures: messages per second, flush latency, outbox backlog and age, interaction
latency, pool use, dead letters. Always collected (cheaply: counters the bot keeps anyway are read
when asked, durations are observed once per flush or command, the database is asked every 15 s);
served to Prometheus only when `[stats] metrics_port` is set, on 127.0.0.1 by default; summarised
by /about for staff.

Bounds: the recent-latency windows keep the last 500 observations each; the rate window 5 samples."""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
from prometheus_client import CollectorRegistry, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from db import dead_letters, outbox
from db.faults import one_line

log = logging.getLogger(__name__)

POLL_SECONDS = 15
RECENT = 500
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class Summary:
    messages_per_second: float
    messages_total: int
    flush_p50_ms: float | None
    flush_p99_ms: float | None
    interaction_p50_ms: float | None
    interaction_p99_ms: float | None
    outbox_pending: int
    outbox_oldest_seconds: float | None
    dead_letters: int
    pool_in_use: int
    pool_size: int
    pool_max: int


def _percentile(values: deque[float], q: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0] * 1000
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


class Metrics:
    def __init__(self, pool: asyncpg.Pool, messages: Callable[[], int], *, pool_max: int) -> None:
        self.pool = pool
        self._messages = messages
        self.pool_max = pool_max
        self.leading: Callable[[], bool] = lambda: True  # the bot's answer once it runs under a lease
        self.registry = CollectorRegistry()
        self.flush_seconds = Histogram(
            "conclave_flush_seconds",
            "How long a flush of a buffer to the database took",
            ["flush"],
            registry=self.registry,
            buckets=_BUCKETS,
        )
        self.interaction_seconds = Histogram(
            "conclave_interaction_seconds",
            "From an interaction's creation (its id) to the end of the command's handler",
            registry=self.registry,
            buckets=_BUCKETS,
        )
        self.registry.register(_StateCollector(self))
        self.recent_flushes: deque[float] = deque(maxlen=RECENT)
        self.recent_interactions: deque[float] = deque(maxlen=RECENT)
        self.outbox_pending = 0
        self.outbox_oldest: float | None = None
        self.outbox_failed = 0
        self.dead_letters = 0
        self._samples: deque[tuple[float, int]] = deque(maxlen=5)
        self._server: Any = None
        self._polling_failed = False

    # -- observations ------------------------------------------------------------------------

    def observe_flush(self, name: str, seconds: float) -> None:
        self.flush_seconds.labels(name).observe(seconds)
        self.recent_flushes.append(seconds)

    def observe_interaction(self, seconds: float) -> None:
        self.interaction_seconds.observe(max(0.0, seconds))
        self.recent_interactions.append(max(0.0, seconds))

    async def poll(self) -> None:
        """Read the outbox backlog and dead letters (and sample the message count for the rate)."""
        self._samples.append((time.monotonic(), self._messages()))
        try:
            async with self.pool.acquire() as conn:
                backlog = await outbox.backlog(conn)
                letters = await dead_letters.count_pending(conn)
        except asyncio.CancelledError:  # the bot is stopping (the scheduler cancels running jobs)
            return
        except Exception as error:
            if not self._polling_failed:
                log.warning("metrics: the database figures are stale (%s)", one_line(error))
            self._polling_failed = True
            return
        self._polling_failed = False
        self.outbox_pending, self.outbox_oldest, self.outbox_failed = (
            backlog.pending,
            backlog.oldest_pending_seconds,
            backlog.failed + backlog.refused,
        )
        self.dead_letters = letters

    # -- reading -----------------------------------------------------------------------------

    def messages_per_second(self) -> float:
        """Over the sampled window (up to about a minute), including now."""
        now = (time.monotonic(), self._messages())
        if not self._samples:
            return 0.0
        start = self._samples[0]
        elapsed = now[0] - start[0]
        return (now[1] - start[1]) / elapsed if elapsed > 0 else 0.0

    def pool_in_use(self) -> int:
        return self.pool.get_size() - self.pool.get_idle_size()

    def summary(self) -> Summary:
        return Summary(
            round(self.messages_per_second(), 2),
            self._messages(),
            _percentile(self.recent_flushes, 50),
            _percentile(self.recent_flushes, 99),
            _percentile(self.recent_interactions, 50),
            _percentile(self.recent_interactions, 99),
            self.outbox_pending,
            self.outbox_oldest,
            self.dead_letters,
            self.pool_in_use(),
            self.pool.get_size(),
            self.pool_max,
        )

    # -- the endpoint ------------------------------------------------------------------------

    def serve(self, host: str, port: int) -> int:
        """Start the Prometheus endpoint (a thread); returns the port it listens on."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        self._server = server
        listening = server.server_address[1]
        log.info("metrics on http://%s:%d/metrics", host, listening)
        return listening

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class _StateCollector(Collector):
    """What the bot knows already, read at scrape time (nothing on the hot path)."""

    def __init__(self, metrics: Metrics) -> None:
        self.m = metrics

    def collect(self) -> Iterator[Any]:
        m = self.m
        yield CounterMetricFamily("conclave_messages", "Member messages received", value=m._messages())
        yield GaugeMetricFamily(
            "conclave_messages_per_second", "Member messages per second over the last minute", m.messages_per_second()
        )
        yield GaugeMetricFamily("conclave_outbox_backlog", "Outbox items waiting for delivery", m.outbox_pending)
        yield GaugeMetricFamily(
            "conclave_outbox_oldest_seconds", "Age of the oldest waiting outbox item", m.outbox_oldest or 0.0
        )
        yield GaugeMetricFamily("conclave_outbox_failed", "Outbox items failed or refused for good", m.outbox_failed)
        yield GaugeMetricFamily("conclave_dead_letters", "Refused writes waiting for staff", m.dead_letters)
        yield GaugeMetricFamily("conclave_pool_in_use", "Database connections in use", m.pool_in_use())
        yield GaugeMetricFamily("conclave_pool_size", "Database connections open", m.pool.get_size())
        yield GaugeMetricFamily("conclave_pool_max", "Database connections allowed", m.pool_max)
        yield GaugeMetricFamily(
            "conclave_leader", "1 while this process leads (holds the lease), 0 while it stands by", m.leading()
        )
