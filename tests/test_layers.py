"""How the code is built, as a test (the README's "How it is built" describes it; this is the source of
truth): no import cycle anywhere outside `if TYPE_CHECKING:`, and the layers' rules on who may import
what. Read from the source with `ast`, so it holds whatever the tests happen to import."""

from __future__ import annotations

import ast
import functools
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The top-level packages of ours: those pyproject.toml ships (tests/test_wheel_install.py holds it to
# the checkout) but the migrations' folder (sql/, installed as conclave_sql through package-dir).
_SETUP = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
TOPS = tuple(sorted({name.split(".")[0] for name in _SETUP["packages"]} - set(_SETUP.get("package-dir", {}))))

# What the rules (bot/rules) may import: the pure standard library, dateutil's recurrence rules, each
# other, and the settings' types (bot/core/community.py: pydantic models, data only). No database,
# no Discord, no network, no files.
RULES_MAY_IMPORT = {
    "__future__",
    "array",
    "bisect",
    "collections",
    "dataclasses",
    "datetime",
    "dateutil",
    "enum",
    "functools",
    "heapq",
    "itertools",
    "math",
    "operator",
    "random",
    "re",
    "string",
    "typing",
    "unicodedata",
    "zoneinfo",
    "bot.rules",
    "bot.core.community",
}

# What the modules of ours the rules reach (bot/core/community.py, the settings' types) may import
# beyond that: pydantic (the models) and pathlib (a setting's type is a path; nothing is opened there).
REACHED_FROM_THE_RULES_MAY_ALSO_IMPORT = {"bot.core.community": {"pydantic", "pathlib"}}

# What one feature offers the others besides its door (bot/core/doors.py): the XP the other features
# grant or take back through the ledger, in their own transaction (it works without the XP cog).
PUBLIC_COG_MODULES = {"cogs.xp.grants", "cogs.xp.adjustments"}


def _module_files() -> dict[str, Path]:
    found = {}
    for top in TOPS:
        for path in sorted((ROOT / top).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _module_files()
PACKAGES = {name for name, path in MODULES.items() if path.name == "__init__.py"}
TREES = {name: ast.parse(path.read_text(encoding="utf-8"), str(path)) for name, path in MODULES.items()}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST, *, with_type_checking: bool) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth (one inside a function runs too), but those under
    `if TYPE_CHECKING:` unless asked for."""
    found: list[ast.Import | ast.ImportFrom] = []

    def walk(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child) and not with_type_checking:
                for other in child.orelse:
                    walk(other)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.append(child)
            walk(child)

    walk(tree)
    return found


def _imported(module: str, *, with_type_checking: bool = False) -> set[str]:
    """The names a module imports: modules of ours resolved (`from bot.core import client` is
    bot.core.client), anything else by its dotted name."""
    names: set[str] = set()
    package = module if module in PACKAGES else module.rpartition(".")[0]
    for node in _import_nodes(TREES[module], with_type_checking=with_type_checking):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join([*anchor, *([base] if base else [])])
        for alias in node.names:
            full = f"{base}.{alias.name}"
            names.add(full if full in MODULES else base)
    return names


def _graph(*, with_packages_above: bool = False) -> dict[str, set[str]]:
    """Module -> the modules of ours importing it runs first: the module itself and each package
    above it that the importer is not already inside (importing bot.writes.outbox runs
    bot/writes/__init__.py first). For the cycles that is the graph: a package above the importer has
    already run. For what a module runs at all, `with_packages_above` adds every package above each
    module (importing bot.core.community runs bot/__init__.py, whoever imports it)."""
    graph: dict[str, set[str]] = {}
    for module in MODULES:
        edges = set()
        for name in [*_imported(module), *([module] if with_packages_above else [])]:
            parts = name.split(".")
            for i in range(1, len(parts) + 1):
                target = ".".join(parts[:i])
                inside = _in(module, target)
                if target in MODULES and target != module and (with_packages_above or not inside):
                    edges.add(target)
        graph[module] = edges
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), or a module importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                connect(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _feature(module: str) -> str:
    """cogs.xp.engine -> cogs.xp; cogs.core -> cogs.core."""
    return ".".join(module.split(".")[:2])


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"a"}}) == [["a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_walk_sees_every_package():
    assert {"bot", "bot.core", "bot.writes", "bot.rules", "bot.ops", "bot.ui", "cogs", "db", "standin"} <= PACKAGES
    assert "bot.core.client" in _graph()["bot.__main__"] or "bot.core.runner" in _graph()["bot.__main__"]


def test_there_is_no_import_cycle():
    assert _cycles(_graph()) == []


def test_every_package_says_what_it_holds():
    missing = [name for name in sorted(PACKAGES) if not (ast.get_docstring(TREES[name]) or "").strip()]
    assert missing == []


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _in(m, "db")))
def test_db_imports_neither_discord_nor_the_bot(module):
    names = _imported(module, with_type_checking=True)
    assert not {n for n in names if n.split(".")[0] in ("discord", "bot", "cogs", "standin")}


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _in(m, "bot.rules")))
def test_the_rules_import_no_io(module):
    names = _imported(module, with_type_checking=True)
    allowed = {n for n in names if any(_in(n, a) for a in RULES_MAY_IMPORT)}
    assert names - allowed == set()


def _impure_reached(module: str, graph: dict[str, set[str]], imports: dict[str, set[str]]) -> list[str]:
    """What importing a rule runs, through every module of ours it reaches (a package's __init__
    too), that is not pure: each as the chain of imports that gets there."""
    chains = {module: [module]}
    queue = [module]
    found = []
    while queue:
        current = queue.pop(0)
        allowed = RULES_MAY_IMPORT | REACHED_FROM_THE_RULES_MAY_ALSO_IMPORT.get(current, set())
        found += [
            f"{' -> '.join(chains[current])} imports {name}"
            for name in sorted(imports[current])
            if not any(_in(name, a) for a in allowed)
        ]
        for other in sorted(graph[current] - chains.keys()):
            chains[other] = [*chains[current], other]
            queue.append(other)
    return found


def test_the_impurity_finder_follows_the_imports_of_ours():
    graph = {"bot.rules.xp": {"bot.core.community"}, "bot.core.community": {"bot.core"}, "bot.core": set()}
    imports = {
        "bot.rules.xp": {"math", "bot.core.community"},
        "bot.core.community": {"pydantic"},
        "bot.core": {"asyncpg"},
    }
    assert _impure_reached("bot.rules.xp", graph, imports) == [
        "bot.rules.xp -> bot.core.community -> bot.core imports asyncpg"
    ]


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _in(m, "bot.rules")))
def test_the_rules_reach_no_io_through_what_they_import(module):
    # Importing bot.core.community runs bot/__init__.py and bot/core/__init__.py, and whatever those
    # and it import: all of it must be as pure as the rules.
    imports = {name: _imported(name) for name in MODULES}
    assert _impure_reached(module, _graph(with_packages_above=True), imports) == []


def test_what_a_module_runs_includes_the_packages_above_it():
    # The rules' walk needs bot/__init__.py, which the cycle graph leaves out for bot.rules.xp and
    # bot.core.community (both inside bot): an `import socket` there passed the walk.
    runs = _graph(with_packages_above=True)
    assert {"bot", "bot.rules"} <= runs["bot.rules.xp"]
    assert {"bot", "bot.core"} <= runs["bot.core.community"]
    assert "bot" not in _graph()["bot.core.community"]


# What reading another bot's export (bot/importing/sources.py) may import: the rules' list, and the
# standard library's parsers of text already read (io for StringIO: no file is opened there).
SOURCES_MAY_IMPORT = RULES_MAY_IMPORT | {"contextlib", "csv", "gc", "io", "json"}


def test_reading_an_export_is_parsing_only():
    names = _imported("bot.importing.sources", with_type_checking=True)
    assert {n for n in names if not any(_in(n, a) for a in SOURCES_MAY_IMPORT)} == set()
    assert not re.search(r"\bopen\(|\.read_text\(|\.read_bytes\(", (ROOT / "bot/importing/sources.py").read_text())


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _in(m, "standin")))
def test_the_stand_in_imports_nothing_of_the_bot(module):
    names = _imported(module, with_type_checking=True)
    assert not {n for n in names if n.split(".")[0] in ("bot", "cogs", "db")}


# What each package may import of ours when it runs (the README's "How it is built" table, its
# last column); the most specific row holds. The tests around it say more for some rows: db/,
# standin/ and bot/rules name nothing else even under TYPE_CHECKING, a cog another feature only
# through its door or its public modules, bot/writes not the client or the runner.
MAY_IMPORT = {
    "bot": {"bot", "db"},
    "bot.core": {"bot", "db"},
    "bot.writes": {"bot.writes", "bot.core", "db"},
    "bot.rules": {"bot.rules", "bot.core.community"},
    "bot.ops": {"bot", "db"},
    "bot.importing": {"bot", "db"},
    "bot.ui": {"bot", "db"},
    "bot.sandbox": {"bot", "standin", "db"},
    "standin": {"standin"},
    "cogs": {"bot", "db", "cogs"},
    "db": {"db"},
}


def _row(module: str) -> str:
    return max((package for package in MAY_IMPORT if _in(module, package)), key=len)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_each_package_imports_only_what_its_row_allows(module):
    ours = {n for n in _imported(module) if n.split(".")[0] in TOPS}
    allowed = MAY_IMPORT[_row(module)]
    assert {n for n in ours if not any(_in(n, a) for a in allowed)} == set()


def test_every_package_of_the_bot_has_a_row():
    # A new package under bot/ says what it may import (and the README's table gets its row).
    assert {name for name in PACKAGES if name.startswith("bot.")} - MAY_IMPORT.keys() == set()


def _dotted(path: str) -> str:
    """`bot/core/` -> bot.core, `cogs/<feature>/` -> cogs, `bot/core/community.py` -> bot.core.community."""
    return path.removesuffix(".py").replace("/<feature>", "").strip("/").replace("/", ".")


def _how_it_is_built() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8").split("## How it is built", 1)[1].split("\n## ", 1)[0]


def _readme_table(section: str | None = None) -> dict[str, set[str]]:
    """The README's "How it is built" table: each package -> the modules of ours its last column
    lists first (backticked, joined by commas or "and"); the prose after the list, and any backticks
    in it, are caveats the other tests hold."""
    rows = {}
    for line in (section if section is not None else _how_it_is_built()).splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            listed = re.match(r"(`[\w<>./]+`(,\s*|\s+and\s+)?)+", cells[2])
            named = re.findall(r"`([\w<>.]+/[\w<>./]*)`", listed[0] if listed else "")
            rows[_dotted(cells[0].strip("`"))] = {_dotted(name) for name in named}
    return rows


def test_the_readme_table_reads_only_the_list_that_opens_the_last_column():
    row = "| `bot/x/` | holds `cogs/` | `bot/`, `db/` and `bot/y/` but a word on `cogs/` here; then `standin/` |"
    assert _readme_table(row) == {"bot.x": {"bot", "db", "bot.y"}}


def test_the_readme_table_says_what_each_package_may_import():
    assert _readme_table() == MAY_IMPORT


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _in(m, "bot")))
def test_the_bot_imports_no_cog_at_run_time(module):
    # Cogs are loaded as extensions, by name; what they offer the bot's code is a door. Only the doors
    # name a feature's types, and only under TYPE_CHECKING.
    assert not {n for n in _imported(module) if _in(n, "cogs")}
    if module != "bot.core.doors":
        assert not {n for n in _imported(module, with_type_checking=True) if _in(n, "cogs")}


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _in(m, "cogs") and m != "cogs"))
def test_a_cog_uses_another_feature_only_through_its_door_or_its_public_modules(module):
    names = _imported(module, with_type_checking=True)
    others = {n for n in names if _in(n, "cogs") and _feature(n) != _feature(module)}
    assert others <= PUBLIC_COG_MODULES, others - PUBLIC_COG_MODULES


def _declared_in(cls: ast.ClassDef) -> set[str]:
    """What a class declares: its methods and properties, its class-level names, and what its methods
    set on `self`."""
    names = {n.name for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    names |= {n.target.id for n in cls.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}
    for node in ast.walk(cls):
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                if (
                    isinstance(target, ast.Attribute)
                    and isinstance(target.value, ast.Name)
                    and target.value.id == "self"
                ):
                    names.add(target.attr)
    return names


def _class(module: str, name: str) -> ast.ClassDef:
    return next(n for n in TREES[module].body if isinstance(n, ast.ClassDef) and n.name == name)


def _declared_on_the_bot() -> set[str]:
    """The attributes ConclaveBot declares (set in its __init__, or properties)."""
    return _declared_in(_class("bot.core.client", "ConclaveBot"))


LOOKUPS_BY_NAME = ("getattr", "hasattr", "setattr", "delattr", "vars")

# What commands.Bot offers that reaches a cog or an extension by name: its registry (and what it keeps
# under it, name-mangled: `bot._BotBase__cogs`). get_cog is caught wherever it is named.
REGISTRY_ON_THE_BOT = {"cogs", "extensions", "get_cog"}


def _mangled(name: str) -> bool:
    """`_BotBase__cogs`: a class's private name, as Python spells it from outside the class."""
    return re.fullmatch(r"_[A-Za-z]\w*?__\w*[^_]", name) is not None


@functools.cache
def _the_bot_has() -> frozenset[str]:
    """What reading on the bot may name: ConclaveBot's own and discord.py's commands.Bot's (an
    instance's, so the attributes its __init__ sets count), but not the instance's __dict__, nor the
    registry of cogs and extensions."""
    import discord
    from discord.ext import commands

    discords = set(dir(commands.Bot(command_prefix="!", intents=discord.Intents.none())))
    discords = {name for name in discords if name not in REGISTRY_ON_THE_BOT and not _mangled(name)}
    return frozenset(_declared_on_the_bot() | discords - {"__dict__"})


def _doors() -> dict[str, set[str]]:
    """Each door on bot.doors (a field of Doors) -> what its Protocol declares; and "" -> what the
    Doors object itself has (its fields and methods)."""
    doors = _class("bot.core.doors", "Doors")
    found = {"": _declared_in(doors)}
    for field in doors.body:
        if isinstance(field, ast.AnnAssign) and isinstance(field.target, ast.Name):
            protocol = ast.unparse(field.annotation).replace(" | None", "")
            found[field.target.id] = _declared_in(_class("bot.core.doors", protocol))
    return found


def _own_classes(tree: ast.Module, module: str) -> set[str]:
    """The classes of the module's own feature it may name: those it defines, and those it imports
    (even under TYPE_CHECKING) from a module of its own feature (cogs/xp/ for cogs.xp.boards)."""
    own = {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
    if not _in(module, "cogs"):
        return own
    for node in _import_nodes(tree, with_type_checking=True):
        source = node.module if isinstance(node, ast.ImportFrom) and not node.level else None
        if source in TREES and _in(source, "cogs") and _feature(source) == _feature(module):
            defined = {n.name for n in TREES[source].body if isinstance(n, ast.ClassDef)}
            own |= {alias.asname or alias.name for alias in node.names if alias.name in defined}
    return own


def _own_nodes(nodes: list[ast.AST]) -> list[ast.AST]:
    """The nodes of one scope: nested functions and classes are not entered (they have their own)."""
    found, stack = [], list(nodes)
    while stack:
        node = stack.pop()
        found.append(node)
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(node))
    return found


class _Lookups(ast.NodeVisitor):
    """The ways code reaches another feature by name through the bot: getattr/vars on the bot (or its
    doors), an attribute the bot does not have, discord.py's registry of cogs (`bot.get_cog("XP")`,
    `bot.cogs[...]`, `bot.extensions`), an attribute of `bot.doors` or of a door its Protocol does not
    declare; also through an alias (`b = self.bot; b.xp_engine`, `door = bot.doors.xp; door.engine`,
    `self.door = bot.doors.xp`), a cast or an annotation (`x: Any = bot.doors.xp`). An alias holds in
    the function that makes it (and those inside it), `self.<name>` in its class. What holds the bot:
    `bot`, `<anything>.bot`, `interaction.client`, a name annotated ConclaveBot. A name annotated (or
    cast) with a class of the module's own feature (`engine: AchievementEngine = bot.doors.achievements`
    in cogs/achievements/) is that feature's own object: no other feature may import the class (see
    the test of imports between cogs above)."""

    def __init__(self, tree: ast.Module, module: str) -> None:
        self.found: list[str] = []
        self.bot_has = _the_bot_has()
        self.declared = _declared_on_the_bot()
        self.doors = _doors()
        self.own = _own_classes(tree, module)
        # The scopes, innermost last: a name -> what it holds ("bot", "doors", "door:<field>" or
        # "interaction"); and each class's `self.<name>` the same way.
        self.scopes: list[dict[str, str]] = [{"bot": "bot", "interaction": "interaction"}]
        self.classes: list[dict[str, str]] = []
        self._bind_all(tree.body)

    # -- what a name or an expression holds ------------------------------------------------

    def holds(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Name):
            return next((scope[node.id] for scope in reversed(self.scopes) if node.id in scope), None)
        if isinstance(node, ast.Attribute):
            under = self.holds(node.value)
            if node.attr == "bot" or (node.attr == "client" and under == "interaction"):
                return "bot"
            if isinstance(node.value, ast.Name) and node.value.id == "self" and self.classes:
                return self.classes[-1].get(node.attr)
            if under == "bot" and node.attr == "doors":
                return "doors"
            if under == "doors" and node.attr in self.doors:
                return f"door:{node.attr}"
        if isinstance(node, ast.Call) and ast.unparse(node.func) in ("cast", "typing.cast") and len(node.args) == 2:
            return self.typed(node.args[0], self.holds(node.args[1]))
        return None

    def typed(self, annotation: ast.expr | None, held: str | None) -> str | None:
        """What a name annotated (or cast) so holds: the bot for ConclaveBot, an interaction for an
        Interaction, nothing of ours for the feature's own class, else what its value holds."""
        written = ast.unparse(annotation).strip("'\"") if annotation is not None else ""
        if written.rpartition(".")[2] == "ConclaveBot":
            return "bot"
        if re.fullmatch(r"(discord\.)?Interaction(\[.*\])?", written):
            return "interaction"
        if written.rpartition(".")[2] in self.own:
            return None
        return held

    # -- the aliases a scope makes -----------------------------------------------------------

    def _bind(self, target: ast.expr, held: str | None, scope: dict[str, str]) -> None:
        if held is None:
            return
        if isinstance(target, ast.Name):
            scope[target.id] = held
        elif isinstance(target, ast.Attribute) and ast.unparse(target.value) == "self" and self.classes:
            self.classes[-1][target.attr] = held

    def _bind_all(self, body: list[ast.AST]) -> None:
        scope = self.scopes[-1]
        for _ in range(3):  # an alias of an alias
            for node in _own_nodes(body):
                if isinstance(node, ast.Assign):
                    for target in node.targets:
                        self._bind(target, self.holds(node.value), scope)
                elif isinstance(node, ast.NamedExpr):
                    self._bind(node.target, self.holds(node.value), scope)
                elif isinstance(node, ast.AnnAssign):
                    held = self.holds(node.value) if node.value is not None else None
                    self._bind(node.target, self.typed(node.annotation, held), scope)

    def _enter(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        arguments = node.args
        scope: dict[str, str] = {}
        for arg in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]:
            held = self.typed(arg.annotation, None)
            if held is not None:
                scope[arg.arg] = held
            elif arg.arg not in ("bot", "interaction"):
                scope[arg.arg] = ""  # a parameter of its own: not an alias from outside
        self.scopes.append(scope)
        self._bind_all(node.body if isinstance(node.body, list) else [node.body])

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        self._enter(node)
        self.generic_visit(node)
        self.scopes.pop()

    visit_AsyncFunctionDef = visit_Lambda = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.classes.append({})
        for _ in range(2):  # `self.x = ...` in one method, used in another
            for method in node.body:
                if isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    self._enter(method)
                    self.scopes.pop()
        self.generic_visit(node)
        self.classes.pop()

    # -- the lookups ----------------------------------------------------------------------------

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name) and node.func.id in LOOKUPS_BY_NAME and node.args:
            held = self.holds(node.args[0])
            if held and held != "interaction":
                self.found.append(f"line {node.lineno}: {node.func.id} on {held}")
        if isinstance(node.func, ast.Name) and node.func.id == "__import__":
            self.found.append(f"line {node.lineno}: __import__")
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        held = self.holds(node.value)
        if node.attr == "get_cog":
            self.found.append(f"line {node.lineno}: a cog looked up by name (get_cog): use its door")
        elif held == "bot" and (node.attr in REGISTRY_ON_THE_BOT or _mangled(node.attr)):
            self.found.append(
                f"line {node.lineno}: bot.{node.attr}: discord.py's registry of cogs and extensions, by name: use a door"
            )
        elif held == "bot" and node.attr not in self.bot_has and node.attr not in ("bot", "client"):
            self.found.append(f"line {node.lineno}: bot.{node.attr}, which the bot does not have")
        elif held == "doors" and node.attr not in self.doors[""]:
            self.found.append(f"line {node.lineno}: bot.doors.{node.attr}, which Doors does not declare")
        elif held and held.startswith("door:") and node.attr not in self.doors[held[5:]]:
            self.found.append(f"line {node.lineno}: bot.doors.{held[5:]}.{node.attr}, which its door does not declare")
        if held == "bot" and node.attr == "__dict__":
            self.found.append(f"line {node.lineno}: the bot's __dict__")
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign | ast.AnnAssign | ast.AugAssign) -> None:
        for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
            sets = isinstance(target, ast.Attribute) and self.holds(target.value) == "bot"
            if sets and target.attr not in self.declared:
                self.found.append(f"line {node.lineno}: sets bot.{target.attr}, which the bot does not declare")
        self.generic_visit(node)

    visit_AnnAssign = visit_AugAssign = visit_Assign


