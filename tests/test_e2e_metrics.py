"""The Prometheus endpoint after some traffic, and /about's summary for staff."""

from __future__ import annotations

import socket

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from bot.core.community import StatsConfig
from bot.core.config import ConfigError
from tests.xp_support import handled, start


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _scrape(port: int) -> dict[str, float]:
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/metrics") as response:
        assert response.status == 200
        text = await response.text()
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()) if k != "le")
            if "le" in sample.labels:
                continue
            values[sample.name + (f"{{{labels}}}" if labels else "")] = sample.value
    return values


async def test_the_metrics_endpoint_reports_traffic_and_the_write_paths(harness):
    port = _free_port()
    bot = await start(harness, community={"stats": StatsConfig(metrics_port=port)})
    alice, bob = harness.member("alice"), harness.member("bob")
    for i in range(4):
        alice.say(f"hello there {i}")
    bob.say("hello alice")
    await handled(bot, 5)
    await alice.slash("rank")
    await bot.pool.execute(
        "INSERT INTO outbox (kind, payload, next_attempt_at) VALUES ('dm', '{}', NOW() + INTERVAL '1 hour')"
    )
    await bot.pool.execute("INSERT INTO dead_letters (kind, payload, error) VALUES ('xp_grant', '{}', 'test')")
    await bot.flush_schedule.run_due()  # one periodic flush observed at least
    await bot.metrics.poll()
    values = await _scrape(port)
    assert values["conclave_messages_total"] == 5
    assert values["conclave_outbox_backlog"] == await bot.pool.fetchval(
        "SELECT count(*) FROM outbox WHERE status = 'pending'"
    )
    assert values["conclave_outbox_oldest_seconds"] >= 0
    assert values["conclave_dead_letters"] == 1
    assert values["conclave_interaction_seconds_count"] >= 1
    assert sum(v for k, v in values.items() if k.startswith("conclave_flush_seconds_count")) >= 1
    assert values["conclave_pool_max"] == 10 and 1 <= values["conclave_pool_size"] <= 10
    assert 0 <= values["conclave_pool_in_use"] <= values["conclave_pool_size"]
    assert values["conclave_messages_per_second"] >= 0

    staff = harness.member("mod")
    about = await staff.slash("about")
    fields = {f["name"]: f["value"] for f in about.embed["fields"]}
    assert about.ephemeral
    assert fields["Dead letters"] == "1" and fields["Outbox"].startswith(
        f"{int(values['conclave_outbox_backlog'])} waiting"
    )
    assert "since start" in fields["Messages"] and fields["Messages"].endswith("(5 since start)")
    assert fields["Database pool"].endswith("10 max")
    member_view = await alice.slash("about")
    assert not member_view.ephemeral and "Dead letters" not in {f["name"] for f in member_view.embed["fields"]}


async def test_the_endpoint_is_off_by_default_and_a_taken_port_is_a_clear_error(harness):
    bot = await start(harness)
    assert bot.config.community.stats.metrics_port == 0 and bot.metrics._server is None
    await harness.stop_bot()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        try:
            await start(harness, community={"stats": StatsConfig(metrics_port=port)})
        except ConfigError as error:
            assert str(error).startswith(f"[stats] metrics_port {port} on 127.0.0.1: cannot listen")
        else:
            raise AssertionError("the bot started with its metrics port taken")
