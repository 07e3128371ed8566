"""The spec's JSON Schema compiled into plain Python checks that can only say "valid".

jsonschema builds an error tree and walks every keyword through its generic machinery: right for
messages, slow for a valid 10,000-token spec. This module compiles the schema once into nested
closures that answer one question, is this document valid, for the data a spec can hold (dicts
with text keys, lists, text, numbers, booleans, null). Anything else in the data (a YAML date or
binary) raises Unsure, and anything else in the schema (a keyword not implemented here) makes
`compile_schema` return None: either way jsonschema decides. A False answer is only a reason to
ask jsonschema, which reports the problems; a True answer is exactly what jsonschema's Draft
2020-12 validator says for that document (tests/desired/test_two_paths.py compares them).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Check = Callable[[Any], bool]

# Keywords that say something about a schema but nothing about what is valid.
_ANNOTATIONS = frozenset(
    {
        "$schema",
        "$id",
        "$comment",
        "$defs",
        "title",
        "description",
        "default",
        "examples",
        "deprecated",
        "readOnly",
        "writeOnly",
        "errorMessage",  # this project's messages, read by reconciler.desired.schema
    }
)
_PLAIN = (str, int, float, bool, type(None), dict, list)
_REF = frozenset({"$ref"})
_TYPE = frozenset({"type"})
_ENUM = frozenset({"enum"})
_CONST = frozenset({"const"})
_STRING = frozenset({"pattern", "minLength", "maxLength"})
_NUMBER = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})
_ARRAY = frozenset({"items", "minItems", "maxItems", "uniqueItems"})
_OBJECT = frozenset(
    {
        "properties",
        "additionalProperties",
        "required",
        "propertyNames",
        "minProperties",
        "maxProperties",
        "dependentRequired",
    }
)
_COMBINED = frozenset({"allOf", "anyOf", "oneOf", "not"})
_CONDITIONAL = frozenset({"if", "then", "else"})
_KNOWN = _REF | _TYPE | _ENUM | _CONST | _STRING | _NUMBER | _ARRAY | _OBJECT | _COMBINED
_KNOWN |= _CONDITIONAL


class Unsure(Exception):
    """The data holds a value these checks do not judge (a date, bytes): ask jsonschema."""


class Unsupported(Exception):
    """The schema uses a keyword these checks do not implement."""


def compile_schema(root: Mapping[str, Any]) -> Check | None:
    """The whole-document check, or None when the schema needs what is not implemented."""
    try:
        return _Compiler(root).compile(root)
    except Unsupported:
        return None


def is_number(value: Any) -> bool:
    """A JSON number: an int or a float, but not a bool, nor NaN (YAML's `.nan`, which JSON
    cannot hold and every bound lets through)."""
    kind = type(value)
    return kind is int or (kind is float and not math.isnan(value))


def _is_type(name: str, value: Any) -> bool:
    kind = type(value)
    if kind not in _PLAIN:
        raise Unsure(kind.__name__)
    if name == "string":
        return kind is str
    if name == "object":
        return kind is dict
    if name == "array":
        return kind is list
    if name == "boolean":
        return kind is bool
    if name == "null":
        return value is None
    if name == "number":
        return is_number(value)
    if name == "integer":
        return kind is int or (kind is float and value.is_integer())
    raise Unsupported(f"type {name!r}")


def _equal(one: Any, two: Any) -> bool:
    """JSON equality: true is not 1, 1 is 1.0, lists and objects compare by content."""
    for value in (one, two):
        if type(value) not in _PLAIN:
            raise Unsure(type(value).__name__)
    if isinstance(one, str) or isinstance(two, str):
        return bool(one == two)
    if isinstance(one, list) and isinstance(two, list):
        return len(one) == len(two) and all(_equal(a, b) for a, b in zip(one, two, strict=True))
    if isinstance(one, dict) and isinstance(two, dict):
        return one.keys() == two.keys() and all(_equal(one[k], two[k]) for k in one)
    if isinstance(one, bool) or isinstance(two, bool):
        return one is two
    if isinstance(one, list | dict) or isinstance(two, list | dict):
        return False
    return bool(one == two)


def _unique(items: list[Any]) -> bool:
    if all(type(item) is str for item in items):
        return len(set(items)) == len(items)
    return not any(
        _equal(items[i], items[j]) for i in range(len(items)) for j in range(i + 1, len(items))
    )


def _all(checks: Sequence[Check]) -> Check:
    if not checks:
        return lambda value: True
    if len(checks) == 1:
        return checks[0]

    def every(value: Any) -> bool:
        return all(check(value) for check in checks)

    return every


class _Compiler:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self._root = root
        self._refs: dict[str, Check] = {}

    def compile(self, schema: Any) -> Check:
        if schema is True:
            return lambda value: True
        if schema is False:
            return lambda value: False
        if not isinstance(schema, dict):
            raise Unsupported(f"schema {schema!r}")
        unknown = set(schema) - _ANNOTATIONS - _KNOWN
        if unknown:
            raise Unsupported(", ".join(sorted(unknown)))
        checks: list[Check] = []
        for keywords, build in (
            (_REF, self._ref),
            (_TYPE, self._type),
            (_ENUM, self._enum),
            (_CONST, self._const),
            (_STRING, self._string),
            (_NUMBER, self._number),
            (_ARRAY, self._array),
            (_OBJECT, self._object),
            (_COMBINED, self._combined),
            (_CONDITIONAL, self._conditional),
        ):
            if not keywords.isdisjoint(schema):
                build(schema, checks)
        return _all(checks)

    # One builder per group of keywords that act together on one kind of value. -------------

    def _ref(self, schema: dict[str, Any], checks: list[Check]) -> None:
        pointer = schema["$ref"]
        if not isinstance(pointer, str) or not pointer.startswith("#/"):
            raise Unsupported(f"$ref {pointer!r}")
        if pointer not in self._refs:
            target: Any = self._root
            for escaped in pointer[2:].split("/"):
                part = escaped.replace("~1", "/").replace("~0", "~")
                if not isinstance(target, dict) or part not in target:
                    raise Unsupported(f"$ref {pointer!r}")
                target = target[part]
            # Known before it is compiled, so that a schema referring to itself compiles.
            compiled: list[Check] = []

            def referred(value: Any) -> bool:
                return compiled[0](value)

            self._refs[pointer] = referred
            compiled.append(self.compile(target))
        checks.append(self._refs[pointer])

    def _type(self, schema: dict[str, Any], checks: list[Check]) -> None:
        wanted = schema["type"]
        names = tuple(wanted) if isinstance(wanted, list) else (wanted,)
        for name in names:
            _is_type(name, None)  # an unknown name is Unsupported now, not at validation
        checks.append(lambda value: any(_is_type(name, value) for name in names))

    def _enum(self, schema: dict[str, Any], checks: list[Check]) -> None:
        options = tuple(schema["enum"])
        if all(type(option) is str for option in options):
            strings = frozenset(options)

            def in_enum(value: Any) -> bool:
                if type(value) is str:
                    return value in strings
                return any(_equal(value, option) for option in options)

            checks.append(in_enum)
        else:
            checks.append(lambda value: any(_equal(value, option) for option in options))

    def _const(self, schema: dict[str, Any], checks: list[Check]) -> None:
        constant = schema["const"]
        checks.append(lambda value: _equal(value, constant))

    def _string(self, schema: dict[str, Any], checks: list[Check]) -> None:
        pattern = re.compile(schema["pattern"]) if "pattern" in schema else None
        shortest = schema.get("minLength")
        longest = schema.get("maxLength")

        def string_ok(value: Any) -> bool:
            if type(value) is not str:
                _is_type("string", value)  # Unsure about what is not plain data
                return True
            if shortest is not None and len(value) < shortest:
                return False
            if longest is not None and len(value) > longest:
                return False
            return pattern is None or pattern.search(value) is not None

        checks.append(string_ok)

    def _number(self, schema: dict[str, Any], checks: list[Check]) -> None:
        bounds = {key: schema[key] for key in _NUMBER if key in schema}

        def number_ok(value: Any) -> bool:
            if not _is_type("number", value):
                return True
            return (
                ("minimum" not in bounds or value >= bounds["minimum"])
                and ("maximum" not in bounds or value <= bounds["maximum"])
                and ("exclusiveMinimum" not in bounds or value > bounds["exclusiveMinimum"])
                and ("exclusiveMaximum" not in bounds or value < bounds["exclusiveMaximum"])
            )

        checks.append(number_ok)

    def _array(self, schema: dict[str, Any], checks: list[Check]) -> None:
        item_ok = self.compile(schema["items"]) if "items" in schema else None
        fewest = schema.get("minItems")
        most = schema.get("maxItems")
        unique = schema.get("uniqueItems") is True

        def array_ok(value: Any) -> bool:
            if type(value) is not list:
                _is_type("array", value)
                return True
            if fewest is not None and len(value) < fewest:
                return False
            if most is not None and len(value) > most:
                return False
            if unique and not _unique(value):
                return False
            return item_ok is None or all(item_ok(item) for item in value)

        checks.append(array_ok)

    def _object(self, schema: dict[str, Any], checks: list[Check]) -> None:
        properties = {name: self.compile(sub) for name, sub in schema.get("properties", {}).items()}
        additional = schema.get("additionalProperties", True)
        extra_ok = None if additional is True else self.compile(additional)
        required = tuple(schema.get("required", ()))
        name_ok = self.compile(schema["propertyNames"]) if "propertyNames" in schema else None
        fewest = schema.get("minProperties")
        most = schema.get("maxProperties")
        dependent = {
            key: tuple(needs) for key, needs in schema.get("dependentRequired", {}).items()
        }

        def object_ok(value: Any) -> bool:
            if type(value) is not dict:
                _is_type("object", value)
                return True
            if fewest is not None and len(value) < fewest:
                return False
            if most is not None and len(value) > most:
                return False
            for key in required:
                if key not in value:
                    return False
            for key, needs in dependent.items():
                if key in value and any(need not in value for need in needs):
                    return False
            for key, item in value.items():
                if name_ok is not None and not name_ok(key):
                    return False
                check = properties.get(key)
                if check is not None:
                    if not check(item):
                        return False
                elif extra_ok is not None and not extra_ok(item):
                    return False
            return True

        checks.append(object_ok)

    def _combined(self, schema: dict[str, Any], checks: list[Check]) -> None:
        if "allOf" in schema:
            checks.append(_all([self.compile(sub) for sub in schema["allOf"]]))
        if "anyOf" in schema:
            any_of = tuple(self.compile(sub) for sub in schema["anyOf"])
            checks.append(lambda value: any(part(value) for part in any_of))
        if "oneOf" in schema:
            one_of = tuple(self.compile(sub) for sub in schema["oneOf"])
            checks.append(lambda value: sum(1 for part in one_of if part(value)) == 1)
        if "not" in schema:
            negated = self.compile(schema["not"])
            checks.append(lambda value: not negated(value))

    def _conditional(self, schema: dict[str, Any], checks: list[Check]) -> None:
        if "if" not in schema:
            return  # then/else without if have no effect
        condition = self.compile(schema["if"])
        then = self.compile(schema["then"]) if "then" in schema else None
        otherwise = self.compile(schema["else"]) if "else" in schema else None

        def conditional_ok(value: Any) -> bool:
            if condition(value):
                return then is None or then(value)
            return otherwise is None or otherwise(value)

        checks.append(conditional_ok)