def _lookups_by_name(tree: ast.Module, module: str) -> list[str]:
    lookups = _Lookups(tree, module)
    lookups.visit(tree)
    return lookups.found


def test_the_lookup_finder_finds_each_way_to_reach_a_feature_by_name():
    source = """
async def callback(self, interaction):
    b = self.bot
    b.xp_engine.flush()
    vars(interaction.client)
    interaction.client.get_cog("XPCommands").engine
    cog = self.bot.get_cog("EventJobs")
    self.bot.doors.leaderboard
    door = b.doors.xp
    door.engine
    self.bot.doors.events_mirror.reconcile()
    getattr(self.bot.doors, "xp")
    b.achievements = None
    self.bot.pool, self.bot.doors.xp.lock, b.user, b.doors.xp_lock()
"""
    found = [line.partition(": ")[2] for line in _lookups_by_name(ast.parse(source), "cogs.xp.snippet")]
    assert found == [
        "bot.xp_engine, which the bot does not have",
        "vars on bot",
        "a cog looked up by name (get_cog): use its door",
        "a cog looked up by name (get_cog): use its door",
        "bot.doors.leaderboard, which Doors does not declare",
        "bot.doors.xp.engine, which its door does not declare",
        "bot.doors.events_mirror.reconcile, which its door does not declare",
        "getattr on doors",
        "sets bot.achievements, which the bot does not declare",
        "bot.achievements, which the bot does not have",
    ]


