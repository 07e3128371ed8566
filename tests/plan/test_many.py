"""Several specs' plans: the verdict for the whole, and the text, Markdown and JSON renderings
(one block or section per spec, one summary), hostile strings included."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

import reconciler
from reconciler.errors import ReconcilerError, StalePlanError
from reconciler.plan.many import PlanSet, SpecPlan, summary_line_many
from reconciler.plan.model import Action, ActionKind, Plan
from reconciler.plan.render_json import is_plan_set, plan_set_parts, plan_to_json, plans_to_json
from reconciler.plan.render_markdown import render_markdown_many
from reconciler.plan.render_text import render_text_many
from reconciler.sanitize import for_markdown
from tests.hostile import RAW_MARKDOWN, RAW_TERMINAL, render_as_github, unsafe_left

from .conftest import live_token, make_spec, meta_for, run_plan, token_spec
from .scenario import scenario

SCHEMA_PATH = Path(reconciler.__file__).parent / "schemas" / "plan.schema.json"
EU = "https://ppm-eu.example.com"


def unchanged_plan() -> Plan:
    declared = token_spec("docs")
    current = live_token(declared, "docs-1")
    return run_plan(make_spec(declared), [current], {"docs": meta_for(current, "docs")})


def three_specs() -> PlanSet:
    """Two servers, three namespaces: one with every kind of change, one unchanged, one whose
    server could not be reached."""
    full = replace(scenario()[1], spec_path="tokens/platform.yaml")
    calm = replace(unchanged_plan(), namespace="docs", spec_path="tokens/docs.yaml")
    return PlanSet(
        (
            SpecPlan(full.spec_path, full.server, full.namespace, plan=full),
            SpecPlan(calm.spec_path, calm.server, calm.namespace, plan=calm),
            SpecPlan("tokens/eu.yaml", EU, "eu", error="cannot reach the server: refused"),
        )
    )


def test_the_summary_adds_up_every_plan_and_counts_every_kind() -> None:
    plans = three_specs()
    assert plans.summary() == {
        kind: plans.parts[0].plan.summary()[kind] + plans.parts[1].plan.summary()[kind]
        for kind in plans.parts[0].plan.summary()
    }
    assert list(plans.summary()) == [kind.value for kind in ActionKind]
    assert plans.servers == (plans.parts[0].server, EU)
    assert plans.has_changes and plans.has_errors
    assert [p.spec_path for p in plans.failed] == ["tokens/eu.yaml"]


def test_one_server_spelled_two_ways_is_counted_once() -> None:
    spelled = SpecPlan("tokens/eu-2.yaml", "HTTPS://PPM-EU.example.com:443/", "eu-2", error="x")
    plans = PlanSet((*three_specs().parts, spelled))
    assert plans.servers == (plans.parts[0].server, EU)
    assert "4 specs on 2 servers:" in render_text_many(plans, color=False)


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        pytest.param(
            "changes",
            "Plan for 3 specs: 2 to create, 1 to rotate, 1 to replace, 1 to repair, 3 to revoke, "
            "1 metadata to record. 1 spec could not be planned.",
            id="changes-and-a-failure",
        ),
        pytest.param(
            "calm", "No changes in 2 specs. The live tokens match the specs.", id="no-changes"
        ),
        pytest.param(
            "calm-failed",
            "No changes in 1 of 2 specs. 1 spec could not be planned.",
            id="no-changes-but-a-failure",
        ),
    ],
)
def test_one_verdict_for_the_whole_run(parts: str, expected: str) -> None:
    plans = three_specs()
    calm = plans.parts[1]
    chosen = {
        "changes": plans,
        "calm": PlanSet((calm, replace(calm, spec_path="tokens/other.yaml"))),
        "calm-failed": PlanSet((calm, plans.parts[2])),
    }[parts]
    assert summary_line_many(chosen) == expected


def test_text_has_one_block_per_spec_and_the_verdict_last() -> None:
    plans = three_specs()
    text = render_text_many(plans, color=False)
    lines = text.splitlines()
    headers = [line for line in lines if line.startswith("[")]
    assert headers == [
        "[1/3] tokens/platform.yaml",
        "[2/3] tokens/docs.yaml",
        "[3/3] tokens/eu.yaml",
    ]
    # Each block names its namespace and server, the failed one too, with the reason.
    assert "ppm-tokens plan for namespace data-platform on https://ppm.example.com" in text
    assert "ppm-tokens plan for namespace docs on https://ppm.example.com" in text
    assert f"ppm-tokens plan for namespace eu on {EU}\nCould not plan: cannot reach" in text
    # Then one line per spec, and the verdict for the whole run as the last line.
    assert "3 specs on 2 servers:" in lines
    assert "  tokens/docs.yaml (namespace docs on https://ppm.example.com): No changes." in text
    assert f"  tokens/eu.yaml (namespace eu on {EU}): Could not plan: cannot reach" in text
    assert lines[-1] == summary_line_many(plans)


def test_markdown_puts_one_summary_table_first_then_one_section_per_spec() -> None:
    plans = three_specs()
    [body] = render_markdown_many(plans)
    assert body.startswith("## ppm-tokens plan: 3 specs on 2 servers\n\n**Plan for 3 specs:")
    table = body.index("### Specs")
    sections = [body.index(f"### <code>{for_markdown(p.spec_path)}</code>") for p in plans.parts]
    assert table < sections[0] < sections[1] < sections[2]
    assert f"| <code>tokens/eu\\.yaml</code> | <code>eu</code> | {for_markdown(EU)} |" in body
    assert "**Could not plan**: cannot reach the server" in body
    # The changes of the first spec are there, once, under headings that name their spec.
    assert body.count("#### Changes in <code>tokens/platform\\.yaml</code>") == 1
    assert "#### Changes in <code>tokens/docs\\.yaml</code>" not in body  # nothing changes
    assert body.count("<details>") == len(plans.parts[0].plan.changes)
    tags, visible = render_as_github(body)
    assert "ppm-tokens plan: 3 specs on 2 servers" in visible
    assert tags.count("table") == 1 + 1  # the summary of specs, the first spec's changes


def many_changes(count: int, namespace: str) -> Plan:
    base = unchanged_plan()
    actions = tuple(
        Action(ActionKind.CREATE, f"{namespace}-{i:04d}", "new token", token=token_spec(f"t{i}"))
        for i in range(count)
    )
    return replace(base, namespace=namespace, spec_path=f"tokens/{namespace}.yaml", actions=actions)


@pytest.mark.parametrize("limit", [3_000, 20_000, 65_000])
def test_markdown_of_large_plans_splits_into_parts_under_the_limit(limit: int) -> None:
    plans = PlanSet(
        tuple(
            SpecPlan(p.spec_path, p.server, p.namespace, plan=p)
            for p in (many_changes(300, "alpha"), many_changes(300, "beta"))
        )
    )
    parts = render_markdown_many(plans, limit=limit)
    assert len(parts) > 1
    assert all(len(part) < limit for part in parts)
    for index, part in enumerate(parts, 1):
        assert part.startswith(f"## ppm-tokens plan: 2 specs on 1 server (part {index} of ")
    text = "".join(parts)
    for namespace in ("alpha", "beta"):
        for i in range(300):
            row = f"| {for_markdown(f'{namespace}-{i:04d}')} | create |"
            assert text.count(row) == 1
    # A spec's section continued in the next part still says which spec it is.
    assert "#### Details in <code>tokens/alpha\\.yaml</code> (continued)" in text
    for part in parts:
        assert part.count("<details>") == part.count("</details>")


HOSTILE = "x\x1b[8mhid\n| forged | row |\u202e</details><script>alert(1)</script>](https://e.test)"


def test_hostile_paths_namespaces_servers_and_errors_are_shown_escaped() -> None:
    plans = PlanSet(
        (
            SpecPlan(f"tokens/{HOSTILE}.yaml", f"https://{HOSTILE}", HOSTILE, error=HOSTILE),
            SpecPlan("tokens/b.yaml", EU, "b", plan=replace(unchanged_plan(), server=EU)),
        )
    )
    text = render_text_many(plans, color=True)
    assert [raw for raw in RAW_TERMINAL if raw in text] == []
    assert unsafe_left(text, color=True) == []
    [body] = render_markdown_many(plans)
    assert [raw for raw in RAW_MARKDOWN if raw in body] == []
    assert unsafe_left(body) == []
    tags, _ = render_as_github(body)
    assert "script" not in tags and "a" not in tags
    # The summary table keeps its two rows: no forged row got through.
    assert tags.count("tr") == 1 + 2


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def saved_set() -> dict[str, Any]:
    plans = three_specs()
    whole = PlanSet(plans.parts[:2])
    return json.loads(json.dumps(plans_to_json(whole)))


def test_json_of_several_specs_validates_and_lists_each_plan_in_its_own_shape(
    validator: Draft202012Validator,
) -> None:
    plans = three_specs()
    data = json.loads(json.dumps(plans_to_json(plans)))
    assert sorted(validator.iter_errors(data), key=str) == []
    assert data["plans"] == [plan_to_json(p.plan) for p in plans.parts[:2]]
    assert data["failures"] == [
        {
            "spec_path": "tokens/eu.yaml",
            "server": EU,
            "namespace": "eu",
            "message": "cannot reach the server: refused",
        }
    ]
    assert data["summary"] == plans.summary()
    assert is_plan_set(data)
    # One spec keeps today's document; the schema takes both.
    single = plan_to_json(plans.parts[0].plan)
    assert not is_plan_set(single)
    assert validator.is_valid(json.loads(json.dumps(single)))


def test_the_schema_refuses_a_set_with_a_malformed_plan(validator: Draft202012Validator) -> None:
    data = saved_set()
    del data["plans"][1]["live_fingerprint"]
    assert not validator.is_valid(data)


def test_a_saved_set_gives_back_each_spec_plan() -> None:
    data = saved_set()
    assert plan_set_parts(data) == data["plans"]


def test_a_saved_set_whose_summary_does_not_add_up_is_refused() -> None:
    data = saved_set()
    data["summary"]["create"] -= 1
    with pytest.raises(StalePlanError, match="does not add up"):
        plan_set_parts(data)


def test_a_saved_set_with_specs_that_could_not_be_planned_is_refused() -> None:
    data = copy.deepcopy(saved_set())
    data["failures"] = [{"spec_path": "x", "server": EU, "namespace": "x", "message": "down"}]
    with pytest.raises(StalePlanError, match="could not be planned"):
        plan_set_parts(data)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format_version": 1}, "format_version 1 is not supported"),
        ({"plans": []}, "plans is empty"),
        ({"plans": "x"}, "plans must be an array"),
        ({"approved_by": "x"}, "the document has the key 'approved_by', which this version"),
    ],
)
def test_a_malformed_saved_set_is_refused(change: dict[str, object], message: str) -> None:
    data = {**saved_set(), **change}
    with pytest.raises(ReconcilerError, match=message):
        plan_set_parts(data)
