"""JSON Schema validation of the plain data, with messages for people at the right line.

The schema (schemas/tokens.schema.json) may carry an `errorMessage` object, keyed by keyword,
for failures whose generic wording would mislead (patterns, oneOf): jsonschema ignores it as an
unknown keyword and this module reads it.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from functools import cache
from importlib import resources
from typing import Any, cast

from jsonschema import Draft202012Validator  # type: ignore[import-untyped, unused-ignore]
from jsonschema.exceptions import (  # type: ignore[import-untyped, unused-ignore]
    ValidationError,
    best_match,
)

from reconciler.problems import Problem
from reconciler.spec.loader import Document, JsonPath

SCHEMA_FILE = "tokens.schema.json"
_EXPIRY_KEYS = frozenset({"expires"})


@cache
def tokens_schema() -> Mapping[str, Any]:
    """The spec's JSON Schema, as shipped in the package."""
    text = resources.files("reconciler").joinpath("schemas", SCHEMA_FILE).read_text("utf-8")
    return cast(Mapping[str, Any], json.loads(text))


@cache
def _validator() -> Any:
    return Draft202012Validator(tokens_schema())


def schema_problems(document: Document) -> list[Problem]:
    """Every schema violation in the document, one problem per location and cause."""
    data = for_schema(document.data, ())
    problems: list[Problem] = []
    for error in _validator().iter_errors(data):
        problems.extend(_problems(document, _narrow(error)))
    return problems


def for_schema(value: object, path: JsonPath) -> object:
    """The data as JSON would hold it. YAML dates become ISO text where an expiry is expected,
    so `expires: 2027-01-31` passes; a date anywhere else stays a date and fails its type."""
    if isinstance(value, dict):
        return {key: for_schema(item, (*path, key)) for key, item in value.items()}
    if isinstance(value, list):
        return [for_schema(item, (*path, index)) for index, item in enumerate(value)]
    if isinstance(value, date) and path and path[-1] in _EXPIRY_KEYS:
        # A datetime is a date too: its ISO text keeps the time and so fails the expiry
        # pattern, as it should (PPM expiries are days, durations or never).
        return value.isoformat()
    return value


def _narrow(error: ValidationError) -> ValidationError:
    """For oneOf/anyOf without a message of their own, the most relevant branch's error."""
    messages = error.schema.get("errorMessage", {}) if isinstance(error.schema, dict) else {}
    if error.validator in ("oneOf", "anyOf") and error.validator not in messages and error.context:
        return _narrow(best_match(error.context))
    return error


def _problems(document: Document, error: ValidationError) -> Iterator[Problem]:
    path: JsonPath = tuple(error.absolute_path)
    keyword = str(error.validator)
    schema = error.schema if isinstance(error.schema, dict) else {}
    custom = schema.get("errorMessage", {}).get(keyword)
    if keyword == "additionalProperties" and isinstance(error.instance, dict):
        yield from _unknown_keys(document, path, error.instance, schema)
        return
    if "propertyNames" in error.absolute_schema_path and isinstance(error.instance, str):
        # jsonschema reports a bad key at its object; point at the key itself.
        message = _with_value(error, custom or "not an allowed name")
        yield document.problem((*path, error.instance), message, on_key=True)
        return
    if custom:
        yield document.problem(path, _with_value(error, custom))
        return
    if keyword == "required" and _misspelt(error, schema):
        return  # the unknown-key error already says "did you mean" this key
    yield document.problem(path, _message(document, path, error, keyword))


def _misspelt(error: ValidationError, schema: Mapping[str, Any]) -> bool:
    """Whether a required key is missing only because an unknown key misspells it."""
    instance = error.instance if isinstance(error.instance, dict) else {}
    missing = [key for key in schema.get("required", []) if key not in instance]
    unknown = [key for key in instance if key not in schema.get("properties", {})]
    return any(difflib.get_close_matches(key, unknown, n=1, cutoff=0.6) for key in missing)


def _with_value(error: ValidationError, message: str) -> str:
    instance = error.instance
    if isinstance(instance, str | int | float) and not isinstance(instance, bool):
        return f"{instance!r}: {message}"
    return message


def _unknown_keys(
    document: Document, path: JsonPath, instance: Mapping[str, object], schema: Mapping[str, Any]
) -> Iterator[Problem]:
    known = sorted(schema.get("properties", {}))
    for key in instance:
        if key in known:
            continue
        where = f" in {_describe(document, path)}" if path else ""
        message = f"unknown key {key!r}{where}"
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        if close:
            message += f": did you mean {close[0]!r}?"
        elif known:
            message += f" (known: {', '.join(known)})"
        yield document.problem((*path, key), message, on_key=True)


def _describe(document: Document, path: JsonPath) -> str:
    """A readable name for a location: "token 'ds-read' scope", "store 'ci'", "policy.protect"."""
    if len(path) >= 2 and path[0] == "tokens" and isinstance(path[1], int):
        tokens = document.data.get("tokens") if isinstance(document.data, dict) else None
        entry = tokens[path[1]] if isinstance(tokens, list) and len(tokens) > path[1] else None
        name = entry.get("name") if isinstance(entry, dict) else None
        head = f"token {name!r}" if isinstance(name, str) else f"tokens[{path[1]}]"
        rest = ".".join(str(part) for part in path[2:])
        return f"{head} {rest}" if rest else head
    if len(path) == 2 and path[0] == "stores":
        return f"store {path[1]!r}"
    return ".".join(str(part) for part in path)


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


def _message(document: Document, path: JsonPath, error: ValidationError, keyword: str) -> str:
    name = _describe(document, path) or "the document"
    value = error.instance
    if keyword == "type":
        expected = error.validator_value
        wanted = " or ".join(
            _TYPE_WORDS.get(t, str(t))
            for t in (expected if isinstance(expected, list) else [expected])
        )
        message = f"{name} must be {wanted}, not {_type_of(value)}"
        written = document.source.get(path)
        if written is not None and not isinstance(value, str):
            message += f" (YAML reads `{written}` as {_type_of(value)}"
            if "string" in (expected if isinstance(expected, list) else [expected]):
                message += f': quote it: "{written}")'
            else:
                message += ")"
        elif expected == "array" and isinstance(value, str):
            message += f": write it as a list: {json.dumps([value])}"
        return message
    if keyword == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return f"{name} is missing required key {missing!r}"
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
            message += f" (YAML reads `{written}` as a boolean)"
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
    return f"{name}: {error.message}"


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, str) else str(value)
