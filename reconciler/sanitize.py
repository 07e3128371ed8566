"""One sanitiser for every string that comes from a server, a spec or a store before it is shown.

A token's `user` or `description` is chosen by whoever created it, possibly out of band and with
hostile intent. Rendered raw, an ESC sequence can hide a plan line (ESC[8m), retitle a terminal or
move the cursor to overwrite a line; a CR or LF can forge a whole extra line; a bidirectional
override can make `revoke` read as something else; Markdown can break out of a table cell or a
`<details>` summary. So each renderer passes such text through exactly one of:

    for_terminal(text)   text output and logs: control, bidi and invisible characters escaped
                         visibly (`\\x1b`, `\\n`, `\\u202e`), backslashes doubled so an escape
                         cannot be forged
    for_markdown(text)   for_terminal, then Markdown and HTML special characters escaped, so the
                         text stays inside its table cell, list item or heading
    for_code_span(text)  for_terminal, then HTML special characters escaped: for text inside an
                         HTML block (`<details>`), where Markdown is not read

All three are pure and total: any str in, a printable one-line str out.

A message that quotes input (a spec value, a saved plan's field, a key a tool printed) quotes
at most an excerpt of it, `quoted(value)`: the first EXCERPT characters, escaped, and how long
the whole was. Whatever a file holds, an error about it cannot print it: a spec that is a link
to a credentials file, or a plan file holding one, is not echoed back into a CI log.
"""

from __future__ import annotations

import re
import unicodedata

# Characters that change how the rest of the line is shown rather than showing themselves.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Also letters and marks that render as nothing (Hangul fillers, the combining grapheme joiner):
# they make a user or name look empty or like another one.
_INVISIBLE = frozenset(
    "\u00ad\u034f\u115f\u1160\u17b4\u17b5\u180e\u200b\u200c\u200d\u2028\u2029\u2060"
    "\u3164\uffa0\ufeff"
)
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# The most characters of one input value a message quotes.
EXCERPT = 40
# The most characters of a sentence a library or a tool wrote about the input (PyYAML's,
# jsonschema's) that a message passes on: theirs quote the input too, whole.
WORDING = 80
# The most characters of a file name a document records (a saved plan's spec_path).
PATH_EXCERPT = 160


def unsafe_character(char: str) -> bool:
    """Whether `char` must not reach a terminal or a rendered document as itself: C0 and C1
    controls, DEL, bidirectional controls, zero-width and line/paragraph separators, and any
    other format (Cf) or unassigned/private code point that renders as nothing."""
    code = ord(char)
    if code < 0x20 or 0x7F <= code <= 0x9F:
        return True
    if char in _BIDI or char in _INVISIBLE:
        return True
    return unicodedata.category(char) in ("Cf", "Cs", "Co", "Cn", "Zl", "Zp")


def _escape(char: str) -> str:
    if char in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[char]
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def has_unsafe_characters(text: str) -> bool:
    if text.isascii():
        # Among ASCII characters exactly the C0 controls and DEL are unsafe, and exactly those
        # are not printable: a C-speed answer for the common case.
        return not text.isprintable()
    return any(unsafe_character(char) for char in text)


def for_terminal(text: str) -> str:
    """`text` with every unsafe character shown as an escape. A literal backslash is doubled,
    so `\\x1b` typed by an attacker cannot pass for an escaped ESC."""
    if "\\" not in text and (
        (text.isascii() and text.isprintable()) or not has_unsafe_characters(text)
    ):
        return text  # the common case (printable ASCII holds nothing unsafe), kept cheap
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif unsafe_character(char):
            out.append(_escape(char))
        else:
            out.append(char)
    return "".join(out)


# Everything CommonMark treats as punctuation that can start or end markup, plus `|` (GFM tables).
# Not `<`, `>` and `&`: they become entities below, and a backslash before an entity would make
# it show as text ("\\&gt;" reads "&gt;").
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~:@$=\"'])")


def _html_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def for_markdown(text: str) -> str:
    """`text` safe inside Markdown inline content (a paragraph, a heading, a list item, a GFM
    table cell, inline HTML such as `<code>` within them): unsafe characters escaped as for the
    terminal (shown, not interpreted), Markdown punctuation backslash-escaped, `&`, `<` and `>`
    as entities. Autolinks (a bare URL or e-mail address GitHub would link) are broken by the
    escaped `:`, `.` and `@`. Inside an HTML block such as `<details>`, where Markdown is not
    read and a backslash would show, use `for_code_span`."""
    return _html_text(_MARKDOWN_SPECIAL.sub(r"\\\1", for_terminal(text)))


def for_code_span(text: str) -> str:
    """`text` for HTML where Markdown is not read: a `<code>` element or any text inside an HTML
    block such as `<details>` (not a backtick span, which cannot hold every string). Escaped for
    the terminal, then as HTML text."""
    return _html_text(for_terminal(text))


def excerpt(text: str, limit: int = EXCERPT) -> str:
    """At most `limit` characters of `text`, escaped for the terminal, then "..." and the whole
    length when it was cut: `abc... (1,234 characters)`."""
    if len(text) <= limit:
        return for_terminal(text)
    return f"{for_terminal(text[:limit])}... ({len(text):,} characters)"


def cut(text: str, limit: int = WORDING) -> str:
    """A sentence someone else wrote about the input, cut to `limit` characters: its quotes of
    the input are `repr`-escaped already, or escaped where the message is shown."""
    return text if len(text) <= limit else text[:limit] + "..."


def quoted(value: object, limit: int = EXCERPT) -> str:
    """`value` as `repr` quotes it (`'ds-read'`, control characters escaped), cut to an excerpt
    when long: the way a message names a value it was given. What `repr` leaves as itself but a
    terminal would not show (a bidi control, a Hangul filler) is escaped too; `repr` has already
    doubled every backslash, so no escape can be forged."""
    text = value if isinstance(value, str) else repr(value)
    cut = value if len(text) <= limit else text[:limit]
    shown = "".join(_escape(char) if unsafe_character(char) else char for char in repr(cut))
    return shown if cut is value else f"{shown}... ({len(text):,} characters)"
