"""Store settings `validate` checks offline: where a store writes, the AWS region it signs for,
the Vault mount and namespace it reaches, the GitHub target it names, and the variables a
command store's programs get. One table per setting: accepted values and refused ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.desired import check_file

from .helpers import NOW, check, errors, no_git, spec_with

VAULT = "  vault: {type: vault, address: https://vault.example.com, mount: secret, prefix: ppm/}\n"


def problems_of(store: str, *, top: str = "") -> list[tuple[str, str]]:
    """(JSON path, message) of every error of a spec declaring `store` (a YAML mapping) as
    store `s` beside a plain vault store its token uses."""
    _, found = check(spec_with(top=top, stores=f"stores:\n{VAULT}  s: {store}\n"))
    return [(p.path, p.message) for p in errors(found)]


def assert_verdict(store: str, path: str, fragment: str | None, *, top: str = "") -> None:
    found = problems_of(store, top=top)
    if fragment is None:
        assert found == []
    else:
        assert len(found) == 1, found
        assert found[0][0] == path
        assert fragment in found[0][1]


@pytest.mark.parametrize(
    ("region", "endpoint", "fragment"),
    [
        ("eu-west-1", False, None),
        ("us-gov-west-1", False, None),
        ("us-isob-east-1", False, None),
        ("cn-northwest-1", False, None),
        ("ap-southeast-7", False, None),
        ("eusc-de-east-1", False, None),
        ("Ireland", False, "is not an AWS region name: write its code, like eu-west-1"),
        ("eu-west", False, "is not an AWS region name"),
        ("EU-WEST-1", False, "is not an AWS region name"),
        ("eu_west_1", False, "is not an AWS region name"),
        ("local", True, None),  # an emulator behind endpoint_url takes any name
        ("us-east-1", True, None),
        ("my region", True, "is not a region name: letters, digits and '-'"),
    ],
)
def test_aws_region(region: str, endpoint: bool, fragment: str | None) -> None:
    url = ', endpoint_url: "http://127.0.0.1:5000"' if endpoint else ""
    store = f"{{type: aws, region: '{region}', prefix: ppm/{url}}}"
    assert_verdict(store, "/stores/s/region", fragment)


def test_a_dynamodb_locks_region_is_checked_the_same_way() -> None:
    _, found = check(spec_with(top="lock: {type: dynamodb, table: locks, region: Frankfurt}\n"))
    assert [(p.path, p.message.split(":")[0]) for p in errors(found)] == [
        ("/lock/region", "lock region 'Frankfurt' is not an AWS region name")
    ]


@pytest.mark.parametrize(
    ("mount", "fragment"),
    [
        ("secret", None),
        ("secret/", None),
        ("team/kv", None),
        ("kv-v2", None),
        ("sys/kv", "starts with sys/, a path of Vault's own"),
        ("auth/kv", "starts with auth/"),
        ("/cubbyhole", "starts with cubbyhole/"),
        ("secret/..", "has a '.' or '..' segment: name the KV v2 mount"),
        ("kv//team", "has an empty segment"),
        ("kv v2", "has characters a mount path cannot safely hold"),
        ("kv*", "has characters a mount path cannot safely hold"),
    ],
)
def test_vault_mount(mount: str, fragment: str | None) -> None:
    store = f"{{type: vault, address: https://v.example.com, mount: '{mount}', prefix: ppm/}}"
    assert_verdict(store, "/stores/s/mount", fragment)


@pytest.mark.parametrize(
    ("namespace", "fragment"),
    [
        ("admin", None),
        ("admin/data-platform/", None),
        ("/admin", None),
        ("root", None),
        ("data platform", "has spaces or characters other than printable ASCII"),
        ("équipe", "has spaces or characters other than printable ASCII"),
        ("admin/sys", "has the segment 'sys', which Vault reserves"),
        ("admin//team", "has an empty segment"),
        ("admin/..", "has a '.' or '..' segment"),
    ],
)
def test_vault_namespace(namespace: str, fragment: str | None) -> None:
    store = (
        "{type: vault, address: https://v.example.com, mount: secret, prefix: ppm/, "
        f"namespace: '{namespace}'}}"
    )
    assert_verdict(store, "/stores/s/namespace", fragment)


@pytest.mark.parametrize(
    ("auth_mount", "fragment"),
    [
        ("jwt", None),
        ("github/prod", None),
        ("../sys", "has a '.' or '..' segment: write the path the auth method is mounted at"),
        ("jwt//x", "has an empty segment"),
    ],
)
def test_vault_auth_mount(auth_mount: str, fragment: str | None) -> None:
    store = (
        "{type: vault, address: https://v.example.com, mount: secret, prefix: ppm/, "
        f"auth_method: approle, auth_mount: '{auth_mount}'}}"
    )
    assert_verdict(store, "/stores/s/auth_mount", fragment)


REPOSITORY = "use OWNER/REPO as GitHub spells them"


@pytest.mark.parametrize(
    ("repository", "fragment"),
    [
        ("acme/pipelines", None),
        ("Acme-Corp/repo.name_2", None),
        ("octocat_acme/pipelines", None),  # an Enterprise Managed User
        ("acme/.github", None),
        ("a" * 39 + "/r", None),
        ("acme/" + "r" * 100, None),
        ("a" * 40 + "/r", REPOSITORY),
        ("-acme/pipelines", REPOSITORY),
        ("acme-/pipelines", REPOSITORY),
        ("ac--me/pipelines", REPOSITORY),
        ("acme/..", REPOSITORY),
        ("../..", REPOSITORY),
        ("acme/.", REPOSITORY),
        ("acme/pipe line", REPOSITORY),
        ("acme/" + "r" * 101, REPOSITORY),
        ("acme", REPOSITORY),
    ],
)
def test_github_repository(repository: str, fragment: str | None) -> None:
    assert_verdict(
        f"{{type: github, repository: '{repository}'}}", "/stores/s/repository", fragment
    )
    selected = (
        "{type: github, organization: acme, visibility: selected, "
        f"selected_repositories: ['{repository}']}}"
    )
    assert_verdict(selected, "/stores/s/selected_repositories/0", fragment)


@pytest.mark.parametrize(
    ("organization", "fragment"),
    [
        ("acme", None),
        ("acme-corp", None),
        ("a" * 39, None),
        ("a" * 40, "use the organization's login"),
        ("acme_corp", "use the organization's login"),
        ("-acme", "use the organization's login"),
        ("acme-", "use the organization's login"),
        ("acme/pipelines", "use the organization's login"),
    ],
)
def test_github_organization(organization: str, fragment: str | None) -> None:
    assert_verdict(
        f"{{type: github, organization: '{organization}'}}", "/stores/s/organization", fragment
    )


@pytest.mark.parametrize(
    ("environment", "fragment"),
    [
        ("production", None),
        ("Production EU", None),
        ("e" * 255, None),
        ("e" * 256, "GitHub environment names have at most 255 characters"),
    ],
)
def test_github_environment(environment: str, fragment: str | None) -> None:
    store = f"{{type: github, repository: acme/pipelines, environment: '{environment}'}}"
    assert_verdict(store, "/stores/s/environment", fragment)


OWN = "so it needs one of its own"


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("~/.local/share/ppm-tokens", None),
        ("/var/lib/ppm-tokens", None),
        ("ppm-tokens", None),  # beside the spec, in /nonexistent
        (
            "~",
            f"~ is the home directory: the store writes and deletes files in its directory, {OWN}",
        ),
        ("~/", "is the home directory"),
        ("~/.config", "is ~/.config, where other programs keep files"),
        ("/", "is the filesystem root"),
        ("/tmp", "is a temporary directory every program shares"),
        ("/var/tmp/", "is a temporary directory every program shares"),
        ("/home/alice", "is a home directory"),
        ("/opt", "is a directory right below the filesystem root"),
        ("..", "is the filesystem root"),  # from /nonexistent
        ("~/..", "holds the home directory"),
        ("~/../..", "holds the home directory"),
        ("~/x/../..", "holds the home directory"),
        ("~/../alice", None),  # another home at run time, when the real home is known
    ],
)
def test_a_file_stores_directory_must_be_its_own(path: str, fragment: str | None) -> None:
    assert_verdict(f"{{type: file, path: '{path}'}}", "/stores/s/path", fragment)


def test_a_relative_path_is_checked_from_a_spec_named_relatively(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`-f tokens.yaml`, as CI names it: `..` enough times from the checkout is the root."""
    monkeypatch.chdir(tmp_path)
    up = "../" * (len(tmp_path.parts) + 2)
    Path("tokens.yaml").write_text(
        spec_with(stores=f"stores:\n{VAULT}  s: {{type: file, path: '{up}'}}\n")
    )
    _, found = check_file(Path("tokens.yaml"), now=NOW, git_root_of=no_git)
    assert [(p.path, p.message.split(":")[1].strip()) for p in errors(found)] == [
        ("/stores/s/path", f"{up} is the filesystem root")
    ]


def test_a_command_stores_state_dir_must_be_its_own() -> None:
    store = "{type: command, command: [op], state_dir: '~'}"
    assert_verdict(store, "/stores/s/state_dir", "(or leave state_dir out for its default)")


@pytest.mark.parametrize(
    ("variable", "fragment"),
    [
        ("OP_SERVICE_ACCOUNT_TOKEN", None),
        ("VAULT_TOKEN", None),  # a program may write to Vault itself: its own credential
        ("PACKAGEMANAGER_TOKEN", "holds a PPM global:admin token for this run"),
        ("PPM_EU_TOKEN", "holds a PPM global:admin token for this run"),
        ("PPM_TOKENS_SECRET", "starts with PPM_TOKENS_, which the store sets itself"),
        ("not-a-name", "the name of an environment variable"),
    ],
)
def test_command_env_never_names_an_admin_token(variable: str, fragment: str | None) -> None:
    store = f"{{type: command, command: [op], env: [HOME, '{variable}']}}"
    top = "server: {token_env: PPM_EU_TOKEN}\n"
    assert_verdict(store, "/stores/s/env/1", fragment, top=top)
