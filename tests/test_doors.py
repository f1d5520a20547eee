"""Each door a feature registers on bot.doors keeps to its Protocol (bot/core/doors.py): the same
members, each the same kind (a value read, a method, a coroutine) with the same parameters and types,
resolved with typing.get_type_hints (a type that does not exist fails).
A door that drifts from what the other features were promised fails here, not in their hands."""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import re
import sys
import typing
from pathlib import Path
from typing import Protocol

from bot.core.doors import Doors, XPDoor
from cogs.xp.door import XPFeature
from db import ledger


def _promised(protocol: type) -> list[str]:
    """The members a Protocol declares (its own, not typing's machinery): its methods and properties,
    and what it only annotates (`level_cap: int`)."""
    names = set(vars(protocol)) | set(vars(protocol).get("__annotations__", {}))
    return sorted(name for name in names if not name.startswith("_"))


@functools.cache
def _type_checking_names(module_name: str) -> dict[str, object]:
    """What a module imports under `if TYPE_CHECKING:` (the names its annotations use), imported now."""
    module = sys.modules[module_name]
    names: dict[str, object] = {}
    tree = ast.parse(inspect.getsource(module))
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            exec(compile(ast.Module(body=node.body, type_ignores=[]), module_name, "exec"), names)
    names.pop("__builtins__", None)
    return names


def _hints(owner: object) -> dict[str, object]:
    """typing.get_type_hints of a function or a class, with its module's TYPE_CHECKING names supplied."""
    module_name = owner.__module__
    namespace = {**vars(sys.modules[module_name]), **_type_checking_names(module_name)}
    return typing.get_type_hints(
        owner, globalns=namespace, localns=dict(vars(owner)) if isinstance(owner, type) else None
    )


def _annotated(owner: type, name: str) -> object:
    """The type a class (or one it inherits from) annotates `name` with, or None."""
    for cls in inspect.getmro(owner):
        if name in vars(cls).get("__annotations__", {}):
            return _hints(cls)[name]
    return None


def _shape(owner: type, name: str, member: object) -> tuple:
    """What a member promises: its kind and its types (resolved, so `list[ledger.Item]` must name a
    real type): a method's or coroutine's parameters and return, a property's or an attribute's type."""
    if isinstance(member, property):
        return ("value", _hints(member.fget).get("return"))
    if inspect.isfunction(member):
        hints = _hints(member)
        parameters = [
            (p.name, p.kind, hints.get(p.name), p.default) for p in inspect.signature(member).parameters.values()
        ]
        kind = "coroutine" if inspect.iscoroutinefunction(member) else "method"
        return (kind, parameters, hints.get("return"))
    return ("value", _annotated(owner, name) or type(member))


def _drift(protocol: type, door: object) -> list[str]:
    """How `door` (an object, or a class) departs from `protocol`; empty when it keeps to it. A
    property and an attribute of the same type keep the same promise (a value read)."""
    owner = door if isinstance(door, type) else type(door)
    found = []
    for name in _promised(protocol):
        promised_member = vars(protocol).get(name, inspect.Parameter.empty)
        try:
            kept = inspect.getattr_static(door, name)
        except AttributeError:
            kept = inspect.Parameter.empty if _annotated(owner, name) is None else None
        if kept is inspect.Parameter.empty:
            found.append(f"{name}: missing")
            continue
        try:
            promised = _shape(protocol, name, promised_member)
            has = _shape(owner, name, kept)
        except (NameError, AttributeError) as error:
            found.append(f"{name}: an annotation does not resolve ({error})")
            continue
        if promised != has:
            found.append(f"{name}: {has} instead of {promised}")
    return found


def test_the_drift_check_sees_a_door_that_drifted():
    class Drifted:
        lock = None  # a plain attribute where a property was promised

        def flush(self):  # not a coroutine
            return None

        async def position(self, key: tuple, xp: int) -> int:  # another type for the key
            return 0

        def drop_pending(self, member_id: int) -> list:  # a parameter renamed
            return []

    found = {line.partition(":")[0] for line in _drift(XPDoor, Drifted)}
    assert {"lock", "flush", "position", "drop_pending"} <= found
    assert "forget_voice" in found  # missing altogether
    assert "add_voice_hook" in found


def test_the_drift_check_resolves_the_types_an_annotation_names():
    class Drifted(XPFeature):
        def drop_pending(self, discord_id: int) -> list[ledger.Item]:  # db.ledger has no Item
            return []

    (found,) = _drift(XPDoor, Drifted)
    assert found.startswith("drop_pending: ")


class Capped(Protocol):
    level_cap: int  # promised by annotation only

    def touch(self) -> None: ...


def test_the_drift_check_sees_a_member_promised_by_annotation_only():
    class Without:
        def touch(self) -> None:
            return None

    class OtherType(Without):
        level_cap: str = "ten"

    class Kept(Without):
        level_cap: int = 10

    assert _drift(Capped, Without) == ["level_cap: missing"]
    assert [line.partition(":")[0] for line in _drift(Capped, OtherType)] == ["level_cap"]
    assert _drift(Capped, Kept) == []


async def test_each_door_the_features_register_keeps_to_its_protocol(sandbox):
    doors = sandbox.bot.doors
    hints = typing.get_type_hints(Doors)
    checked = {}
    for field in dataclasses.fields(Doors):
        door = getattr(doors, field.name)
        assert door is not None, f"bot.doors.{field.name}: its feature is loaded in the sandbox"
        (protocol,) = (t for t in typing.get_args(hints[field.name]) if t is not type(None))
        checked[field.name] = _drift(protocol, door)
    assert checked == {name: [] for name in checked}
    assert set(checked) == {"xp", "achievements", "events_attendance", "events_mirror"}


def test_the_readme_names_exactly_the_doors_the_bot_holds():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## How it is built", 1)[1].split("\n## ", 1)[0]
    picture = section.split("```text", 1)[1].split("```", 1)[0]
    hints = typing.get_type_hints(Doors)
    fields = {field.name for field in dataclasses.fields(Doors)}
    protocols = {t.__name__ for name in fields for t in typing.get_args(hints[name]) if t is not type(None)}
    assert set(re.findall(r"\b[A-Z]\w*Door\b", picture)) == protocols
    assert set(re.findall(r"`bot\.doors\.(\w+)`", section)) == fields


async def test_a_door_is_none_once_its_feature_is_unloaded(sandbox):
    bot = sandbox.bot
    for extension in ("cogs.events", "cogs.achievements", "cogs.xp"):
        await bot.unload_extension(extension)
    assert {field.name: getattr(bot.doors, field.name) for field in dataclasses.fields(Doors)} == dict.fromkeys(
        ("xp", "achievements", "events_attendance", "events_mirror")
    )
