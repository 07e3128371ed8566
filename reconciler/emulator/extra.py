"""Whether the `emulator` extra is installed: `demo` and `emulator` say which extra to install
rather than ending in an ImportError traceback (`pipx install ppm-token-reconciler` without
it)."""

from __future__ import annotations

import importlib.util

from reconciler.errors import UsageError

# What the emulator imports beyond the base dependencies (pyproject.toml, extra `emulator`).
MODULES = ("starlette", "uvicorn", "cryptography")


def require_emulator_extra(command: str) -> None:
    missing = [name for name in MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(
            f"`ppm-tokens {command}` runs the emulator, which needs {', '.join(missing)}: install "
            "the emulator extra, e.g. pipx install 'ppm-token-reconciler[emulator]' (or pip "
            "install 'ppm-token-reconciler[emulator]')"
        )


def require_pip() -> None:
    """The demo proves tokens with real pip, which some environments lack (`uv tool`)."""
    if importlib.util.find_spec("pip") is None:
        raise UsageError(
            "`ppm-tokens demo` proves each token with pip, which this environment lacks: "
            "install it beside ppm-tokens (uv tool install --with pip "
            "'ppm-token-reconciler[emulator]')"
        )
