"""The bot installs as a wheel (not only from a checkout) and migrates from any directory."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


async def test_the_wheel_installs_every_package_and_its_migrations(tmp_path, empty_dsn):
    wheels = tmp_path / "wheels"
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(wheels), str(ROOT)], ROOT)
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("conclave_bot-*.whl")

    # A fresh venv; the dependencies come from this one (offline), the bot only from the wheel.
    venv = tmp_path / "venv"
    assert _run([sys.executable, "-m", "venv", str(venv)], tmp_path).returncode == 0
    python = venv / "bin" / "python"
    site = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path)
    (Path(site.stdout.strip()) / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    installed = _run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)], tmp_path)
    assert installed.returncode == 0, installed.stderr

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CONCLAVE_MIGRATIONS_DIR")}
    env["DATABASE_URL"] = empty_dsn
    packages = sorted(
        ".".join(p.parent.relative_to(ROOT).parts)
        for top in ("bot", "cogs", "db")
        for p in (ROOT / top).rglob("__init__.py")
    )
    imports = "; ".join(f"import {name}" for name in [*packages, "conclave_sql"])
    where = _run([str(python), "-c", f"{imports}; import bot; print(bot.__file__)"], elsewhere, env)
    assert where.returncode == 0, where.stderr
    assert str(ROOT) not in where.stdout  # imported from the venv, not the checkout

    status = _run([str(python), "-m", "bot", "migrate", "status"], elsewhere, env)
    assert status.returncode == 0, status.stderr
    assert "009" in status.stdout and "pending" in status.stdout

    up = _run([str(python), "-m", "bot", "migrate", "up"], elsewhere, env)
    assert up.returncode == 0, up.stderr
    conn = await asyncpg.connect(empty_dsn)
    try:
        shipped = len(list((ROOT / "sql").glob("[0-9]*_*.sql"))) // 2
        assert await conn.fetchval("SELECT count(*) FROM migrations") == shipped
    finally:
        await conn.close()
