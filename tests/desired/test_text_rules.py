"""Characters that could hide or forge text are refused wherever a spec holds text, and a user
is one PPM accepts."""

from __future__ import annotations

import pytest

from reconciler.desired.text_rules import MAX_EMAIL, MAX_EMAIL_LOCAL, MAX_LABEL, character_name

from .helpers import check, errors, messages, spec_with

UNSAFE = [
    pytest.param("\\e[8m", "\\x1b", "ESC", id="esc-hide"),
    pytest.param("\\e]0;pwned\\a", "\\x1b", "ESC", id="osc-title"),
    pytest.param("\\a", "\\x07", "BEL", id="bel"),
    pytest.param("\\r", "\\r", "carriage return", id="cr"),
    pytest.param("\\n", "\\n", "line feed", id="lf"),
    pytest.param("\\t", "\\t", "tab", id="tab"),
    pytest.param("\\x9b", "\\x9b", "CSI", id="c1-csi"),
    pytest.param("\\x85", "\\x85", "next line", id="c1-nel"),
    pytest.param("\\u202E", "\\u202e", "right-to-left override", id="rlo"),
    pytest.param("\\u202A", "\\u202a", "left-to-right embedding", id="lre"),
    pytest.param("\\u2066", "\\u2066", "left-to-right isolate", id="lri"),
    pytest.param("\\u2069", "\\u2069", "pop directional isolate", id="pdi"),
    pytest.param("\\u200B", "\\u200b", "zero width space", id="zero-width"),
    pytest.param("\\u2028", "\\u2028", "line separator", id="line-separator"),
]


@pytest.mark.parametrize(("written", "shown", "label"), UNSAFE)
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("user", "analyst{}@example.com"),
        ("description", "Read access{} for data science"),
        ("name", "ds{}read"),
        ("secret", "ds{}read"),
    ],
)
def test_unsafe_characters_are_refused_in_every_text_field(
    field: str, value: str, written: str, shown: str, label: str
) -> None:
    text = spec_with(**{field: '"' + value.format(written) + '"'})
    spec, problems = check(text)
    assert spec is None
    found = [p for p in errors(problems) if p.path == f"/tokens/0/{field}"]
    assert len(found) == 1, problems
    message = found[0].message
    assert f"contains {shown} ({label})" in message
    assert f" {field} " in message  # the field is named
    # The character itself never reaches the message, only its escape.
    assert message.isprintable()
    line = text.splitlines()[found[0].line - 1]
    assert line.lstrip(" -").startswith(f"{field}:")


def test_unsafe_characters_in_keys_and_other_values_are_refused() -> None:
    top = 'namespace: "team\\u202e"\n'
    text = spec_with(top=top, stores='stores:\n  "v\\e": {type: file, path: /srv/x}\n')
    _, problems = check(text)
    found = [(p.path, p.message) for p in errors(problems)]
    assert any(
        path == "/namespace" and "contains \\u202e (right-to-left override)" in message
        for path, message in found
    ), found
    assert any(
        path == "/stores/v\x1b" and message.startswith("key 'v\\x1b' in stores contains \\x1b")
        for path, message in found
    ), found


def test_a_command_store_argument_may_be_a_multi_line_script() -> None:
    stores = (
        "stores:\n"
        '  vault: {type: command, command: [sh, -c, "read v\\n\\tprintf \'%s\' \\"$v\\" > out"]}\n'
    )
    spec, problems = check(spec_with(stores=stores))
    assert problems == [] and spec is not None
    # Anything else that hides text is still refused there.
    stores = 'stores:\n  vault: {type: command, command: [sh, -c, "echo \\e[2J"]}\n'
    _, problems = check(spec_with(stores=stores))
    assert [p.path for p in errors(problems)] == ["/stores/vault/command/2"]


def test_characters_are_named_for_people() -> None:
    assert character_name("\x1b") == "ESC"
    assert character_name("\u202e") == "right-to-left override"
    assert character_name("\x91") == "U+0091"


@pytest.mark.parametrize("length", [100, 41])
def test_a_value_longer_than_an_excerpt_is_not_repeated_in_the_message(length: int) -> None:
    description = "x" * length + "\\e[8m"
    _, problems = check(spec_with(description=f'"{description}"'))
    assert messages(errors(problems)) == [
        f"token 'ds-read' description contains \\x1b (ESC) at character {length + 1}: control, "
        "bidirectional and invisible characters could hide or forge text where it is shown; "
        "remove it"
    ]


@pytest.mark.parametrize(
    ("user", "fragment"),
    [
        pytest.param(
            "a" * MAX_EMAIL_LOCAL + "@" + "b" * 60 + "." + "c" * 60 + "." + "d" * 60 + ".com",
            None,
            id="longest-local-part",
        ),
        pytest.param(
            "a" * (MAX_EMAIL_LOCAL + 1) + "@example.com", "64 characters before", id="local"
        ),
        pytest.param(
            "a" * 64 + "@" + "b" * 62 + "." + ".".join(["b" * 61] * 2) + ".com",
            "longer than 254 characters",
            id="email-255",
        ),
        pytest.param("c" * MAX_LABEL, None, id="longest-label"),
        pytest.param("c" * (MAX_LABEL + 1), "label of at most 128 characters, not 129", id="label"),
    ],
)
def test_user_lengths(user: str, fragment: str | None) -> None:
    spec, problems = check(spec_with(user=user))
    if fragment is None:
        assert problems == [] and spec is not None
        return
    assert spec is None
    assert len(errors(problems)) == 1, problems
    assert fragment in problems[0].message
    assert problems[0].message.startswith("token 'ds-read' user")
    assert problems[0].path == "/tokens/0/user"


def test_the_longest_email_is_254_characters() -> None:
    local = "a" * 64
    domain = ".".join(["b" * 61] * 3) + ".com"  # 64 + 1 + 189 = 254
    user = f"{local}@{domain}"
    assert len(user) == MAX_EMAIL
    spec, problems = check(spec_with(user=user))
    assert problems == [] and spec is not None


def test_a_long_key_is_quoted_as_an_excerpt() -> None:
    key = "k" * 300 + "\\e[2J"
    _, problems = check(spec_with(top=f'"{key}": 1\n'))
    [message] = [p.message for p in errors(problems) if "contains" in p.message]
    assert message.startswith("key '" + "k" * 40 + "'... (304 characters) contains \\x1b (ESC)")
