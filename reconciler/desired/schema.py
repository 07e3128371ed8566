"""JSON Schema validation of the plain data, with messages for people at the right line.

The schema (schemas/tokens.schema.json) may carry an `errorMessage` object, keyed by keyword,
for failures whose generic wording would mislead (patterns, oneOf): jsonschema ignores it as an
unknown keyword and this module reads it.

A valid document is recognised by the schema compiled into plain checks (desired/schema_fast.py),
many times faster than jsonschema; jsonschema runs only where those checks do not say "valid",
and so every problem is jsonschema's.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, cast

from reconciler.desired.loader import Document, JsonPath
from reconciler.desired.schema_fast import Check, Unsure, compile_schema, is_number
from reconciler.desired.where import describe
from reconciler.problems import Problem
from reconciler.sanitize import EXCERPT, cut, quoted

if TYPE_CHECKING:
    from jsonschema.exceptions import (  # type: ignore[import-untyped, unused-ignore]
        ValidationError,
    )

SCHEMA_FILE = "tokens.schema.json"
_EXPIRY_KEYS = frozenset({"expires"})


@cache
def tokens_schema() -> Mapping[str, Any]:
    """The spec's JSON Schema, as shipped in the package."""
    text = resources.files("reconciler").joinpath("schemas", SCHEMA_FILE).read_text("utf-8")
    return cast(Mapping[str, Any], json.loads(text))


@cache
def _validator() -> Any:
    # Imported here: a valid spec never needs jsonschema, and a run need not load it.
    from jsonschema import (  # type: ignore[import-untyped, unused-ignore]
        Draft202012Validator,
        validators,
    )

    # YAML's `.nan` is no JSON number, and it passes every bound (`nan > 0` and `nan <= 86400`
    # are both false, so neither minimum nor maximum fails): a `timeout: .nan` would be no
    # deadline at all. It is not of type number, as the compiled checks say too.
    checker = Draft202012Validator.TYPE_CHECKER.redefine(
        "number", lambda checker, value: is_number(value)
    )
    return validators.extend(Draft202012Validator, type_checker=checker)(tokens_schema())


@cache
def _fast_check() -> Check | None:
    return compile_schema(tokens_schema())


def certainly_valid(data: object) -> bool:
    """True when the compiled checks find `data` valid; False: ask jsonschema."""
    check = _fast_check()
    if check is None:
        return False
    try:
        return check(data)
    except Unsure:
        return False


def schema_problems(document: Document, *, fast: bool = True) -> list[Problem]:
    """Every schema violation in the document, one problem per location and cause. `fast`
    False asks jsonschema even about a valid document (the result is the same)."""
    data = for_schema(document.data, ())
    if fast and certainly_valid(data):
        return []
    errors = [_narrow(error) for error in _validator().iter_errors(data)]
    unknown = {
        tuple(error.absolute_path): _unknown(error.instance, error.schema)
        for error in errors
        if error.validator == "additionalProperties" and isinstance(error.instance, dict)
    }
    problems: list[Problem] = []
    for error in errors:
        problems.extend(_problems(document, error, unknown))
    return problems


def for_schema(value: object, path: JsonPath) -> object:
    """The data as JSON would hold it. YAML dates become ISO text where an expiry is expected,
    so `expires: 2027-01-31` passes; a date anywhere else stays a date and fails its type."""
    return _as_json(value, path[-1] if path else None)


def _as_json(value: object, key: str | int | None) -> object:
    """`for_schema` below the entry `key`: a container with nothing to change is returned as it
    is, not copied (a large spec has tens of thousands, and dates in a few)."""
    if isinstance(value, dict):
        changed = {k: new for k, item in value.items() if (new := _as_json(item, k)) is not item}
        return {**value, **changed} if changed else value
    if isinstance(value, list):
        items = [_as_json(item, index) for index, item in enumerate(value)]
        return (
            items if any(new is not old for new, old in zip(items, value, strict=True)) else value
        )
    if isinstance(value, date) and key in _EXPIRY_KEYS:
        # A datetime is a date too: its ISO text keeps the time and so fails the expiry
        # pattern, as it should (PPM expiries are days, durations or never).
        return value.isoformat()
    return value


def _narrow(error: ValidationError) -> ValidationError:
    """For oneOf/anyOf without a message of their own, the most relevant branch's error."""
    messages = error.schema.get("errorMessage", {}) if isinstance(error.schema, dict) else {}
    if error.validator in ("oneOf", "anyOf") and error.validator not in messages and error.context:
        from jsonschema.exceptions import (  # type: ignore[import-untyped, unused-ignore]
            best_match,
        )

        return _narrow(best_match(error.context))
    return error


def _unknown(instance: Mapping[str, object], schema: object) -> tuple[str, ...]:
    known = schema.get("properties", {}) if isinstance(schema, dict) else {}
    return tuple(key for key in instance if key not in known)


