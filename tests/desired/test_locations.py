"""Where a declared secret lives: two spellings of one place are one place, per store type."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from reconciler.desired.locations import DeclaredSecret, SecretLocation, secret_locations

VAULT = {"address": "https://vault.example.com", "mount": "secret", "prefix": "ppm/"}
REPO = {"repository": "acme/pipelines"}
OP = ["op", "item", "edit", "{secret}"]

Declared = tuple[str, Mapping[str, object], str]  # store type, options, key


def places(
    declared: Declared, base: Path, env: Mapping[str, str], token: str = "reader"
) -> set[SecretLocation]:
    kind, options, key = declared
    return set(secret_locations(DeclaredSecret("s", kind, options, key, token, base, env)))


@pytest.mark.parametrize(
    ("one", "other", "env"),
    [
        pytest.param(
            ("file", {"path": "/srv/ppm"}, "a"),
            ("file", {"path": "/srv/ppm/"}, "a"),
            {},
            id="file-slash",
        ),
        pytest.param(
            ("file", {"path": "/srv/ppm"}, "team/a"),
            ("file", {"path": "/srv/ppm/team"}, "a"),
            {},
            id="file-key-through-the-directory",
        ),
        pytest.param(
            ("file", {"path": "{base}/secrets"}, "a"),
            ("file", {"path": "./secrets"}, "a"),
            {},
            id="file-relative-to-the-spec",
        ),
        pytest.param(
            ("vault", VAULT, "a"),
            ("vault", {**VAULT, "address": "https://VAULT.example.com:443/"}, "a"),
            {},
            id="vault-address-spelling",
        ),
        pytest.param(
            ("vault", VAULT, "a"),
            ("vault", {**VAULT, "address": "HTTPS://vault.example.com./"}, "a"),
            {},
            id="vault-address-scheme-case-and-absolute-name",
        ),
        pytest.param(
            ("vault", {**VAULT, "prefix": "ppm/x/"}, "y"),
            ("vault", VAULT, "x/y"),
            {},
            id="vault-prefix",
        ),
        pytest.param(
            ("vault", VAULT, "a"),
            ("vault", {**VAULT, "mount": "/secret/"}, "a"),
            {},
            id="vault-mount",
        ),
        pytest.param(
            ("vault", VAULT, "a"),
            ("vault", {**VAULT, "address": "https://vault-eu.example.com"}, "a"),
            {"VAULT_ADDR": "https://vault.example.com"},
            id="vault-addr-overrides-both",
        ),
        pytest.param(
            ("aws", {"region": "eu-west-1", "prefix": "ppm/x/"}, "y"),
            ("aws", {"prefix": "ppm/"}, "x/y"),
            {"AWS_REGION": "eu-west-1"},
            id="aws-prefix-and-region-from-the-environment",
        ),
        pytest.param(
            ("github", REPO, "PPM"),
            (
                "github",
                {"repository": "Acme/Pipelines", "api_url": "https://api.github.com/"},
                "PPM",
            ),
            {},
            id="github-case-and-api",
        ),
        pytest.param(
            ("github", {**REPO, "environment": "Production"}, "PPM"),
            ("github", {**REPO, "environment": "production"}, "ppm"),
            {},
            id="github-environment-case",
        ),
        pytest.param(
            ("command", {"command": OP}, "ppm/a"),
            ("command", {"command": ["op", "item", "edit", "ppm/{secret}"]}, "a"),
            {},
            id="command-argv",
        ),
        pytest.param(
            ("command", {"command": ["store-it"], "state_dir": "/srv/ppm"}, "a"),
            ("file", {"path": "/srv/ppm/"}, "a"),
            {},
            id="command-metadata-file-in-a-file-store",
        ),
    ],
)
def test_one_place_written_two_ways(
    one: Declared, other: Declared, env: Mapping[str, str], tmp_path: Path
) -> None:
    kind, options, key = one
    written = {
        k: v.replace("{base}", str(tmp_path)) if k == "path" else v for k, v in options.items()
    }
    one = (kind, written, key)
    assert places(one, tmp_path, env) & places(other, tmp_path, env)


@pytest.mark.parametrize(
    ("one", "other", "env"),
    [
        pytest.param(
            ("file", {"path": "/srv/a"}, "x"), ("file", {"path": "/srv/b"}, "x"), {}, id="file"
        ),
        pytest.param(
            ("vault", VAULT, "a"),
            ("vault", {**VAULT, "address": "https://vault-eu.example.com"}, "a"),
            {},
            id="vault-address",
        ),
        pytest.param(
            ("vault", VAULT, "a"), ("vault", {**VAULT, "namespace": "team"}, "a"), {}, id="vault-ns"
        ),
        pytest.param(
            ("vault", VAULT, "a"), ("vault", {**VAULT, "mount": "kv"}, "a"), {}, id="vault-mount"
        ),
        pytest.param(
            ("aws", {"region": "eu-west-1"}, "a"),
            ("aws", {"region": "us-east-1"}, "a"),
            {},
            id="aws-region",
        ),
        pytest.param(
            ("github", REPO, "PPM"),
            ("github", {"organization": "acme"}, "PPM"),
            {},
            id="github-org",
        ),
        pytest.param(
            ("github", REPO, "PPM"),
            ("github", {**REPO, "environment": "production"}, "PPM"),
            {},
            id="github-environment",
        ),
        pytest.param(
            ("command", {"command": ["store-it"]}, "a"),
            ("command", {"command": ["store-it"]}, "b"),
            {"HOME": "/home/ci"},
            id="command-told-the-key",
        ),
    ],
)
def test_other_places_stay_apart(
    one: Declared, other: Declared, env: Mapping[str, str], tmp_path: Path
) -> None:
    assert not places(one, tmp_path, env) & places(other, tmp_path, env)


def test_a_file_store_reached_through_a_symbolic_link_is_its_directory(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    one = places(("file", {"path": str(tmp_path / "real")}, "a"), tmp_path, {})
    assert one == places(("file", {"path": "link"}, "a"), tmp_path, {})


def test_two_command_stores_share_a_default_state_dir_by_name(tmp_path: Path) -> None:
    """Without state_dir, a store's metadata lives in a directory named after the store, the
    same for every spec: two specs with a command store of one name share it."""
    first = places(("command", {"command": ["a"]}, "k"), tmp_path, {})
    second = places(("command", {"command": ["b"]}, "k"), tmp_path / "other", {})
    [shared] = first & second
    assert shared.shown == "the metadata of k in the default state_dir of store s"
    env = {"HOME": "/home/ci"}
    [found] = places(("command", {"command": ["a"]}, "k"), tmp_path, env) & places(
        ("file", {"path": "/home/ci/.local/state/ppm-tokens/s"}, "k"), tmp_path, env
    )
    assert found.place == ("file", "/home/ci/.local/state/ppm-tokens/s/k")