def _found_in(source: str, module: str = "cogs.xp.snippet") -> list[str]:
    return [line.partition(": ")[2] for line in _lookups_by_name(ast.parse(source), module)]


def test_the_lookup_finder_sees_discord_pys_registry_of_cogs_on_the_bot():
    source = """
async def callback(self, interaction):
    bot.cogs["XPCommands"].engine
    self.bot.cogs.get("XPCommands")
    g = bot.get_cog
    bot.extensions["cogs.xp"]
    bot._BotBase__cogs
"""
    assert _found_in(source) == [
        "bot.cogs: discord.py's registry of cogs and extensions, by name: use a door",
        "bot.cogs: discord.py's registry of cogs and extensions, by name: use a door",
        "a cog looked up by name (get_cog): use its door",
        "bot.extensions: discord.py's registry of cogs and extensions, by name: use a door",
        "bot._BotBase__cogs: discord.py's registry of cogs and extensions, by name: use a door",
    ]


def test_an_annotation_exempts_only_the_features_own_class():
    source = """
from typing import Any, cast
from cogs.xp.door import XPFeature

class Board:
    def __init__(self, bot):
        self._bot = bot
        self.door = bot.doors.xp

    async def callback(self, interaction):
        x: Any = bot.doors.xp
        x.engine
        b: ConclaveBot = interaction.client
        b.xp_engine
        self._bot.xp_engine
        self.door.engine
        cast(Any, bot.doors.xp).engine
        own: XPFeature = bot.doors.xp
        own.engine
"""
    expected = [
        "bot.doors.xp.engine, which its door does not declare",
        "bot.xp_engine, which the bot does not have",
        "bot.xp_engine, which the bot does not have",
        "bot.doors.xp.engine, which its door does not declare",
        "bot.doors.xp.engine, which its door does not declare",
    ]
    assert _found_in(source, "cogs.xp.snippet") == expected
    # In another feature XPFeature is not its own class (and importing it fails the test above).
    assert _found_in(source, "cogs.stats.snippet") == [
        *expected,
        "bot.doors.xp.engine, which its door does not declare",
    ]


