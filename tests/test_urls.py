"""One identity per server URL: the spellings of one server are one, other servers stay apart."""

from __future__ import annotations

import pytest

from reconciler.urls import UrlError, canonical_url, server_identity, without_credentials

PPM = "https://ppm.example.com"


@pytest.mark.parametrize(
    ("written", "identity"),
    [
        pytest.param(PPM, PPM, id="already-canonical"),
        pytest.param("HTTPS://PPM.Example.COM", PPM, id="scheme-and-host-case"),
        pytest.param("https://ppm.example.com:443", PPM, id="https-default-port"),
        pytest.param(
            "http://ppm.example.com:80/", "http://ppm.example.com", id="http-default-port"
        ),
        pytest.param("https://ppm.example.com//", PPM, id="trailing-slashes"),
        pytest.param("  https://ppm.example.com/\n", PPM, id="surrounding-space"),
        pytest.param("https://ppm.example.com:8443", f"{PPM}:8443", id="other-port-kept"),
        pytest.param("http://ppm.example.com:443", "http://ppm.example.com:443", id="443-on-http"),
        pytest.param(f"{PPM}/PPM/", f"{PPM}/PPM", id="path-kept-as-written"),
        pytest.param("https://Bücher.example", "https://xn--bcher-kva.example", id="idna"),
        pytest.param("https://straße.example", "https://xn--strae-oqa.example", id="idna-2008"),
        pytest.param("http://[0:0::1]:80/", "http://[::1]", id="ipv6-short-form"),
        pytest.param("http://127.0.0.1:4242", "http://127.0.0.1:4242", id="ipv4"),
        pytest.param("https://ppm.example.com./", PPM, id="absolute-name-trailing-dot"),
        pytest.param("https://ppm.%45xample.com", PPM, id="percent-encoded-host"),
        pytest.param("http://127.1:4242", "http://127.0.0.1:4242", id="ipv4-short"),
        pytest.param("http://0x7f.0.0.1", "http://127.0.0.1", id="ipv4-hex"),
        pytest.param("http://2130706433", "http://127.0.0.1", id="ipv4-one-number"),
        pytest.param("http://127.0.0.1.", "http://127.0.0.1", id="ipv4-trailing-dot"),
    ],
)
def test_canonical_form(written: str, identity: str) -> None:
    assert canonical_url(written) == identity
    assert canonical_url(identity) == identity  # idempotent


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (PPM, "https://ppm-eu.example.com"),
        (PPM, "http://ppm.example.com"),
        (PPM, f"{PPM}:8443"),
        (PPM, f"{PPM}/ppm"),
        (f"{PPM}/a", f"{PPM}/A"),
    ],
)
def test_other_servers_stay_apart(one: str, other: str) -> None:
    assert canonical_url(one) != canonical_url(other)


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        ("ftp://ppm.example.com", "is not an http:// or https:// address"),
        ("ppm.example.com", "is not an http:// or https:// address"),
        ("https://", "is not an http:// or https:// address"),
        ("http://[::1", "is not an http:// or https:// address"),
        ("http://ppm:port", "is not an http:// or https:// address"),
        ("http://ppm.example.com:0", "port 0"),
        ("https://admin:s3cret@ppm.example.com", "user name or password"),
        ("https://ppm.example.com/?", "query or a fragment"),
        ("https://ppm.example.com/?repo=cran", "query or a fragment"),
        ("https://ppm.example.com#top", "query or a fragment"),
        ("https://ppm..example.com", "not a valid name or address"),
        ("https://.ppm.example.com", "not a valid name or address"),
        ("https://ppm%20example.com", "not a valid name or address"),
        ("https://ppm%2Fexample.com", "not a valid name or address"),
        ("https://ppm%FF.example.com", "not UTF-8"),
        ("http://1.2.3.999", "neither a name nor an IPv4 address"),
    ],
)
def test_what_is_not_a_server_address_is_refused(written: str, reason: str) -> None:
    with pytest.raises(UrlError, match=reason):
        canonical_url(written)


def test_a_refused_url_is_quoted_without_its_password() -> None:
    assert without_credentials("https://admin:s3cret@ppm.example.com/x") == (
        "https://***@ppm.example.com/x"
    )
    assert without_credentials(f"{PPM}/a@b") == f"{PPM}/a@b"


def test_identity_of_a_text_that_is_no_url_is_the_text() -> None:
    """Comparing what an old file or another machine's lock record holds must not fail."""
    assert server_identity("not a url/") == "not a url"
    assert server_identity("HTTPS://PPM.example.com:443/") == PPM
