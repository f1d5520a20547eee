"""Discord's documented limits on what an app sends, checked as Discord checks them: a refused body
is a 400 `50035 Invalid Form Body` whose `errors` name every offending field by its path.

Sources (discord/discord-api-docs): resources/message (content, embeds and their limits, measured
after trimming), components/reference (action rows, buttons, selects, text inputs, labels),
interactions/receiving-and-responding (autocomplete choices, modals), interactions/application-commands
(names, descriptions, options, choices, command counts), resources/audit-log (the reason header) and
resources/guild-scheduled-event (name, description, location). Lengths are counted in characters
(code points), as the documents count them."""

from __future__ import annotations

import unicodedata
from typing import Any

# -- messages (resources/message) -------------------------------------------------------------
CONTENT_MAX = 2000
EMBEDS_MAX = 10
EMBED_TITLE_MAX = 256
EMBED_DESCRIPTION_MAX = 4096
EMBED_FIELDS_MAX = 25
EMBED_FIELD_NAME_MAX = 256
EMBED_FIELD_VALUE_MAX = 1024
EMBED_FOOTER_MAX = 2048
EMBED_AUTHOR_MAX = 256
EMBEDS_TOTAL_MAX = 6000  # title, description, field names and values, footer and author, all embeds
# -- components (components/reference) -------------------------------------------------------
ACTION_ROWS_MAX = 5
BUTTONS_PER_ROW_MAX = 5
COMPONENTS_V2_MAX = 40
IS_COMPONENTS_V2 = 1 << 15
BUTTON_LABEL_MAX = 80
BUTTON_URL_MAX = 512
CUSTOM_ID_MAX = 100
SELECT_OPTIONS_MAX = 25
SELECT_OPTION_TEXT_MAX = 100  # label, value, description
SELECT_PLACEHOLDER_MAX = 150
SELECT_VALUES_MAX = 25
TEXT_INPUT_LABEL_MAX = 45
TEXT_INPUT_PLACEHOLDER_MAX = 100
TEXT_INPUT_VALUE_MAX = 4000
LABEL_MAX = 45
LABEL_DESCRIPTION_MAX = 100
# -- interaction responses (interactions/receiving-and-responding) ----------------------------
MODAL_TITLE_MAX = 45
MODAL_COMPONENTS_MAX = 5
AUTOCOMPLETE_CHOICES_MAX = 25
# -- application commands (interactions/application-commands) ---------------------------------
COMMAND_NAME_MAX = 32
COMMAND_DESCRIPTION_MAX = 100
COMMAND_OPTIONS_MAX = 25
OPTION_CHOICES_MAX = 25
CHOICE_TEXT_MAX = 100  # a choice's name, and its value when a string
OPTION_LENGTH_MAX = 6000  # min_length / max_length of a string option
INTEGER_MAX = 2**53 - 1  # an INTEGER option is "any integer between -2^53+1 and 2^53-1"
COMMANDS_MAX = {1: 100, 2: 5, 3: 5}  # CHAT_INPUT, USER, MESSAGE commands per scope
# "Slash commands can have a maximum of 8000 characters for combined name, description, and value
# properties for each command, its options (including subcommands and groups), and choices. When
# localization fields are present, only the longest localization for each field (including the
# default value) is counted towards the size limit."
COMMAND_SIZE_MAX = 8000
# -- the audit log (resources/audit-log): "X-Audit-Log-Reason supports 1-512 URL-encoded UTF-8 characters"
AUDIT_REASON_MAX = 512
# -- guild scheduled events (resources/guild-scheduled-event) ---------------------------------
EVENT_NAME_MAX = 100
EVENT_DESCRIPTION_MAX = 1000
EVENT_LOCATION_MAX = 100

BUTTON, STRING_SELECT, TEXT_INPUT, TEXT_DISPLAY, LABEL = 2, 3, 4, 10, 18
SELECTS = {3, 5, 6, 7, 8}
LINK, PREMIUM = 5, 6
CHAT_INPUT = 1
SUB_COMMAND, SUB_COMMAND_GROUP, STRING, INTEGER, NUMBER = 1, 2, 3, 4, 10

Path = tuple[str | int, ...]


