"""The bot installs as a wheel (not only from a checkout) and migrates from any directory."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path, PurePosixPath

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
# The top-level packages that stay in the checkout (every other one ships in the wheel).
NOT_SHIPPED = {"tests", "benchmarks"}


def _setuptools(root: Path) -> dict:
    return tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def _package_folders(root: Path) -> dict[str, str]:
    """Each package pyproject.toml lists -> its folder (`conclave_sql` -> sql, through package-dir)."""
    setup = _setuptools(root)
    package_dir = setup.get("package-dir", {})
    folders = {}
    for name in setup["packages"]:
        top, _, rest = name.partition(".")
        folders[name] = "/".join([package_dir.get(top, top), *rest.split(".")]) if rest else package_dir.get(top, top)
    return folders


def _files(root: Path) -> set[str]:
    """The checkout's files, relative: what git holds in a git checkout (an untracked note ships in no
    build from the repository), else every file on disk."""
    if (root / ".git").exists():
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, text=True, check=True)
        return {name for name in listed.stdout.split("\0") if name and (root / name).is_file()}
    return {
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.is_file() and not {"__pycache__", ".git"} & set(path.parts)
    }


def _matches(path: str, pattern: str) -> bool:
    """A package-data pattern, as setuptools globs it: `*` within a folder, `**` across folders."""
    regex = re.escape(pattern).replace(r"\*\*/", "(.*/)?").replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
    return re.fullmatch(regex.replace(r"\?", "[^/]"), path) is not None


def _dockerfile_copies(root: Path) -> set[str] | None:
    """What the Dockerfile's build stage copies from the checkout (None without a Dockerfile)."""
    if not (root / "Dockerfile").exists():
        return None
    copied = set()
    for line in (root / "Dockerfile").read_text(encoding="utf-8").splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not any(word.startswith("--from") for word in words):
            copied |= {word.strip("/").removeprefix("./") for word in words[1:-1]}
    return copied


def _not_shipped(root: Path) -> list[str]:
    """What pyproject.toml leaves out of the wheel: a package in the checkout not in `packages` (the
    top-level ones too), a folder of Python files without an __init__.py (setuptools ships only the
    packages listed), a file under a package, at any depth, that no package-data pattern ships, and a
    package's folder the Dockerfile does not copy into its build."""
    folders = _package_folders(root)
    package_data = _setuptools(root).get("package-data", {})
    files = _files(root)
    inits = {name.rpartition("/")[0] for name in files if name.rpartition("/")[2] == "__init__.py"}
    tops = {folder.split("/")[0] for folder in folders.values()}
    unlisted = {f for f in inits - set(folders.values()) if f and f.split("/")[0] not in NOT_SHIPPED}
    missing = [f"package {folder.replace('/', '.')} is not in pyproject's packages" for folder in sorted(unlisted)]
    ours = sorted(name for name in files if name.split("/")[0] in tops)
    loose = {name.rpartition("/")[0] for name in ours if name.endswith(".py")} - inits
    missing += [f"{folder} holds Python files but no __init__.py" for folder in sorted(loose)]
    for name, folder in sorted(folders.items()):
        if folder not in inits:
            missing.append(f"package {name} is listed but {folder} has no __init__.py")
    by_folder = {folder: name for name, folder in folders.items()}
    for path in ours:
        said = path.endswith(".py") and path.rpartition("/")[0] in loose
        if said or any(path.startswith(f + "/") for f in unlisted):
            continue  # said above
        owner = max((f for f in by_folder if path.startswith(f + "/")), key=len, default=None)
        inside = path.removeprefix(f"{owner}/")
        patterns = package_data.get(by_folder.get(owner, ""), [])
        shipped = owner is not None and (
            ("/" not in inside and inside.endswith(".py")) or any(_matches(inside, p) for p in patterns)
        )
        if not shipped:
            missing.append(f"{path} is not shipped (no package-data pattern matches it)")
    copied = _dockerfile_copies(root)
    if copied is not None:
        missing += [
            f"the Dockerfile does not COPY {top}/ (a package's folder) into the build" for top in sorted(tops - copied)
        ]
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


def _tree(root: Path, pyproject: str, files: list[str]) -> Path:
    """A checkout to check: its pyproject.toml and these (empty) files."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(pyproject)
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("")
    return root


def test_the_shipping_check_sees_a_data_folder_left_out(tmp_path):
    # Fonts in a folder of their own (no Python file in it) ship only if a pattern names them.
    files = ["bot/__init__.py", "bot/ui/__init__.py", "bot/ui/fonts/a.ttf"]
    bare = _tree(tmp_path / "bare", '[tool.setuptools]\npackages = ["bot", "bot.ui"]\n', files)
    assert _not_shipped(bare) == ["bot/ui/fonts/a.ttf is not shipped (no package-data pattern matches it)"]
    listed = (
        '[tool.setuptools]\npackages = ["bot", "bot.ui"]\n[tool.setuptools.package-data]\n"bot.ui" = ["fonts/*.ttf"]\n'
    )
    assert _not_shipped(_tree(tmp_path / "listed", listed, files)) == []


def test_the_shipping_check_reads_what_git_holds_in_a_checkout(tmp_path):
    # A wheel is built from what the checkout holds (the Dockerfile's and the wheel test's copies):
    # an untracked note beside the migrations is no fault of pyproject's.
    root = _tree(tmp_path, '[tool.setuptools]\npackages = ["db"]\n', ["db/__init__.py"])
    assert _run(["git", "init", "-q"], root).returncode == 0
    assert _run(["git", "add", "pyproject.toml", "db/__init__.py"], root).returncode == 0
    (root / "db" / "README.md").write_text("notes")
    assert _not_shipped(root) == []
    assert _run(["git", "add", "db/README.md"], root).returncode == 0
    assert _not_shipped(root) == ["db/README.md is not shipped (no package-data pattern matches it)"]


def test_the_shipping_check_sees_a_new_top_level_package_and_the_dockerfiles_copies(tmp_path):
    root = _tree(
        tmp_path,
        '[tool.setuptools]\npackages = ["bot", "db"]\n',
        ["bot/__init__.py", "db/__init__.py", "extra/__init__.py"],
    )
    (root / "Dockerfile").write_text("FROM python:3.11-slim AS build\nCOPY pyproject.toml ./\nCOPY bot ./bot\n")
    assert _not_shipped(root) == [
        "package extra is not in pyproject's packages",
        "the Dockerfile does not COPY db/ (a package's folder) into the build",
    ]


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


async def test_the_wheel_installs_every_package_and_its_migrations(tmp_path, empty_dsn):
    # Built from a copy of what the checkout holds, as the Dockerfile does: an in-tree build reuses
    # build/lib, so a package removed since the last build would still ship.
    source = tmp_path / "source"
    for name in _files(ROOT):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    wheels = tmp_path / "wheels"
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(wheels), str(source)], source)
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("conclave_bot-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        inits = {PurePosixPath(name).parent for name in archive.namelist() if name.endswith("/__init__.py")}
    assert {".".join(folder.parts) for folder in inits} == set(_setuptools(ROOT)["packages"])

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
    imports = "; ".join(f"import {name}" for name in sorted(_package_folders(ROOT)))
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
