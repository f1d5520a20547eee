"""The bot installs as a wheel (not only from a checkout) and migrates from any directory."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
TOPS = ("bot", "cogs", "db", "standin")  # the top-level packages of ours (tests/test_layers.py walks the same)


def _packages_on_disk(root: Path) -> set[str]:
    """Every directory under the top-level packages holding an __init__.py, dotted."""
    return {
        ".".join(init.parent.relative_to(root).parts)
        for top in TOPS
        for init in (root / top).rglob("__init__.py")
        if "__pycache__" not in init.parts
    }


def _not_shipped(root: Path) -> list[str]:
    """What pyproject.toml leaves out of the wheel: a package on disk not in `packages`, a directory of
    Python files without an __init__.py (setuptools ships only the packages listed), a file beside the
    code that no package-data pattern ships, a package-data directory's file no pattern matches."""
    setup = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    listed = set(setup["packages"])
    package_dir = setup.get("package-dir", {})
    package_data = setup.get("package-data", {})
    missing = [f"package {name} is not in pyproject's packages" for name in sorted(_packages_on_disk(root) - listed)]
    for top in TOPS:
        for folder in sorted(p for p in (root / top).rglob("*") if p.is_dir() and "__pycache__" not in p.parts):
            if any(folder.glob("*.py")) and not (folder / "__init__.py").exists():
                missing.append(f"{folder.relative_to(root)} holds Python files but no __init__.py")
    for name in sorted(listed):
        folder = root / package_dir.get(name, name.replace(".", "/"))
        if not (folder / "__init__.py").exists():
            missing.append(f"package {name} is listed but {folder.relative_to(root)} has no __init__.py")
            continue
        patterns = package_data.get(name, [])
        for path in sorted(p for p in folder.iterdir() if p.is_file()):
            shipped = path.suffix == ".py" or any(path.match(pattern) for pattern in patterns)
            if not shipped:
                missing.append(f"{path.relative_to(root)} is not shipped (no package-data pattern matches it)")
    return missing


def test_pyproject_ships_every_package_and_file_on_disk():
    # A new package (or a data file beside the code) missing from pyproject.toml would install a wheel
    # that fails at import; the checkout hides it, since tests import from the source tree.
    assert _not_shipped(ROOT) == []


def test_the_shipping_check_sees_a_package_left_out(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.setuptools]\npackages = ["bot", "cogs", "db", "standin", "conclave_sql"]\n'
        '[tool.setuptools.package-dir]\nconclave_sql = "sql"\n'
        '[tool.setuptools.package-data]\nconclave_sql = ["*.sql"]\n'
    )
    for folder in ("bot", "bot/rules", "cogs", "cogs/xp/cards", "db", "standin", "sql"):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
    for init in ("bot", "bot/rules", "cogs", "db", "standin", "sql"):
        (tmp_path / init / "__init__.py").write_text("")
    (tmp_path / "cogs/xp/cards/draw.py").write_text("")
    (tmp_path / "sql/001_core.sql").write_text("")
    (tmp_path / "sql/001_core.down.sql").write_text("")
    (tmp_path / "sql/notes.txt").write_text("")
    assert _not_shipped(tmp_path) == [
        "package bot.rules is not in pyproject's packages",
        "cogs/xp/cards holds Python files but no __init__.py",
        "sql/notes.txt is not shipped (no package-data pattern matches it)",
    ]


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
    packages = sorted(_packages_on_disk(ROOT))
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