def test_the_lookup_finder_takes_for_the_bot_only_what_is_the_bot():
    # `client` is the bot only as interaction.client or annotated ConclaveBot; an alias holds only in
    # the function that makes it.
    source = """
import aiohttp

TIMEOUT = aiohttp.client.ClientTimeout(total=5)

def fetch(client: aiohttp.ClientSession):
    client.xp_engine

def one(bot):
    door = bot.doors.xp

def other(door):
    door.engine

def third(client: ConclaveBot):
    client.xp_engine
"""
    assert _found_in(source) == ["bot.xp_engine, which the bot does not have"]


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _in(m, "cogs") or _in(m, "bot")))
def test_nothing_looks_a_feature_up_on_the_bot_by_name(module):
    """What a feature offers the others is its door (bot.doors), declared in bot/core/doors.py; the
    bot's other attributes are declared by ConclaveBot (bot/core/client.py)."""
    found = _lookups_by_name(TREES[module], module)
    for name in _imported(module, with_type_checking=True):
        if _in(name, "importlib"):
            found.append(f"imports {name}")
    assert found == []


# A statement the database runs, as code outside db/ would write it (in capitals, shaped as SQL, so
# "VACUUM ANALYZE of 12 tables" or "Set your pathway" is prose).
SQL_STATEMENT = re.compile(
    r"""\s*(
        SELECT\b.*\b(FROM|\$\d) | SELECT\s+\w+\( | INSERT\s+INTO | UPDATE\s+\w+\s+SET | DELETE\s+FROM
      | (SET|RESET|SHOW)\s+(LOCAL\s+|SESSION\s+)?[a-z_.]+\s*(=|TO\b|;|$)
      | (CREATE|ALTER|DROP)\s+(TABLE|INDEX|VIEW|FUNCTION|TRIGGER|SCHEMA|ROLE|POLICY|TYPE|MATERIALIZED)
      | (TRUNCATE|LOCK)\s+(TABLE\s+)?[a-z_.]+ | (VACUUM|ANALYZE)(\s*\(|\s+[a-z_.]+\s*(;|$))
      | (BEGIN|COMMIT|ROLLBACK)\s*(;|$) | (NOTIFY|LISTEN)\s+[a-z_]+ | WITH\s+\w+\s+AS\s*\(
      | REFRESH\s+MATERIALIZED | COPY\s+\w+.*\b(FROM|TO)\b
    )""",
    re.S | re.X,
)
# What runs SQL on an asyncpg connection or pool, and the names those go by.
RUNS_SQL = {"execute", "executemany", "fetch", "fetchrow", "fetchval", "cursor", "copy_from_query"}
CONNECTIONS = {"conn", "connection", "_conn", "pool", "_pool", "db", "tx"}