class InvalidFormBody(Exception):
    """What Discord answers a body that breaks its limits: 400, code 50035, the errors by field path."""

    status, code, message = 400, 50035, "Invalid Form Body"

    def __init__(self, errors: dict[str, Any]) -> None:
        super().__init__(f"Invalid Form Body: {errors}")
        self.errors = errors

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "errors": self.errors}


class Problems:
    """The errors of one body, nested by path as Discord nests them ({"embeds": {"0": {"title":
    {"_errors": [...]}}}})."""

    def __init__(self) -> None:
        self.errors: dict[str, Any] = {}

    def add(self, path: Path, code: str, message: str) -> None:
        node = self.errors
        for key in path:
            node = node.setdefault(str(key), {})
        node.setdefault("_errors", []).append({"code": code, "message": message})

    def length(self, path: Path, value: Any, high: int, *, low: int = 0, strip: bool = False) -> None:
        """A string's length within low..high (embeds are measured without surrounding whitespace)."""
        if value is None:
            if low:
                self.required(path)
            return
        if not isinstance(value, str):
            self.add(path, "BASE_TYPE_STRING", "Could not interpret the value as a string.")
            return
        size = len(value.strip()) if strip else len(value)
        if size > high:
            self.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {high} or fewer in length.")
        elif size < low:
            code = "BASE_TYPE_REQUIRED" if size == 0 else "BASE_TYPE_MIN_LENGTH"
            self.add(path, code, "This field is required" if size == 0 else f"Must be {low} or more in length.")

    def count(self, path: Path, items: Any, high: int, *, low: int = 0) -> list[Any]:
        """A list's size within low..high; the list (or [] when it is not one) to look into."""
        if items is None:
            items = []
        if not isinstance(items, list):
            self.add(path, "BASE_TYPE_ARRAY", "Must be an array.")
            return []
        if len(items) > high:
            self.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {high} or fewer in length.")
        elif len(items) < low:
            self.add(path, "BASE_TYPE_MIN_LENGTH", f"Must be {low} or more in length.")
        return items

    def number(self, path: Path, value: Any, low: int, high: int) -> None:
        """A number, when given, within low..high."""
        if value is not None and not low <= int(value) <= high:
            self.add(path, "NUMBER_TYPE_MAX", f"Must be between {low} and {high}.")

    def required(self, path: Path) -> None:
        self.add(path, "BASE_TYPE_REQUIRED", "This field is required")

    def raise_any(self) -> None:
        if self.errors:
            raise InvalidFormBody(self.errors)


# -- messages ---------------------------------------------------------------------------------


def check_message(body: dict[str, Any], *, path: Path = ()) -> None:
    """A message to create or edit (channel messages, interaction responses, followups, webhook edits)."""
    problems = Problems()
    message_problems(problems, body, path)
    problems.raise_any()


