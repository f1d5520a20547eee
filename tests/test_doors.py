"""Each door a feature registers on bot.doors keeps to its Protocol (bot/core/doors.py): the same
members, each the same kind (a property, a method, a coroutine) with the same parameters and types.
A door that drifts from what the other features were promised fails here, not in their hands."""

from __future__ import annotations

import dataclasses
import inspect
import re
import typing

from bot.core.doors import Doors, XPDoor


def _promised(protocol: type) -> list[str]:
    """The members a Protocol declares (its own, not typing's machinery)."""
    return sorted(name for name in vars(protocol) if not name.startswith("_"))


def _plain(annotation: object) -> str:
    """An annotation as written (`from __future__ import annotations` keeps it a string), without the
    modules its types are named through: `discord.Member` and `Member` name one type."""
    if annotation is inspect.Parameter.empty:
        return ""
    return re.sub(r"\b[a-z_][a-z0-9_]*\.", "", str(annotation))


def _shape(member: object) -> tuple:
    """What a member promises: its kind and, for a method or property, its parameters and types."""
    if isinstance(member, property):
        return ("property", _plain(inspect.signature(member.fget).return_annotation))
    if inspect.isfunction(member):
        signature = inspect.signature(member)
        parameters = [(p.name, p.kind, _plain(p.annotation), p.default) for p in signature.parameters.values()]
        kind = "coroutine" if inspect.iscoroutinefunction(member) else "method"
        return (kind, parameters, _plain(signature.return_annotation))
    return ("attribute",)


def _drift(protocol: type, door: object) -> list[str]:
    """How `door` (an object, or a class) departs from `protocol`; empty when it keeps to it."""
    found = []
    for name in _promised(protocol):
        try:
            kept = inspect.getattr_static(door, name)
        except AttributeError:
            found.append(f"{name}: missing")
            continue
        promised, has = _shape(inspect.getattr_static(protocol, name)), _shape(kept)
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