def _sql_outside_db(tree: ast.Module) -> list[str]:
    """SQL text (a string, or an f-string's text) and each call of what runs SQL on a connection or a
    pool (`conn.execute(...)`, `bot.pool.fetch(...)`), by line."""
    found = []
    parts = {id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values}
    for node in ast.walk(tree):
        text = None
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in parts:
            text = node.value
        if text is not None and SQL_STATEMENT.match(text):
            found.append((node.lineno, node.col_offset, f"SQL text {text.strip()[:40]!r}"))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in RUNS_SQL:
            receiver = node.func.value
            name = receiver.attr if isinstance(receiver, ast.Attribute) else getattr(receiver, "id", "")
            if name in CONNECTIONS:
                found.append((node.lineno, node.col_offset, f"{node.func.attr}(), which runs SQL"))
    return [f"line {line}: {what}" for line, _, what in sorted(found)]


def test_the_sql_finder_finds_sql_text_and_what_runs_it():
    source = '''
ms = 5
await conn.execute(f"SET LOCAL lock_timeout = {ms}")
rows = await pool.fetch("SELECT id FROM users WHERE id = $1", 1)
QUERY = """
    UPDATE users SET x = 1"""
text = "Select a pathway from the list"
reply = "Set your pathway first."
data = await importer.fetch(path)
done = f"VACUUM ANALYZE of {n} tables"
'''
    found = [line.partition(": ")[2] for line in _sql_outside_db(ast.parse(source))]
    assert found == [
        "execute(), which runs SQL",
        "SQL text 'SET LOCAL lock_timeout ='",
        "fetch(), which runs SQL",
        "SQL text 'SELECT id FROM users WHERE id = $1'",
        "SQL text 'UPDATE users SET x = 1'",
    ]


