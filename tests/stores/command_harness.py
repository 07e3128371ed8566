"""A Python script that stands in for `op`, and a harness opening a command store on it."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from types import MappingProxyType

from reconciler.desired.model import StoreConfig
from reconciler.stores.command import CommandStore, open_command_store
from reconciler.stores.registry import StoreContext

SCRIPT = """
import json, os, sys, time
entry = {
    "argv": sys.argv[1:],
    "stdin": sys.stdin.read(),
    "env": {k: v for k, v in os.environ.items() if k.startswith("PPM_TOKENS_")},
    "admin_token_visible": "PACKAGEMANAGER_TOKEN" in os.environ,
    "names": sorted(os.environ),
}
with open(os.environ["RECORD_FILE"], "a") as record:
    record.write(json.dumps(entry) + "\\n")
mode = os.environ.get("SCRIPT_MODE", "")
if mode == "fail":
    sys.stderr.write("vault sealed while writing " + entry["stdin"])
    sys.exit(3)
if mode == "fail-token-only":
    sys.stderr.write("bad token " + json.loads(entry["stdin"])["token"])
    sys.exit(4)
if mode == "noisy":
    sys.stderr.write("e" * 2000)
    sys.exit(3)
if mode == "sleep":
    time.sleep(30)
if mode in ("endless-stdout", "endless-stderr"):
    stream = sys.stdout if mode == "endless-stdout" else sys.stderr
    while True:
        stream.write("x" * 65536)
        stream.flush()
if mode == "print-file":
    path = sys.argv[-1]
    if os.path.exists(path):
        sys.stdout.write(open(path).read())
"""


class Harness:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.script = tmp_path / "fake_op.py"
        self.script.write_text(SCRIPT)
        self.record = tmp_path / "record.jsonl"
        self.env: dict[str, str] = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(tmp_path / "home"),
            "RECORD_FILE": str(self.record),
            "PACKAGEMANAGER_TOKEN": "admin-token-never-passed-on",
        }

    def argv(self, *extra: str) -> list[str]:
        return [sys.executable, str(self.script), *extra]

    def open(
        self,
        *,
        run_read_commands: bool = True,
        withheld: frozenset[str] = StoreContext.withheld,
        **options: object,
    ) -> CommandStore:
        options.setdefault("command", self.argv("item", "edit", "{secret}", "--name={name}"))
        options.setdefault("env", ["RECORD_FILE", "SCRIPT_MODE"])  # what the script reads
        config = StoreConfig("op", "command", MappingProxyType(options))
        context = StoreContext(
            spec_dir=self.tmp_path,
            env=self.env,
            run_read_commands=run_read_commands,
            withheld=withheld,
        )
        return open_command_store(config, context)

    def entries(self) -> list[dict[str, object]]:
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines()]