def message_problems(problems: Problems, body: dict[str, Any], path: Path = ()) -> None:
    if not isinstance(body, dict):
        problems.add(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
        return
    problems.length((*path, "content"), body.get("content"), CONTENT_MAX)
    embeds = problems.count((*path, "embeds"), body.get("embeds"), EMBEDS_MAX)
    total = 0
    for i, embed in enumerate(embeds):
        total += _embed(problems, embed, (*path, "embeds", i))
    if total > EMBEDS_TOTAL_MAX:
        problems.add(
            (*path, "embeds"), "MAX_EMBED_SIZE_EXCEEDED", f"Embed size exceeds maximum size of {EMBEDS_TOTAL_MAX}"
        )
    components = body.get("components")
    if components is not None:
        ids: set[str] = set()
        if int(body.get("flags") or 0) & IS_COMPONENTS_V2:
            _v2_components(problems, components, (*path, "components"), ids)
        else:
            rows = problems.count((*path, "components"), components, ACTION_ROWS_MAX)
            for i, row in enumerate(rows):
                _action_row(problems, row, (*path, "components", i), ids, in_modal=False)


def _text(value: Any) -> int:
    return len(value.strip()) if isinstance(value, str) else 0


def _embed(problems: Problems, embed: Any, path: Path) -> int:
    """One embed's limits; its characters toward the 6,000 of the message."""
    if not isinstance(embed, dict):
        problems.add(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
        return 0
    problems.length((*path, "title"), embed.get("title"), EMBED_TITLE_MAX, strip=True)
    problems.length((*path, "description"), embed.get("description"), EMBED_DESCRIPTION_MAX, strip=True)
    size = _text(embed.get("title")) + _text(embed.get("description"))
    fields = problems.count((*path, "fields"), embed.get("fields"), EMBED_FIELDS_MAX)
    for i, field in enumerate(fields):
        where = (*path, "fields", i)
        if not isinstance(field, dict):
            problems.add(where, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            continue
        problems.length((*where, "name"), field.get("name"), EMBED_FIELD_NAME_MAX, low=1, strip=True)
        problems.length((*where, "value"), field.get("value"), EMBED_FIELD_VALUE_MAX, low=1, strip=True)
        size += _text(field.get("name")) + _text(field.get("value"))
    for key, high in (("footer", EMBED_FOOTER_MAX), ("author", EMBED_AUTHOR_MAX)):
        part = embed.get(key)
        if part is None:
            continue
        text_key = "text" if key == "footer" else "name"
        value = part.get(text_key) if isinstance(part, dict) else None
        problems.length((*path, key, text_key), value, high, low=1, strip=True)
        size += _text(value)
    return size


def _custom_id(problems: Problems, path: Path, value: Any, ids: set[str]) -> None:
    problems.length(path, value, CUSTOM_ID_MAX, low=1)
    if isinstance(value, str) and value:
        if value in ids:
            problems.add(path, "COMPONENT_CUSTOM_ID_DUPLICATED", "Component custom id cannot be duplicated")
        ids.add(value)


def _action_row(problems: Problems, row: Any, path: Path, ids: set[str], *, in_modal: bool) -> None:
    if not isinstance(row, dict) or row.get("type") != 1:
        problems.add((*path, "type"), "UNION_TYPE_CHOICES", 'Value of field "type" must be one of (1,).')
        return
    children = problems.count((*path, "components"), row.get("components"), BUTTONS_PER_ROW_MAX, low=1)
    kinds = {c.get("type") for c in children if isinstance(c, dict)}
    if (kinds & SELECTS or TEXT_INPUT in kinds) and len(children) > 1:
        problems.add(
            (*path, "components"),
            "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
            "The specified component exceeds the maximum width",
        )
    for i, child in enumerate(children):
        _component(problems, child, (*path, "components", i), ids, in_modal=in_modal)


def _component(problems: Problems, component: Any, path: Path, ids: set[str], *, in_modal: bool) -> None:
    if not isinstance(component, dict):
        problems.add(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
        return
    kind = component.get("type")
    if kind == BUTTON and not in_modal:
        _button(problems, component, path, ids)
    elif kind in SELECTS:
        _select(problems, component, path, ids)
    elif kind == TEXT_INPUT and in_modal:
        _text_input(problems, component, path, ids, labelled=False)
    else:
        problems.add((*path, "type"), "UNION_TYPE_CHOICES", f"Component type {kind} is not allowed here.")


def _button(problems: Problems, button: dict[str, Any], path: Path, ids: set[str]) -> None:
    problems.length((*path, "label"), button.get("label"), BUTTON_LABEL_MAX)
    style = button.get("style")
    if style == LINK:
        problems.length((*path, "url"), button.get("url"), BUTTON_URL_MAX, low=1)
        if button.get("custom_id") is not None:
            problems.add(
                (*path, "custom_id"), "BUTTON_COMPONENT_CUSTOM_ID_NOT_ALLOWED", "A link button has no custom_id."
            )
    elif style == PREMIUM:
        if button.get("sku_id") is None:
            problems.required((*path, "sku_id"))
    elif style in (1, 2, 3, 4):
        _custom_id(problems, (*path, "custom_id"), button.get("custom_id"), ids)
    else:
        problems.add((*path, "style"), "BASE_TYPE_CHOICES", "Value must be one of (1, 2, 3, 4, 5, 6).")


def _select(problems: Problems, select: dict[str, Any], path: Path, ids: set[str]) -> None:
    _custom_id(problems, (*path, "custom_id"), select.get("custom_id"), ids)
    problems.length((*path, "placeholder"), select.get("placeholder"), SELECT_PLACEHOLDER_MAX)
    high = select.get("max_values")
    problems.number((*path, "min_values"), select.get("min_values"), 0, SELECT_VALUES_MAX)
    problems.number((*path, "max_values"), high, 1, SELECT_VALUES_MAX)
    if select.get("type") != STRING_SELECT:
        return
    options = problems.count((*path, "options"), select.get("options"), SELECT_OPTIONS_MAX, low=1)
    for i, option in enumerate(options):
        where = (*path, "options", i)
        if not isinstance(option, dict):
            problems.add(where, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            continue
        problems.length((*where, "label"), option.get("label"), SELECT_OPTION_TEXT_MAX, low=1)
        problems.length((*where, "value"), option.get("value"), SELECT_OPTION_TEXT_MAX, low=1)
        problems.length((*where, "description"), option.get("description"), SELECT_OPTION_TEXT_MAX)
    if high is not None and int(high) > len(options):
        problems.add((*path, "max_values"), "SELECT_COMPONENT_TOO_MANY_VALUES", "max_values exceeds the options.")


def _text_input(problems: Problems, text_input: dict[str, Any], path: Path, ids: set[str], *, labelled: bool) -> None:
    _custom_id(problems, (*path, "custom_id"), text_input.get("custom_id"), ids)
    if text_input.get("style") not in (1, 2):
        problems.add((*path, "style"), "BASE_TYPE_CHOICES", "Value must be one of (1, 2).")
    # In an action row (the older layout) the input carries its label; in a Label it has none of its own.
    problems.length((*path, "label"), text_input.get("label"), TEXT_INPUT_LABEL_MAX, low=0 if labelled else 1)
    problems.length((*path, "placeholder"), text_input.get("placeholder"), TEXT_INPUT_PLACEHOLDER_MAX)
    problems.length((*path, "value"), text_input.get("value"), TEXT_INPUT_VALUE_MAX)
    problems.number((*path, "min_length"), text_input.get("min_length"), 0, TEXT_INPUT_VALUE_MAX)
    problems.number((*path, "max_length"), text_input.get("max_length"), 1, TEXT_INPUT_VALUE_MAX)


def _v2_components(problems: Problems, components: Any, path: Path, ids: set[str]) -> None:
    """A components-v2 message: at most 40 components in all; rows and their children as above."""
    seen = 0

    def walk(items: list[Any], where: Path) -> None:
        nonlocal seen
        for i, item in enumerate(items):
            seen += 1
            if not isinstance(item, dict):
                continue
            if item.get("type") == 1:
                _action_row(problems, item, (*where, i), ids, in_modal=False)
                seen += len(item.get("components") or [])
            elif isinstance(item.get("components"), list):
                walk(item["components"], (*where, i, "components"))
            if isinstance(item.get("accessory"), dict):
                seen += 1

    walk(problems.count(path, components, COMPONENTS_V2_MAX), path)
    if seen > COMPONENTS_V2_MAX:
        problems.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {COMPONENTS_V2_MAX} or fewer components in total.")


# -- interaction responses --------------------------------------------------------------------


def check_modal(data: dict[str, Any]) -> None:
    """A MODAL callback's data: custom_id, title up to 45, 1-5 components (labels, text displays or
    the older action rows of one text input)."""
    problems = Problems()
    path: Path = ("data",)
    ids: set[str] = set()
    problems.length((*path, "custom_id"), data.get("custom_id"), CUSTOM_ID_MAX, low=1)
    problems.length((*path, "title"), data.get("title"), MODAL_TITLE_MAX, low=1)
    components = problems.count((*path, "components"), data.get("components"), MODAL_COMPONENTS_MAX, low=1)
    for i, component in enumerate(components):
        where = (*path, "components", i)
        kind = component.get("type") if isinstance(component, dict) else None
        if kind == 1:
            _action_row(problems, component, where, ids, in_modal=True)
        elif kind == LABEL:
            problems.length((*where, "label"), component.get("label"), LABEL_MAX, low=1)
            problems.length((*where, "description"), component.get("description"), LABEL_DESCRIPTION_MAX)
            inner = component.get("component")
            if isinstance(inner, dict) and inner.get("type") == TEXT_INPUT:
                _text_input(problems, inner, (*where, "component"), ids, labelled=True)
            elif isinstance(inner, dict) and inner.get("type") in SELECTS:
                _select(problems, inner, (*where, "component"), ids)
            elif not (isinstance(inner, dict) and inner.get("type") == 19):  # a file upload
                problems.required((*where, "component"))
        elif kind == TEXT_DISPLAY:
            problems.length((*where, "content"), component.get("content"), TEXT_INPUT_VALUE_MAX, low=1)
        else:
            problems.add((*where, "type"), "UNION_TYPE_CHOICES", f"Component type {kind} is not allowed in a modal.")
    problems.raise_any()


def check_autocomplete(data: dict[str, Any]) -> None:
    """An APPLICATION_COMMAND_AUTOCOMPLETE_RESULT: at most 25 choices, names 1-100, string values up to 100."""
    problems = Problems()
    choices = problems.count(("data", "choices"), data.get("choices"), AUTOCOMPLETE_CHOICES_MAX)
    for i, choice in enumerate(choices):
        _choice(problems, choice, ("data", "choices", i))
    problems.raise_any()


def _choice(problems: Problems, choice: Any, path: Path) -> None:
    if not isinstance(choice, dict):
        problems.add(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
        return
    problems.length((*path, "name"), choice.get("name"), CHOICE_TEXT_MAX, low=1)
    value = choice.get("value")
    if isinstance(value, str):
        problems.length((*path, "value"), value, CHOICE_TEXT_MAX)
    elif value is None:
        problems.required((*path, "value"))


# -- application commands ---------------------------------------------------------------------


def valid_name(name: str) -> bool:
    """A CHAT_INPUT command's or an option's name: `^[-_'\\p{L}\\p{N}\\p{sc=Deva}\\p{sc=Thai}]{1,32}$`,
    in lowercase wherever a letter has a lowercase form."""
    if not 1 <= len(name) <= COMMAND_NAME_MAX:
        return False
    for char in name:
        devanagari_or_thai = "\u0900" <= char <= "\u097f" or "\u0e00" <= char <= "\u0e7f"
        if not (char in "-_'" or unicodedata.category(char)[0] in "LN" or devanagari_or_thai):
            return False
        if char.lower() != char:
            return False
    return True


def check_commands(commands: Any) -> None:
    """A bulk overwrite of one scope's commands (global or one guild's)."""
    problems = Problems()
    if not isinstance(commands, list):
        problems.add((), "BASE_TYPE_ARRAY", "Must be an array.")
        problems.raise_any()
    per_type: dict[int, int] = {}
    names: set[tuple[int, str]] = set()
    for i, command in enumerate(commands):
        kind = int(command.get("type", CHAT_INPUT)) if isinstance(command, dict) else CHAT_INPUT
        per_type[kind] = per_type.get(kind, 0) + 1
        if not isinstance(command, dict):
            problems.add((i,), "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            continue
        name = command.get("name")
        if (kind, name) in names:
            problems.add((i, "name"), "APPLICATION_COMMAND_ALREADY_EXISTS", "Application command names must be unique")
        names.add((kind, name))
        _command(problems, command, (i,), kind)
    for kind, found in per_type.items():
        if found > COMMANDS_MAX.get(kind, 1):
            problems.add((), "APPLICATION_COMMANDS_TOO_MANY", f"Maximum number of type {kind} commands reached.")
    problems.raise_any()


def _longest(item: dict[str, Any], key: str) -> int:
    """A field's characters as Discord counts them: the longest of its value and its localizations."""
    value = item.get(key)
    sizes = [len(str(value))] if value is not None else []
    localizations = item.get(f"{key}_localizations")
    if isinstance(localizations, dict):
        sizes.extend(len(str(text)) for text in localizations.values() if text is not None)
    return max(sizes, default=0)


def command_size(command: dict[str, Any]) -> int:
    """A command's size toward Discord's 8,000 characters: the names, descriptions and values of
    the command, its options (subcommands and groups among them) and their choices."""

    def of(item: dict[str, Any]) -> int:
        size = _longest(item, "name") + _longest(item, "description") + _longest(item, "value")
        for option in item.get("options") or []:
            if isinstance(option, dict):
                size += of(option)
        for choice in item.get("choices") or []:
            if isinstance(choice, dict):
                size += of(choice)
        return size

    return of(command)


def _command(problems: Problems, command: dict[str, Any], path: Path, kind: int) -> None:
    name = command.get("name")
    if command_size(command) > COMMAND_SIZE_MAX:
        problems.add(path, "APPLICATION_COMMAND_TOO_LARGE", f"Command exceeds maximum size ({COMMAND_SIZE_MAX})")
    if kind == CHAT_INPUT:
        if not (isinstance(name, str) and valid_name(name)):
            problems.add((*path, "name"), "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
        problems.length((*path, "description"), command.get("description"), COMMAND_DESCRIPTION_MAX, low=1)
        _options(problems, command.get("options"), (*path, "options"), depth=0)
    else:
        problems.length((*path, "name"), name, COMMAND_NAME_MAX, low=1)
        if command.get("options"):
            problems.add(
                (*path, "options"), "APPLICATION_COMMAND_OPTIONS_NOT_ALLOWED", "Only slash commands have options."
            )


def _options(problems: Problems, options: Any, path: Path, *, depth: int) -> None:
    options = problems.count(path, options, COMMAND_OPTIONS_MAX)
    names: set[str] = set()
    optional_seen = False
    for i, option in enumerate(options):
        where = (*path, i)
        if not isinstance(option, dict):
            problems.add(where, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            continue
        kind = option.get("type")
        name = option.get("name")
        if not (isinstance(name, str) and valid_name(name)):
            problems.add((*where, "name"), "APPLICATION_COMMAND_INVALID_NAME", "Option name is invalid")
        elif name in names:
            problems.add((*where, "name"), "APPLICATION_COMMAND_OPTION_NAME_NOT_UNIQUE", "Option names must be unique")
        names.add(str(name))
        problems.length((*where, "description"), option.get("description"), COMMAND_DESCRIPTION_MAX, low=1)
        if kind in (SUB_COMMAND, SUB_COMMAND_GROUP):
            if (kind == SUB_COMMAND_GROUP and depth > 0) or (kind == SUB_COMMAND and depth > 1):
                problems.add(
                    (*where, "type"), "APPLICATION_COMMAND_OPTION_NESTED_TOO_DEEP", "Subcommands nest too deep"
                )
            _options(problems, option.get("options"), (*where, "options"), depth=depth + 1)
            continue
        if option.get("required"):
            if optional_seen:
                problems.add(
                    (*where, "required"),
                    "APPLICATION_COMMAND_OPTION_REQUIRED_ORDER",
                    "Required options must be placed before non-required options",
                )
        else:
            optional_seen = True
        choices = problems.count((*where, "choices"), option.get("choices"), OPTION_CHOICES_MAX)
        for j, choice in enumerate(choices):
            _choice(problems, choice, (*where, "choices", j))
        if choices and option.get("autocomplete"):
            problems.add(
                (*where, "autocomplete"), "AUTOCOMPLETE_WITH_CHOICES", "Autocomplete cannot be set with choices"
            )
        if kind == STRING:
            problems.number((*where, "min_length"), option.get("min_length"), 0, OPTION_LENGTH_MAX)
            problems.number((*where, "max_length"), option.get("max_length"), 1, OPTION_LENGTH_MAX)
        if kind == INTEGER:
            problems.number((*where, "min_value"), option.get("min_value"), -INTEGER_MAX, INTEGER_MAX)
            problems.number((*where, "max_value"), option.get("max_value"), -INTEGER_MAX, INTEGER_MAX)


# -- guild scheduled events -------------------------------------------------------------------


def check_scheduled_event(body: dict[str, Any], *, creating: bool) -> None:
    """A scheduled event's name (1-100), description (1-1000) and location (1-100)."""
    problems = Problems()
    if creating or "name" in body:
        problems.length(("name",), body.get("name"), EVENT_NAME_MAX, low=1)
    if body.get("description") is not None:
        problems.length(("description",), body.get("description"), EVENT_DESCRIPTION_MAX, low=1)
    metadata = body.get("entity_metadata")
    if isinstance(metadata, dict) and metadata.get("location") is not None:
        problems.length(("entity_metadata", "location"), metadata.get("location"), EVENT_LOCATION_MAX, low=1)
    problems.raise_any()


# -- the audit log reason --------------------------------------------------------------------


def check_audit_reason(reason: str | None) -> None:
    """The X-Audit-Log-Reason header, URL-decoded: 1-512 characters."""
    if reason is None:
        return
    problems = Problems()
    problems.length(("reason",), reason, AUDIT_REASON_MAX, low=1)
    problems.raise_any()
