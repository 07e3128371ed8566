"""Reading a store's spec options (already schema-checked) into typed values, with messages that
name the store and the option when a hand-built config is wrong anyway; and a path option as the
store (or the lock kept beside it) opens it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from reconciler.deadline import STORE_SECONDS, seconds_setting
from reconciler.desired.model import StoreConfig
from reconciler.errors import StoreError


def text(config: StoreConfig, option: str, default: str | None = None) -> str | None:
    value = config.options.get(option, default)
    if value is None:
        return None
    if not isinstance(value, str):
        raise StoreError(f"store '{config.name}' ({config.type}): {option!r} must be a string")
    return value


def required_text(config: StoreConfig, option: str, *, hint: str) -> str:
    value = text(config, option)
    if not value:
        raise StoreError(f"store '{config.name}' ({config.type}) needs {option!r}: {hint}")
    return value


def integer(config: StoreConfig, option: str, default: int) -> int:
    value = config.options.get(option, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise StoreError(f"store '{config.name}' ({config.type}): {option!r} must be a number")
    return value


def timeout_setting(config: StoreConfig) -> str:
    """How messages name the store's deadline, so that they say what to change."""
    return f"stores.{config.name}.timeout"


def timeout(config: StoreConfig, default: float = STORE_SECONDS) -> float:
    """The store's `timeout`: seconds each call to it may take, retries included."""
    try:
        return seconds_setting(config.options.get("timeout"), timeout_setting(config), default)
    except ValueError as exc:
        raise StoreError(f"store '{config.name}' ({config.type}): {exc}") from None


def strings(config: StoreConfig, option: str) -> tuple[str, ...]:
    value = config.options.get(option, ())
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise StoreError(
            f"store '{config.name}' ({config.type}): {option!r} must be a list of strings"
        )
    return tuple(str(v) for v in value)


def string_map(config: StoreConfig, option: str) -> dict[str, str]:
    value = config.options.get(option, {})
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise StoreError(
            f"store '{config.name}' ({config.type}): {option!r} must map strings to strings"
        )
    return dict(value)


def expand_path(text: str, *, base: Path, env: Mapping[str, str]) -> Path:
    """`~` from the given environment's HOME; a relative path against `base` (the spec's dir)."""
    if text == "~" or text.startswith("~/"):
        home = env.get("HOME")
        if not home:
            raise StoreError(f"path {text!r} starts with ~ but HOME is not set")
        text = home + text[1:]
    elif text.startswith("~"):
        raise StoreError(f"path {text!r}: only ~ or ~/ is understood, not ~user")
    path = Path(text)
    return path if path.is_absolute() else base / path
