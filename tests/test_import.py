"""Importing another bot's levels: the formats, the mapping onto our curve, the ledger exactly once,
re-imports that replace, undo, resumes after a crash, bad files, fetching pages, and /xp import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp import web

from bot.core.community import CommunityConfig, RoleReward
from bot.importing import importer
from bot.importing import sources as src
from db import ledger, outbox
from tests.factories import make_member, snowflake

ROOT = Path(__file__).resolve().parent.parent
GUILD = 900_000_000_000_000_001


def mee6_page(players: list[dict], **extra) -> bytes:
    return json.dumps({"players": players, "xp_per_message": [15, 25], "xp_rate": 1, **extra}).encode()


def mee6_player(discord_id: str, level: int, into: int = 0, name: str = "someone", messages: int = 0) -> dict:
    start, end = src.mee6_total_for_level(level), src.mee6_total_for_level(level + 1)
    return {
        "id": discord_id,
        "username": name,
        "discriminator": "0",
        "avatar": None,
        "xp": start + into,
        "level": level,
        "message_count": messages,
        "detailed_xp": [into, end - start, start + into],
    }


def community(**xp) -> CommunityConfig:
    return CommunityConfig.model_validate({"guild_id": GUILD, "xp": xp})


async def profile(pool, discord_id: str):
    return await pool.fetchrow(
        """SELECT u.id, u.in_server, up.total_xp, up.level, up.message_count FROM users u
           JOIN user_profiles up ON up.user_id = u.id WHERE u.discord_id = $1""",
        discord_id,
    )


async def imported(pool, data: bytes, source="mee6", **options) -> importer.Summary:
    parsed = importer.parse_bytes(data, source)
    plan = importer.plan(parsed, importer.Options(source, **options))
    return await importer.run(pool, options.pop("community", None) or community(), plan)


# -- the curves and the formats (pure) --------------------------------------------------------


def test_mee6_curve_and_ours_as_their_documentation_gives_them():
    assert [src.mee6_total_for_level(n) for n in range(5)] == [0, 100, 255, 475, 770]
    assert src.mee6_level(254) == 1 and src.mee6_level(255) == 2
    assert [src.our_total_for_level(n) for n in (1, 2, 3, 10)] == [0, 100, 400, 8100]
    assert src.our_level(8099) == 9 and src.our_level(8100) == 10


def test_by_level_keeps_the_level_and_the_progress_inside_it():
    half = src.SourceRow(1, snowflake(), "a", xp=None, level=10, progress=0.5)
    # Our level 10 runs from 8,100 to 10,000 XP: halfway is 9,050.
    assert src.mapped_xp(half, "mee6", "level") == 9050
    # No detailed_xp: the progress comes from MEE6's curve (level 10 spans 4,675 .. 5,775 there).
    from_xp = src.SourceRow(1, snowflake(), "a", xp=src.mee6_total_for_level(10) + 275, level=10)
    assert src.mapped_xp(from_xp, "mee6", "level") == 8100 + 1900 // 4
    assert src.our_level(src.mapped_xp(from_xp, "mee6", "level")) == 10
    # A curve nobody published (Amari): the level's start.
    assert src.mapped_xp(src.SourceRow(1, snowflake(), "a", xp=12345, level=7), "amari", "level") == 3600
    # By XP: the XP, our curve deciding the level.
    assert src.mapped_xp(from_xp, "mee6", "xp") == src.mee6_total_for_level(10) + 275
    # MEE6's level 0 is our lowest, 1.
    assert src.mapped_xp(src.SourceRow(1, snowflake(), "a", xp=50, level=0, progress=0.5), "mee6", "level") == 50


def test_each_source_is_read_with_the_fields_it_publishes():
    a, b = snowflake(), snowflake()
    lurkr = json.dumps(
        {"levels": [{"userId": a, "xp": 300, "level": 2, "messageCount": 40, "user": {"username": "x"}}]}
    ).encode()
    (row,) = src.parse(lurkr, "lurkr").rows
    assert (row.discord_id, row.xp, row.level, row.messages, row.username) == (a, 300, 2, 40, "x")
    amari = json.dumps({"data": [{"id": a, "username": "y", "exp": "1200", "level": "4", "weeklyExp": 5}]}).encode()
    (row,) = src.parse(amari, "amari").rows
    assert (row.xp, row.level) == (1200, 4)
    polaris = json.dumps({"leaderboard": [{"id": a, "xp": 999}, {"id": b, "xp": 5}]}).encode()
    parsed = src.parse(polaris, "polaris")
    assert [r.xp for r in parsed.rows] == [999, 5]
    assert src.effective_mapping(parsed, "level")[0] == "xp"  # Polaris has no levels
    csv_data = f"Level,ID,username,messages\n3,{a},zed,10\n5,{b},,\n".encode()
    parsed = src.parse(csv_data, "csv")
    assert [(r.discord_id, r.level, r.messages, r.username) for r in parsed.rows] == [
        (a, 3, 10, "zed"),
        (b, 5, None, None),
    ]
    mee6 = mee6_page([mee6_player(a, 3, 10)], role_rewards=[{"rank": 5, "role": {"id": "123456789012345678"}}])
    parsed = src.parse(mee6, "mee6")
    assert parsed.role_rewards == [(5, "123456789012345678")]
    assert "role_id = 123456789012345678" in src.suggested_role_rewards(parsed.role_rewards)


@pytest.mark.parametrize(
    ("data", "source", "expected"),
    [
        (b'{"levels": []}', "mee6", "not a mee6 export: it has no `players` list"),
        (b'{"players": [{"id": "1', "mee6", "cut short"),
        (b"\xff\xfe\x00", "mee6", "not UTF-8"),
        (b"name,score\nx,1\n", "csv", "header row must name `id` and `xp` or `level`"),
        (b"id,xp,level\n123456789012345678,5\n", "csv", "row 2 has 2 cells where the header has 3"),
    ],
)
def test_a_file_that_is_not_its_format_is_one_clear_error(data, source, expected):
    with pytest.raises(src.ImportFormatError) as caught:
        src.parse(data, source)
    assert expected in str(caught.value)


def test_bad_rows_are_skipped_with_their_reason():
    good = snowflake()
    rows = [
        {"id": good, "xp": 100, "level": 1},
        {"id": "12345", "xp": 100, "level": 1},
        {"id": snowflake(), "xp": -5, "level": 1},
        {"id": snowflake(), "xp": 10**10, "level": 1},
        {"id": good, "xp": 200, "level": 2},
        {"id": snowflake(), "xp": "lots", "level": 1},
        "not a player",
    ]
    parsed = src.parse(json.dumps({"players": rows}).encode(), "mee6")
    assert [r.discord_id for r in parsed.rows] == [good]
    reasons = [(s.row, s.reason) for s in parsed.skipped]
    assert reasons == [
        (2, "unknown id format (not a Discord id)"),
        (3, "xp -5 is out of range (0 to 1,000,000,000)"),
        (4, "xp 10,000,000,000 is out of range (0 to 1,000,000,000)"),
        (5, "duplicate id (first at row 1)"),
        (6, "xp is not a whole number ('lots')"),
        (7, "not a member entry"),
    ]


# -- through the ledger ------------------------------------------------------------------------


async def test_an_import_is_one_ledger_row_per_member_and_moves_totals_and_levels(pool):
    known = await make_member(pool, "known")
    known_discord = await pool.fetchval("SELECT discord_id FROM users WHERE id = $1", known)
    await pool.execute("SELECT award_xp($1, NULL, 150)", known)  # earned here already
    newcomer = snowflake()
    data = mee6_page(
        [mee6_player(known_discord, 10, 550, messages=900), mee6_player(newcomer, 3, 0, name="newbie", messages=7)]
    )
    summary = await imported(pool, data)
    assert (summary.imported, summary.unchanged) == (2, 0)
    known_row = await profile(pool, known_discord)
    # MEE6 level 10 at 550 of its 1,100: our level 10 (8,100 .. 10,000) halfway, 9,050, on top of
    # the 150 earned here.
    assert known_row["total_xp"] == 150 + 9050 and known_row["level"] == 10
    assert known_row["message_count"] == 900
    newbie = await profile(pool, newcomer)
    assert newbie["in_server"] is False  # kept, waiting for them to join
    assert newbie["total_xp"] == 400 and newbie["level"] == 3
    rows = await pool.fetch("SELECT user_id, amount, source_ref FROM xp_ledger WHERE source = 'import'")
    assert sorted(r["amount"] for r in rows) == [400, 9050]
    assert all(r["source_ref"].startswith("mee6:") for r in rows)
    assert await ledger.ledger_mismatches(pool) == []
    assert summary.before != summary.after


async def test_the_same_import_twice_changes_nothing_and_a_corrected_file_replaces_it(pool):
    a, b = snowflake(), snowflake()
    await imported(pool, mee6_page([mee6_player(a, 5), mee6_player(b, 4)]))
    again = await imported(pool, mee6_page([mee6_player(a, 5), mee6_player(b, 4)]))
    assert (again.imported, again.unchanged) == (0, 2)
    assert (await profile(pool, a))["total_xp"] == 1600
    # The corrected file names only a, at level 6: a's import is replaced, b's stays.
    corrected = await imported(pool, mee6_page([mee6_player(a, 6)]))
    assert corrected.imported == 1
    assert (await profile(pool, a))["total_xp"] == 2500
    assert (await profile(pool, b))["total_xp"] == 900
    a_id = (await profile(pool, a))["id"]
    amounts = await pool.fetch(
        "SELECT amount FROM xp_ledger WHERE user_id = $1 AND source = 'import' ORDER BY id", a_id
    )
    assert [r["amount"] for r in amounts] == [1600, -1600, 2500]
    assert await ledger.ledger_mismatches(pool) == []


async def test_undo_takes_one_import_back_and_restores_what_it_replaced(pool):
    a, b = snowflake(), snowflake()
    first = await imported(pool, mee6_page([mee6_player(a, 5), mee6_player(b, 4)]))
    second = await imported(pool, mee6_page([mee6_player(a, 8)]))
    assert (await profile(pool, a))["total_xp"] == 4900
    undone = await importer.undo(pool, community(), second.import_id)
    assert undone.imported == 1
    assert (await profile(pool, a))["total_xp"] == 1600  # the first import's again
    assert (await profile(pool, b))["total_xp"] == 900
    await importer.undo(pool, community(), first.import_id)
    assert (await profile(pool, a))["total_xp"] == 0
    assert (await profile(pool, b))["total_xp"] == 0
    with pytest.raises(importer.ImportFailed, match="taken back already"):
        await importer.undo(pool, community(), first.import_id)
    with pytest.raises(importer.ImportFailed, match="there is no import 'imp_nope'"):
        await importer.undo(pool, community(), "imp_nope")
    assert await ledger.ledger_mismatches(pool) == []


async def test_an_undo_never_takes_a_member_below_zero(pool):
    a = snowflake()
    await imported(pool, mee6_page([mee6_player(a, 5)]))
    user_id = (await profile(pool, a))["id"]
    await pool.execute("SELECT award_xp($1, NULL, -1000)", user_id)  # staff took XP since
    record = (await pool.fetchrow("SELECT id FROM xp_imports"))["id"]
    await importer.undo(pool, community(), record)
    assert (await profile(pool, a))["total_xp"] == 0
    assert await ledger.ledger_mismatches(pool) == []


async def test_members_only_skips_those_not_in_the_server_and_dry_run_writes_nothing(pool):
    member = await make_member(pool, "here")
    here = await pool.fetchval("SELECT discord_id FROM users WHERE id = $1", member)
    away = snowflake()
    data = mee6_page([mee6_player(here, 2), mee6_player(away, 2)])
    dry = await imported(pool, data, dry_run=True)
    assert dry.imported == 2 and dry.import_id is None
    assert await pool.fetchval("SELECT count(*) FROM xp_ledger WHERE source = 'import'") == 0
    assert await pool.fetchval("SELECT count(*) FROM users WHERE discord_id = $1", away) == 0
    summary = await imported(pool, data, members_only=True)
    assert summary.imported == 1
    assert [s.reason for s in summary.skipped] == ["not in the server (--members-only)"]
    assert await pool.fetchval("SELECT count(*) FROM users WHERE discord_id = $1", away) == 0


async def test_level_up_rewards_are_queued_quietly_for_members_in_the_server(pool):
    member = await make_member(pool, "here")
    here = await pool.fetchval("SELECT discord_id FROM users WHERE id = $1", member)
    away = snowflake()
    role = 800_000_000_000_000_005
    config = community(role_rewards=[RoleReward(level=5, role_id=role).model_dump()])
    parsed = importer.parse_bytes(mee6_page([mee6_player(here, 6), mee6_player(away, 6)]), "mee6")
    summary = await importer.run(pool, config, importer.plan(parsed, importer.Options("mee6")))
    assert summary.roles_queued == 1
    items = await pool.fetch("SELECT kind, payload FROM outbox")
    assert [(i["kind"], i["payload"]["user_id"], i["payload"]["role_id"]) for i in items] == [
        ("add_role", here, str(role))
    ]
    assert not [i for i in items if i["kind"] in ("dm", "channel_message")]
    # A live level-up to the same level later queues nothing more (the same dedupe key).
    assert await outbox.enqueue(pool, "add_role", {}, dedupe_key=f"reward:global:6:{here}:+{role}") is None


class Crash(Exception):
    pass


async def test_a_crash_mid_import_resumes_and_writes_each_member_once(pool, monkeypatch):
    monkeypatch.setattr(importer, "CHUNK", 3)
    monkeypatch.setattr(importer, "LANES", 1)  # one chunk at a time: the crash comes after exactly two
    players = [mee6_player(snowflake(), 2 + i) for i in range(8)]
    parsed = importer.parse_bytes(mee6_page(players), "mee6")
    plan = importer.plan(parsed, importer.Options("mee6"))

    async def crash_after_the_second_chunk(done: int, total: int) -> None:
        if done >= 6:
            raise Crash  # the process dies here: two chunks committed

    with pytest.raises(Crash):
        await importer.run(pool, community(), plan, report=crash_after_the_second_chunk)
    assert await pool.fetchval("SELECT count(*) FROM xp_ledger WHERE source = 'import'") == 6
    with pytest.raises(importer.ImportFailed, match="running now"):  # within a minute it may be alive
        await importer.run(pool, community(), plan)
    monkeypatch.setattr(importer, "STALE_S", 0)  # the crashed process's heartbeat is old enough now
    again = importer.plan(importer.parse_bytes(mee6_page(players), "mee6"), importer.Options("mee6"))
    summary = await importer.run(pool, community(), again)
    assert summary.resumed and summary.imported == 8
    assert await pool.fetchval("SELECT count(*) FROM xp_ledger WHERE source = 'import'") == 8
    assert await pool.fetchval("SELECT count(*) FROM xp_imports") == 1
    assert await pool.fetchval("SELECT status FROM xp_imports") == "done"
    assert await ledger.ledger_mismatches(pool) == []


async def test_a_chunk_the_database_refuses_writes_nothing_of_it(pool, monkeypatch):
    monkeypatch.setattr(importer, "CHUNK", 2)
    players = [mee6_player(snowflake(), 3) for _ in range(4)]
    # The third member's users row is refused (a username this database does not take).
    await pool.execute("ALTER TABLE users ADD CONSTRAINT short_names CHECK (length(username) <= 100)")
    plan = importer.plan(importer.parse_bytes(mee6_page(players), "mee6"), importer.Options("mee6"))
    plan.wanted[2] = importer.imports.Wanted(plan.wanted[2].discord_id, "x" * 5000, plan.wanted[2].amount)
    with pytest.raises(Exception, match="short_names"):
        await importer.run(pool, community(), plan)
    assert await pool.fetchval("SELECT count(*) FROM xp_ledger WHERE source = 'import'") == 2  # the first chunk
    assert await pool.fetchval("SELECT count(*) FROM users WHERE discord_id = $1", players[3]["id"]) == 0


# -- fetching pages ------------------------------------------------------------------------------


async def test_fetching_pages_with_backoff_on_429_and_a_private_leaderboard_in_one_line(unused_tcp_port):
    players = [mee6_player(snowflake(), 2) for _ in range(1500)]
    seen: list[str] = []
    throttled = {"done": False}

    async def leaderboard(request: web.Request) -> web.Response:
        guild = request.match_info["guild"]
        seen.append(request.query_string)
        if guild == "private":
            return web.json_response({"status_code": 401, "error": {"message": "private"}}, status=401)
        page = int(request.query["page"])
        if page == 1 and not throttled["done"]:
            throttled["done"] = True
            return web.json_response({"retry_after": 0.2}, status=429, headers={"Retry-After": "0.2"})
        chunk = players[page * 1000 : (page + 1) * 1000]
        return web.json_response({"players": chunk, "role_rewards": []})

    app = web.Application()
    app.router.add_get("/api/plugins/levels/leaderboard/{guild}", leaderboard)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", unused_tcp_port)
    await site.start()
    base = f"http://127.0.0.1:{unused_tcp_port}/api/plugins/levels/leaderboard"
    try:
        data = await importer.fetch(f"{base}/123", "mee6")
        parsed = src.parse(data, "mee6")
        assert len(parsed.rows) == 1500
        assert seen == ["page=0&limit=1000", "page=1&limit=1000", "page=1&limit=1000"]
        with pytest.raises(importer.ImportFailed, match="leaderboard is private: in MEE6's dashboard"):
            await importer.fetch(f"{base}/private", "mee6")
    finally:
        await runner.cleanup()


# -- the command line and /xp import --------------------------------------------------------------


def test_the_command_line_imports_dry_runs_and_undoes(db_dsn, tmp_path):
    a, b = snowflake(), snowflake()
    export = tmp_path / "mee6.json"
    export.write_bytes(mee6_page([mee6_player(a, 4), mee6_player(b, 12), {"id": "nope", "xp": 1, "level": 1}]))
    env = {k: v for k, v in os.environ.items() if k not in ("DISCORD_TOKEN", "CONCLAVE_CONFIG")}
    env.update(DATABASE_URL=db_dsn, PYTHONPATH=str(ROOT), CONCLAVE_DATA_DIR=str(tmp_path / "data"))

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "bot", "import", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
        )

    dry = cli(str(export), "--from", "mee6", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would import 2 members" in dry.stdout and "level  10 (    4,675 XP there) -> level  10" in dry.stdout
    assert "unknown id format" in dry.stdout
    done = cli(str(export), "--from", "mee6")
    assert done.returncode == 0, done.stderr
    assert "imported 2 members (13,000 XP in all)" in done.stdout
    import_id = next(line.split()[2] for line in done.stdout.splitlines() if line.startswith("Import id:"))
    assert "importing [" in done.stderr  # the progress bar
    bad = cli(str(tmp_path / "missing.json"), "--from", "mee6")
    assert bad.returncode == 1 and bad.stderr.strip().startswith("conclave: import failed: cannot read")
    assert "Traceback" not in bad.stderr
    wrong = cli(str(export), "--from", "lurkr")
    assert "this is not a lurkr export" in wrong.stderr and "Traceback" not in wrong.stderr
    undone = cli("--undo", import_id)
    assert undone.returncode == 0, undone.stderr
    assert f"import {import_id} taken back: 2 members" in undone.stdout


async def test_amari_is_fetched_with_its_api_key_and_refused_without(unused_tcp_port):
    members = [{"id": snowflake(), "username": "a", "exp": "2500", "level": "5", "weeklyExp": 0} for _ in range(3)]
    keys: list[str | None] = []

    async def leaderboard(request: web.Request) -> web.Response:
        keys.append(request.headers.get("Authorization"))
        if request.headers.get("Authorization") != "secret-key":
            return web.json_response({"error": "Unauthorized"}, status=401)
        return web.json_response({"count": 3, "total_count": 3, "data": members})

    app = web.Application()
    app.router.add_get("/api/v1/guild/leaderboard/{guild}", leaderboard)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
    url = f"http://127.0.0.1:{unused_tcp_port}/api/v1/guild/leaderboard/123"
    try:
        parsed = src.parse(await importer.fetch(url, "amari", api_key="secret-key"), "amari")
        assert [(r.xp, r.level) for r in parsed.rows] == [(2500, 5)] * 3
        with pytest.raises(importer.ImportFailed, match="needs a key"):
            await importer.fetch(url, "amari")
        with pytest.raises(importer.ImportFailed, match=r"refused the request \(401\): check the API key"):
            await importer.fetch(url, "amari", api_key="wrong")
        assert keys == ["secret-key", "wrong"]
    finally:
        await runner.cleanup()


# -- found in review: each of these failed before its fix ---------------------------------------


def player(discord_id: str, level: int, name: str = "x") -> dict:
    return {"id": discord_id, "username": name, "xp": src.mee6_total_for_level(level), "level": level}


def plan_of(data: bytes, **options) -> importer.Plan:
    return importer.plan(importer.parse_bytes(data, "mee6"), importer.Options("mee6", **options))


async def test_undoing_a_replaced_import_then_its_replacement_leaves_nothing_of_either(pool):
    a = snowflake()
    first = await importer.run(pool, community(), plan_of(mee6_page([player(a, 5)])))
    second = await importer.run(pool, community(), plan_of(mee6_page([player(a, 8)])))
    await importer.undo(pool, community(), first.import_id)  # replaced already: nothing of it is live
    assert (await profile(pool, a))["total_xp"] == 4900
    await importer.undo(pool, community(), second.import_id)  # must not bring back the undone first one
    assert (await profile(pool, a))["total_xp"] == 0


async def test_undo_while_the_import_runs_stops_it_and_takes_back_everything_it_wrote(pool, monkeypatch):
    import asyncio

    monkeypatch.setattr(importer, "CHUNK", 2)
    monkeypatch.setattr(importer, "LANES", 1)
    plan = plan_of(mee6_page([player(snowflake(), 4) for _ in range(6)]))
    written, go = asyncio.Event(), asyncio.Event()

    async def report(done: int, total: int) -> None:
        if done == 2:
            written.set()
            await go.wait()

    run = asyncio.create_task(importer.run(pool, community(), plan, report=report))
    await written.wait()
    record = await pool.fetchval("SELECT id FROM xp_imports")
    await importer.undo(pool, community(), record)
    go.set()
    with pytest.raises(importer.ImportFailed, match="taken back while it ran"):
        await run
    assert await pool.fetchval("SELECT count(*) FROM xp_import_entries WHERE live") == 0
    assert await pool.fetchval("SELECT COALESCE(sum(total_xp), 0) FROM user_profiles") == 0
    with pytest.raises(importer.ImportFailed, match="taken back already"):
        await importer.undo(pool, community(), record)


async def test_undoing_a_correction_gives_back_only_what_it_took_never_xp_staff_took(pool):
    a = snowflake()
    await imported(pool, mee6_page([player(a, 5)]))  # 1,600
    user_id = (await profile(pool, a))["id"]
    await pool.execute("SELECT award_xp($1, NULL, -1400)", user_id)  # staff took 1,400: 200 left
    correction = await importer.run(pool, community(), plan_of(mee6_page([player(a, 8)])))
    await importer.undo(pool, community(), correction.import_id)
    assert (await profile(pool, a))["total_xp"] == 200


async def test_undo_takes_back_reward_roles_and_message_counts_the_import_gave(pool):
    role = 800_000_000_000_000_005
    config = community(role_rewards=[RoleReward(level=5, role_id=role).model_dump()])
    member = await make_member(pool, "here")
    here = await pool.fetchval("SELECT discord_id FROM users WHERE id = $1", member)
    data = json.dumps({"players": [{**player(here, 6), "message_count": 500_000}]}).encode()
    summary = await importer.run(pool, config, plan_of(data))
    assert (await profile(pool, here))["message_count"] == 500_000
    await pool.execute("UPDATE users SET roles = ARRAY[$1::text] WHERE id = $2", str(role), member)  # given
    await importer.undo(pool, config, summary.import_id)
    kinds = [r["kind"] for r in await pool.fetch("SELECT kind FROM outbox ORDER BY id")]
    assert kinds == ["add_role", "remove_role"]
    assert (await profile(pool, here))["message_count"] == 0


async def test_imported_xp_is_not_counted_as_earned_today(pool):
    from db import stats

    await imported(pool, mee6_page([player(snowflake(), 100)]))
    async with pool.acquire() as conn:
        snapshot = await stats.refresh(conn, online_count=None, boost_level=0, boost_count=0)
    assert snapshot.xp.get("total", 0) == 0


async def test_an_erased_member_keeps_no_discord_id_in_the_import_and_is_never_imported_again(pool):
    from db.privacy import erase

    member = await make_member(pool, "leaving")
    discord_id = await pool.fetchval("SELECT discord_id FROM users WHERE id = $1", member)
    await imported(pool, mee6_page([player(discord_id, 5, name="leaving")]))
    async with pool.acquire() as conn, conn.transaction():
        await erase(conn, member)
    for table in ("xp_ledger", "xp_import_entries"):
        assert not await pool.fetchval(
            f"SELECT count(*) FROM {table} WHERE source_ref LIKE '%' || $1 || '%'", discord_id
        )
    again = await imported(pool, mee6_page([player(discord_id, 5, name="leaving")]), origin="again")
    assert [s.reason for s in again.skipped] == ["erased at their request"]
    assert await pool.fetchval("SELECT count(*) FROM users WHERE discord_id = $1", discord_id) == 0


async def test_a_resumed_import_counts_each_member_once_in_its_record(pool, monkeypatch):
    monkeypatch.setattr(importer, "CHUNK", 3)
    monkeypatch.setattr(importer, "LANES", 1)
    players = [player(snowflake(), 3) for _ in range(8)]

    async def crash(done: int, total: int) -> None:
        if done >= 6:
            raise Crash

    with pytest.raises(Crash):
        await importer.run(pool, community(), plan_of(mee6_page(players)), report=crash)
    monkeypatch.setattr(importer, "STALE_S", 0)
    await importer.run(pool, community(), plan_of(mee6_page(players)))
    record = await pool.fetchrow("SELECT rows_total, rows_done, imported, total_xp FROM xp_imports")
    assert dict(record) == {"rows_total": 8, "rows_done": 8, "imported": 8, "total_xp": 8 * 400}


async def test_a_crashed_import_reaches_achievements_once_it_has_been_silent_a_while(pool, monkeypatch):
    from db import imports

    monkeypatch.setattr(importer, "CHUNK", 1)
    monkeypatch.setattr(importer, "LANES", 1)

    async def crash(done: int, total: int) -> None:
        raise Crash

    with pytest.raises(Crash):
        await importer.run(pool, community(), plan_of(mee6_page([player(snowflake(), 3)] * 1)), report=crash)
    assert await imports.unevaluated(pool) == []  # it may still be running
    await pool.execute("UPDATE xp_imports SET heartbeat_at = NOW() - interval '6 minutes'")
    assert len(await imports.unevaluated(pool)) == 1


async def test_a_second_import_while_one_has_not_finished_is_refused_in_one_line(pool, monkeypatch):
    monkeypatch.setattr(importer, "CHUNK", 1)
    monkeypatch.setattr(importer, "LANES", 1)

    async def crash(done: int, total: int) -> None:
        raise Crash

    with pytest.raises(Crash):
        await importer.run(
            pool, community(), plan_of(mee6_page([player(snowflake(), 3) for _ in range(2)])), report=crash
        )
    other = plan_of(mee6_page([player(snowflake(), 4)]))
    with pytest.raises(importer.ImportFailed, match="another import is running or did not finish: imp_"):
        await importer.run(pool, community(), other)


def test_members_are_capped_at_what_xp_give_allows_and_the_fetched_pages_keep_one_set_of_rewards():
    top = snowflake()
    plan = plan_of(mee6_page([player(top, 250)]), by="xp")
    assert [w.amount for w in plan.wanted] == [importer.MAX_IMPORT_XP] and plan.capped == 1
    pages = [{"players": [player(snowflake(), 2)], "role_rewards": [{"rank": 5, "role": {"id": "1" * 18}}]}] * 3
    merged = src.merge_pages(pages, "players")
    assert len(merged["players"]) == 3 and len(merged["role_rewards"]) == 1


@pytest.mark.parametrize(
    ("data", "source", "expected"),
    [
        (b"id,xp\n123456789012345678," + b"9" * 200_000 + b"\n", "csv", "row 2 cannot be read"),
        (b"[" * 100_000 + b"]" * 100_000, "mee6", "nested far too deep"),
        (b'{"players": [], "role_rewards": 5}', "mee6", None),
    ],
)
def test_hostile_files_are_one_clear_error_or_read_as_they_are(data, source, expected):
    if expected is None:
        assert src.parse(data, source).rows == []
        return
    with pytest.raises(src.ImportFormatError) as caught:
        src.parse(data, source)
    assert expected in str(caught.value)


# -- the bulk write path: one chunk, set-based -------------------------------------------------


async def test_one_chunk_holds_new_replaced_unchanged_and_kept_members_and_writes_each_as_alone(pool):
    """A chunk goes in by COPY and is written in a few statements: every kind of member in the same
    chunk is treated as it is alone (a new one, one imported before with the same XP, one whose
    earlier import is replaced, message counts that only go up)."""
    same, replaced = snowflake(), snowflake()
    ours = await make_member(pool, "counted")
    counted = await pool.fetchval("SELECT discord_id FROM users WHERE id = $1", ours)
    await pool.execute("UPDATE user_profiles SET message_count = 900 WHERE user_id = $1", ours)
    await imported(pool, mee6_page([mee6_player(same, 5), mee6_player(replaced, 5)]))
    newcomer = snowflake()
    data = mee6_page(
        [
            mee6_player(same, 5),
            mee6_player(replaced, 8),
            mee6_player(newcomer, 4, messages=70),
            mee6_player(counted, 3, messages=500),  # fewer than we counted: ours stays
        ]
    )
    summary = await imported(pool, data, origin="corrected")
    assert (summary.imported, summary.unchanged, summary.total_xp) == (3, 1, 4900 + 900 + 400)
    assert [(await profile(pool, d))["total_xp"] for d in (same, replaced, newcomer, counted)] == [1600, 4900, 900, 400]
    assert (await profile(pool, counted))["message_count"] == 900
    assert (await profile(pool, newcomer))["message_count"] == 70
    assert (await profile(pool, newcomer))["in_server"] is False
    replaced_id = (await profile(pool, replaced))["id"]
    rows = await pool.fetch(
        "SELECT amount, source_ref FROM xp_ledger WHERE user_id = $1 AND source = 'import' ORDER BY id", replaced_id
    )
    assert [r["amount"] for r in rows] == [1600, -1600, 4900]
    assert rows[1]["source_ref"] == f"undo:{rows[0]['source_ref']}:{summary.import_id}"
    live = await pool.fetch("SELECT user_id, import_id FROM xp_import_entries WHERE live ORDER BY user_id")
    assert len(live) == 4 and len({r["user_id"] for r in live}) == 4
    assert await ledger.ledger_mismatches(pool) == []


async def test_a_resume_in_larger_chunks_leaves_what_the_crashed_run_wrote_and_writes_the_rest(pool, monkeypatch):
    """The crashed run wrote chunks of 3; the resume reads chunks of 100: one chunk then holds
    members this import wrote already (left as they are) and members it has not reached yet."""
    monkeypatch.setattr(importer, "CHUNK", 3)
    monkeypatch.setattr(importer, "LANES", 1)
    players = [mee6_player(snowflake(), 2 + i) for i in range(7)]

    async def crash(done: int, total: int) -> None:
        raise Crash  # after the first chunk

    with pytest.raises(Crash):
        await importer.run(pool, community(), plan_of(mee6_page(players)), report=crash)
    assert await pool.fetchval("SELECT count(*) FROM xp_ledger WHERE source = 'import'") == 3
    monkeypatch.setattr(importer, "STALE_S", 0)
    monkeypatch.setattr(importer, "CHUNK", 100)
    summary = await importer.run(pool, community(), plan_of(mee6_page(players)))
    assert summary.resumed and (summary.imported, summary.unchanged) == (7, 0)
    assert summary.total_xp == sum(src.our_total_for_level(2 + i) for i in range(7))
    assert await pool.fetchval("SELECT count(*) FROM xp_ledger WHERE source = 'import'") == 7
    assert await pool.fetchval("SELECT imported FROM xp_imports") == 7
    assert await ledger.ledger_mismatches(pool) == []


async def test_a_member_whose_profile_is_gone_is_skipped_and_the_rest_of_the_chunk_is_written(pool):
    gone, kept = snowflake(), snowflake()
    await imported(pool, mee6_page([mee6_player(gone, 2)]))
    gone_id = (await profile(pool, gone))["id"]
    await pool.execute("DELETE FROM xp_import_entries WHERE user_id = $1", gone_id)
    await pool.execute("DELETE FROM user_profiles WHERE user_id = $1", gone_id)  # a users row without one
    summary = await imported(pool, mee6_page([mee6_player(gone, 6), mee6_player(kept, 6)]), origin="again")
    assert [(s.discord_id, s.reason) for s in summary.skipped] == [(gone, "the member's profile is missing")]
    assert summary.imported == 1
    assert (await profile(pool, kept))["total_xp"] == 2500
    assert await pool.fetchval("SELECT count(*) FROM xp_import_entries WHERE user_id = $1", gone_id) == 0


async def test_a_chunk_whose_ledger_row_is_refused_leaves_no_entry_total_or_stage_behind(pool, monkeypatch):
    """All of a chunk or none of it: the ledger refuses the second chunk's rows (a check this
    database adds), so its entries, totals and new users roll back with it, and the temporary
    stage goes with the transaction (the next import on the same connection starts clean)."""
    monkeypatch.setattr(importer, "CHUNK", 2)
    monkeypatch.setattr(importer, "LANES", 1)
    players = [mee6_player(snowflake(), 3) for _ in range(2)] + [mee6_player(snowflake(), 40) for _ in range(2)]
    await pool.execute("ALTER TABLE xp_ledger ADD CONSTRAINT no_big_rows CHECK (amount < 100000) NOT VALID")
    with pytest.raises(Exception, match="no_big_rows"):
        await importer.run(pool, community(), plan_of(mee6_page(players)))
    assert await pool.fetchval("SELECT count(*) FROM xp_ledger WHERE source = 'import'") == 2
    assert await pool.fetchval("SELECT count(*) FROM xp_import_entries") == 2
    late = [p["id"] for p in players[2:]]
    assert await pool.fetchval("SELECT count(*) FROM users WHERE discord_id = ANY($1::text[])", late) == 0
    assert await pool.fetchval("SELECT COALESCE(sum(total_xp), 0) FROM user_profiles") == 2 * 400
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT to_regclass('pg_temp.xp_import_stage')") is None


async def test_a_nul_or_half_a_surrogate_pair_in_a_name_is_cleaned_and_every_good_member_imported(pool):
    """PostgreSQL's text holds no NUL, and UTF-8 has no lone surrogate (what JSON's "\\ud800" escape
    reads as): either in one name used to fail the whole COPY chunk. Names are cleaned (NUL dropped,
    a lone surrogate shown as U+FFFD), the members imported; a bad id is skipped and echoed clean."""
    nul, half, fine = snowflake(), snowflake(), snowflake()
    players = [
        mee6_player(nul, 3, name="null\x00byte"),
        mee6_player(half, 4, name="half\ud83dpair"),
        mee6_player(fine, 5, name="whole \U0001f600 pair"),
        {**mee6_player(snowflake(), 2), "id": "12\ud800"},
    ]
    summary = await imported(pool, mee6_page(players))
    assert summary.imported == 3
    assert [(await profile(pool, d))["total_xp"] for d in (nul, half, fine)] == [400, 900, 1600]
    names = dict(
        await pool.fetch("SELECT discord_id, username FROM users WHERE discord_id = ANY($1)", [nul, half, fine])
    )
    assert names == {nul: "nullbyte", half: "half\ufffdpair", fine: "whole \U0001f600 pair"}
    assert [s.reason for s in summary.skipped] == ["unknown id format (not a Discord id)"]
    assert "  row 4 12\ufffd: unknown id format (not a Discord id)" in importer.summary_lines(summary)
    csv_nul = snowflake()
    summary = await imported(pool, f"id,username,xp\n{csv_nul},tab\x00nul,400\n".encode(), source="csv")
    assert summary.imported == 1
    assert await pool.fetchval("SELECT username FROM users WHERE discord_id = $1", csv_nul) == "tabnul"