def _problems(
    document: Document, error: ValidationError, unknown: Mapping[JsonPath, tuple[str, ...]]
) -> Iterator[Problem]:
    path: JsonPath = tuple(error.absolute_path)
    keyword = str(error.validator)
    schema = error.schema if isinstance(error.schema, dict) else {}
    custom = schema.get("errorMessage", {}).get(keyword)
    name = describe(document.data, path) or "the document"
    if keyword == "additionalProperties" and isinstance(error.instance, dict):
        yield from _unknown_keys(document, path, error.instance, schema)
        return
    if "propertyNames" in error.absolute_schema_path and isinstance(error.instance, str):
        # jsonschema reports a bad key at its object; point at the key itself.
        message = f"{name}: key {quoted(error.instance)} is not valid: {custom or 'not allowed'}"
        yield document.problem((*path, error.instance), message, on_key=True)
        return
    if custom:
        yield document.problem(path, _with_value(name, error.instance, custom))
        return
    if keyword == "required":
        yield _missing(document, path, name, error, unknown.get(path, ()))
        return
    yield document.problem(path, _message(document, path, name, error, keyword))


def _missing(
    document: Document,
    path: JsonPath,
    name: str,
    error: ValidationError,
    unknown: tuple[str, ...],
) -> Problem:
    """A missing required key is always an error of its own. When an unknown key looks like a
    misspelling of it, the error says so and points at that key; the spelling is never taken
    as the key (`secret` resembles `user`, yet a token with a secret still needs a user)."""
    missing = error.message.split("'")[1] if "'" in error.message else error.message
    message = f"{name} is missing required key {missing!r}"
    close = difflib.get_close_matches(missing, unknown, n=1, cutoff=0.6)
    if close:
        message += f" (is {close[0]!r} a misspelling of it?)"
        return document.problem((*path, close[0]), message, on_key=True)
    return document.problem(path, message)


def _with_value(name: str, instance: object, message: str) -> str:
    """A schema's own message for a value; `{list}` in it becomes the value as a list."""
    message = message.replace("{list}", cut(json.dumps([instance]), EXCERPT))
    if isinstance(instance, str | int | float) and not isinstance(instance, bool):
        return f"{name}: {quoted(instance)} is not valid: {message}"
    return f"{name}: {message}"


def _unknown_keys(
    document: Document, path: JsonPath, instance: Mapping[str, object], schema: Mapping[str, Any]
) -> Iterator[Problem]:
    known = sorted(schema.get("properties", {}))
    for key in instance:
        if key in known:
            continue
        where = f" in {describe(document.data, path)}" if path else ""
        message = f"unknown key {quoted(key)}{where}"
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        if close:
            message += f": did you mean {close[0]!r}?"
        elif known:
            message += f" (known: {', '.join(known)})"
        yield document.problem((*path, key), message, on_key=True)


_TYPE_WORDS = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping (key: value lines)",
    "array": "a list",
    "null": "nothing",
}


def _type_of(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, datetime):
        return "a date and time"
    if isinstance(value, date):
        return "a date"
    if isinstance(value, str):
        return "text"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    return f"{type(value).__name__} data"


def _message(
    document: Document, path: JsonPath, name: str, error: ValidationError, keyword: str
) -> str:
    value = error.instance
    if keyword == "type":
        expected = error.validator_value
        wanted = " or ".join(
            _TYPE_WORDS.get(t, str(t))
            for t in (expected if isinstance(expected, list) else [expected])
        )
        if value is None:
            # `user:` with nothing after it, `~` or `null`: quoting "null" is never the fix.
            return f"{name} has no value: it must be {wanted}"
        message = f"{name} must be {wanted}, not {_type_of(value)}"
        written = document.source.get(path)
        if written is not None and not isinstance(value, str):
            shown = cut(written, EXCERPT)
            message += f" (YAML reads `{shown}` as {_type_of(value)}"
            if "string" in (expected if isinstance(expected, list) else [expected]):
                message += f': quote it: "{shown}")'
            else:
                message += ")"
        elif expected == "array" and isinstance(value, str):
            message += f": write it as a list: {cut(json.dumps([value]), EXCERPT)}"
        return message
    if keyword in ("enum", "const"):
        options = error.validator_value if keyword == "enum" else [error.validator_value]
        choices = ", ".join(str(option) for option in options)
        message = f"{name}: {_show(value)} is not one of: {choices}"
        if isinstance(value, str):
            close = difflib.get_close_matches(value, [str(o) for o in options], n=1, cutoff=0.6)
            if close:
                message += f": did you mean {close[0]!r}?"
        written = document.source.get(path)
        if written is not None and isinstance(value, bool):
            message += f" (YAML reads `{cut(written, EXCERPT)}` as a boolean)"
        return message
    if keyword == "minItems":
        return f"{name} must not be empty"
    if keyword == "uniqueItems":
        return f"{name} lists the same entry twice"
    if keyword == "minLength":
        return f"{name} must not be empty"
    if keyword == "maxLength":
        return f"{name} is longer than {error.validator_value} characters"
    if keyword == "pattern":
        return f"{name}: {_show(value)} does not match {error.validator_value}"
    # jsonschema's sentence starts with the value, whole (a mapping, a list): cut.
    return f"{name}: {cut(error.message)}"


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return quoted(value) if isinstance(value, str) else cut(str(value), EXCERPT)