@pytest.mark.parametrize("module", sorted(m for m in MODULES if not _in(m, "db")))
def test_every_sql_statement_is_in_db(module):
    # db/ holds every SQL statement (as typed query functions; sql/ the migrations): no SQL text and
    # no connection's execute/fetch in cogs/, bot/ or standin/.
    assert _sql_outside_db(TREES[module]) == []


# The client and the runner build everything; only the entry points (the command line, its doctor,
# the sandbox's harness) start them.
ENTRY_POINTS = {"bot.__main__", "bot.core.runner", "bot.ops.doctor", "bot.sandbox"}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_only_the_entry_points_build_the_client(module):
    starts = _imported(module) & {"bot.core.client", "bot.core.runner"}
    if starts - {module}:
        assert any(_in(module, entry) for entry in ENTRY_POINTS), starts


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _in(m, "bot.writes")))
def test_the_write_machinery_needs_only_the_core_below_the_client_and_db(module):
    ours = {n for n in _imported(module) if n.split(".")[0] in TOPS}
    allowed = {n for n in ours if _in(n, "bot.writes") or _in(n, "db") or _in(n, "bot.core")}
    assert ours - allowed == set()
    assert not ours & {"bot.core.client", "bot.core.runner"}


def test_every_module_of_the_bot_sits_in_the_package_of_its_role():
    # bot/ itself holds the command line only; a new module goes into core, writes, rules, ops,
    # importing, ui or sandbox (README "How it is built").
    loose = {m for m in MODULES if m.count(".") == 1 and m.startswith("bot.") and m not in PACKAGES}
    assert loose == {"bot.__main__"}
