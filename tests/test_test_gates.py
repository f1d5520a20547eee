"""CONCLAVE_TEST_GATES (bot/core/runner.py wait_at_test_gate) is a test's hold on a handover's step: it
must never hold a process against Discord itself, nor hold one forever when the test never opens it."""

from __future__ import annotations

import asyncio
import logging

import discord

from bot.core import runner


async def test_a_gate_nobody_opens_is_given_up_past_its_bound(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv(runner.TEST_GATES, str(tmp_path))
    monkeypatch.setattr(discord.http.Route, "BASE", "http://127.0.0.1:9/api/v10")  # a stand-in's
    monkeypatch.setattr(runner, "TEST_GATE_WAIT_S", 0.3)
    with caplog.at_level(logging.INFO, logger=runner.log.name):
        # The guard only keeps a broken wait from hanging the suite: the bound is 0.3 s.
        await asyncio.wait_for(runner.wait_at_test_gate("cut"), timeout=30)
    assert "waiting for" in caplog.text and "gave up" in caplog.text
    assert not (tmp_path / "cut").exists()


async def test_a_gate_that_leaked_into_a_deploy_is_ignored_against_discord(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv(runner.TEST_GATES, str(tmp_path))
    monkeypatch.setattr(discord.http.Route, "BASE", "https://discord.com/api/v10")
    with caplog.at_level(logging.INFO, logger=runner.log.name):
        await asyncio.wait_for(runner.wait_at_test_gate("grace"), timeout=30)
    assert "waiting for" not in caplog.text and "ignored" in caplog.text


async def test_an_opened_gate_lets_the_step_go_on(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv(runner.TEST_GATES, str(tmp_path))
    monkeypatch.setattr(discord.http.Route, "BASE", "http://127.0.0.1:9/api/v10")
    (tmp_path / "cut").touch()
    with caplog.at_level(logging.INFO, logger=runner.log.name):
        await asyncio.wait_for(runner.wait_at_test_gate("cut"), timeout=30)
    assert "waiting for" in caplog.text and "gave up" not in caplog.text
