"""Audit findings as text, Markdown, JSON and SARIF 2.1.0 (GitHub code scanning shows SARIF
results on the spec's lines). Pure; each medium gets the sanitiser it needs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import PurePath

from reconciler import __version__
from reconciler.ops.audit import Finding, counts
from reconciler.ops.rules import RULES, Rule, Severity
from reconciler.plan.labels import format_time
from reconciler.sanitize import for_markdown, for_terminal

SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
JSON_FORMAT_VERSION = 1
# GitHub's own vocabulary for a rule's severity in its UI.
_PROBLEM_SEVERITY = {
    Severity.ERROR: "error",
    Severity.WARNING: "warning",
    Severity.NOTE: "recommendation",
}


def summary(findings: Sequence[Finding]) -> str:
    tally = counts(findings)
    parts = [f"{n} {s}{'s' if n != 1 else ''}" for s, n in tally.items()]
    return ", ".join(parts) if findings else "no findings"


def _place(finding: Finding) -> str:
    if finding.file is None:
        return ""
    return f"{finding.file}:{finding.line or 1}: "


def render_text(findings: Sequence[Finding], *, server: str, now: datetime) -> str:
    lines = [
        for_terminal(_place(f)) + f"{f.severity.value} {f.rule.id} {f.rule.slug}: "
        f"{for_terminal(f.message)}"
        for f in findings
    ]
    lines.append(f"Audit of {for_terminal(server)} at {format_time(now)}: {summary(findings)}.")
    return "\n".join(lines)


def render_markdown(findings: Sequence[Finding], *, server: str, now: datetime) -> str:
    lines = [
        "## ppm-tokens audit",
        "",
        f"{for_markdown(server)}, {format_time(now)}: **{summary(findings)}**",
    ]
    if findings:
        lines += ["", "| severity | rule | finding | where |", "|---|---|---|---|"]
        for f in findings:
            where = f"{for_markdown(f.file)}:{f.line or 1}" if f.file else ""
            lines.append(
                f"| {f.severity.value} | <code>{f.rule.id}</code> {f.rule.slug} | "
                f"{for_markdown(f.message)} | {where} |"
            )
        used = sorted({f.rule.id for f in findings})
        lines += ["", "<details><summary>What to do</summary>", ""]
        for rule in RULES:
            if rule.id in used:
                lines.append(f"- <code>{rule.id}</code> **{rule.slug}**: {for_markdown(rule.help)}")
        lines += ["", "</details>"]
    return "\n".join(lines)


def finding_json(finding: Finding) -> dict[str, object]:
    return {
        "rule_id": finding.rule.id,
        "rule": finding.rule.slug,
        "severity": finding.severity.value,
        "message": finding.message,
        "guid": finding.guid,
        "namespace": finding.namespace,
        "name": finding.name,
        "file": finding.file,
        "line": finding.line,
    }


def render_json(findings: Sequence[Finding], *, server: str, now: datetime) -> str:
    document = {
        "format_version": JSON_FORMAT_VERSION,
        "generated_at": now.isoformat(),
        "server": server,
        "summary": counts(findings),
        "findings": [finding_json(f) for f in findings],
    }
    return json.dumps(document, indent=2, ensure_ascii=True)


def _rule_json(rule: Rule) -> dict[str, object]:
    return {
        "id": rule.id,
        "name": rule.slug,
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": f"{rule.title}. {rule.help}"},
        "help": {"text": rule.help, "markdown": for_markdown(rule.help)},
        "defaultConfiguration": {"level": rule.severity.value},
        "properties": {
            "tags": ["security", "ppm-tokens"],
            "problem.severity": _PROBLEM_SEVERITY[rule.severity],
        },
    }


def default_uri(path: str) -> str:
    return PurePath(path).as_posix()


def _fingerprint(finding: Finding) -> str:
    """Stable across runs for the same problem with the same subject, so code scanning tracks
    one alert instead of opening a new one on every run."""
    subject = finding.guid or f"{finding.namespace}/{finding.name}"
    return hashlib.sha256(f"{finding.rule.id}:{subject}".encode()).hexdigest()[:32]


def _result_json(finding: Finding, uri_of: Callable[[str], str]) -> dict[str, object]:
    result: dict[str, object] = {
        "ruleId": finding.rule.id,
        "ruleIndex": RULES.index(finding.rule),
        "level": finding.severity.value,
        "message": {"text": for_terminal(finding.message)},
        "partialFingerprints": {"ppmTokensFinding/v1": _fingerprint(finding)},
    }
    if finding.file is not None:
        result["locations"] = [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": uri_of(finding.file), "uriBaseId": "%SRCROOT%"},
                    "region": {"startLine": max(finding.line or 1, 1)},
                }
            }
        ]
    properties = {
        key: value
        for key, value in (
            ("guid", finding.guid),
            ("namespace", finding.namespace),
            ("name", finding.name),
        )
        if value is not None
    }
    if properties:
        result["properties"] = properties
    return result


def render_sarif(
    findings: Sequence[Finding],
    *,
    server: str,
    now: datetime,
    uri_of: Callable[[str], str] = default_uri,
) -> str:
    run = {
        "tool": {
            "driver": {
                "name": "ppm-tokens",
                "semanticVersion": __version__,
                "rules": [_rule_json(rule) for rule in RULES],
            }
        },
        "automationDetails": {"id": "ppm-tokens/audit/"},
        "invocations": [
            {"executionSuccessful": True, "endTimeUtc": now.isoformat().replace("+00:00", "Z")}
        ],
        "properties": {"server": server},
        "columnKind": "unicodeCodePoints",
        "results": [_result_json(f, uri_of) for f in findings],
    }
    document = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(document, indent=2, ensure_ascii=True)
