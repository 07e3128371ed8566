"""Which probes `doctor -f SPEC` makes: one per scope the spec declares a present token of, with
the spec's resources the server has, and one check per distinct proof request."""

from __future__ import annotations

from reconciler.commands.doctor_proofs import plan_probes
from reconciler.desired.model import ProofMethod, Scope
from reconciler.server.model import Resource
from tests.ops.helpers import spec_from

SERVER = [
    Resource("r1", "cran", "repo", "r"),
    Resource("r2", "pypi", "repo", "python"),
    Resource("s1", "internal-src", "source", "local-python"),
]


def entry(name: str, scope: str, resources: str = "", state: str = "") -> str:
    text = f"- name: {name}\n  user: ops@example.com\n  description: d\n  scope: {scope}\n"
    text += f"  resources: {resources}\n" if resources else ""
    return text + (f"  state: {state}\n" if state else "")


def test_one_probe_per_scope_with_every_distinct_proof_request() -> None:
    spec = spec_from(
        entry("a", "repos:read", "[pypi]")
        + entry("b", "repos:read", "[cran, pypi]")  # proven by cran's index: another request
        + entry("c", "repos:read", "[pypi]")  # the same request as a
        + entry("d", "blocklist:read")
        + entry("e", "metadata:admin", state="absent"),  # revoked, never created: no probe
        header="server: {proof: {blocklist:read: listed}}\n",
    )
    probes = plan_probes(spec, SERVER)
    assert [(p.scope, p.method, p.resources, p.variants, p.missing) for p in probes] == [
        (
            Scope.REPOS_READ,
            ProofMethod.REQUEST,
            ("cran", "pypi"),
            (("pypi",), ("cran", "pypi")),
            None,
        ),
        (Scope.BLOCKLIST_READ, ProofMethod.LISTED, (), ((),), None),
    ]


def test_all_resources_and_resources_the_server_lacks() -> None:
    spec = spec_from(
        entry("all", "repos:read", '"*"')
        + entry("one", "repos:read", "[pypi]")
        + entry("gone", "sources:write", "[deleted-src]")
    )
    reader, writer = plan_probes(spec, SERVER)
    assert reader.resources == ("*",)
    assert (
        writer.missing == "the server has none of the sources the spec's sources:write tokens name"
    )
