"""What a `command` store's declaration means, offline: which environment variables its programs
get, the argv its templates become, where it keeps its state by default.

Pure functions of strings, so `validate` checks a spec's `env:` offline with the same rule the
store applies when it opens, and `reconciler.desired.locations` reads where a secret goes without
opening the store.

A program gets an environment built from an allow-list, never the caller's environment minus
some names: the caller's holds the run's global:admin token (PACKAGEMANAGER_TOKEN, or the
variable a spec's `server.token_env` names) and whatever else the job was given, and a program
that stores a secret needs none of that. The allow-list is what a program needs to start, find
its own configuration and reach the network as the caller does; the store's `env:` names what
its own tools need besides (1Password's OP_SERVICE_ACCOUNT_TOKEN, pass's PASSWORD_STORE_DIR).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from reconciler.errors import StoreError

# The variable the admin token comes from when a spec names no `server.token_env`.
ADMIN_TOKEN_VARIABLE = "PACKAGEMANAGER_TOKEN"

PASSED_VARIABLES = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TMPDIR",
        "XDG_CONFIG_HOME",
        "XDG_DATA_HOME",
        "XDG_STATE_HOME",
        "XDG_CACHE_HOME",
        "XDG_RUNTIME_DIR",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "all_proxy",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
    }
)
PASSED_PREFIXES = ("LC_",)  # the locale categories: LC_ALL, LC_CTYPE, ...
# Set by the store itself for each run (the action, the key, the token's metadata).
OWN_PREFIX = "PPM_TOKENS_"

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PLACEHOLDER = re.compile(r"\{(secret|name)\}")


def is_variable_name(name: str) -> bool:
    return _NAME.match(name) is not None


def env_name_problem(name: str, withheld: Iterable[str]) -> str | None:
    """Why `name` cannot be listed in a command store's `env:`; None when it can. `withheld` are
    the variables the run takes an admin token from."""
    if not is_variable_name(name):
        return "is not the name of an environment variable (letters, digits and _)"
    if name in set(withheld):
        return (
            "holds a PPM global:admin token for this run, which no store program is given: "
            "remove it from env"
        )
    if name.startswith(OWN_PREFIX):
        return f"starts with {OWN_PREFIX}, which the store sets itself for each run"
    return None


def program_environment(
    caller: Mapping[str, str], extra: Iterable[str], withheld: Iterable[str]
) -> dict[str, str]:
    """The caller's values of the allow-listed variables and of `extra` (already checked with
    env_name_problem), and nothing else: never a `withheld` one, even when a spec's
    `server.token_env` happens to look like an allow-listed name (LC_PPM_TOKEN)."""
    wanted = PASSED_VARIABLES | set(extra)
    refused = set(withheld)
    return {
        name: value
        for name, value in caller.items()
        if (name in wanted or name.startswith(PASSED_PREFIXES)) and name not in refused
    }


def command_argv(template: Sequence[str], *, secret: str, name: str) -> list[str]:
    """`template` with `{secret}` and `{name}` filled in: what runs, and where the secret goes
    (reconciler.desired.locations)."""
    values = {"secret": secret, "name": name}
    # One pass, so a key that itself contains "{name}" stays literal.
    return [_PLACEHOLDER.sub(lambda m: values[m[1]], part) for part in template]


def default_state_dir(store: str, env: Mapping[str, str]) -> Path:
    state_home = env.get("XDG_STATE_HOME")
    if state_home and Path(state_home).is_absolute():
        return Path(state_home) / "ppm-tokens" / store
    home = env.get("HOME")
    if not home:
        raise StoreError(
            f"store '{store}': HOME is not set, so there is no default state_dir: set state_dir"
        )
    return Path(home) / ".local" / "state" / "ppm-tokens" / store
