"""moto's AWS server on a loopback port, in this process's threads, reached through real boto3
over HTTP (as the CLI in a subprocess reaches it too)."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account


@dataclass
class Moto:
    url: str
    server: ThreadedMotoServer

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_ENDPOINT_URL": self.url,
            "AWS_REGION": REGION,
            **extra,
        }

    def client(self, service: str, **keys: str) -> Any:
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=self.url,
            aws_access_key_id=keys.get("id", "testing"),
            aws_secret_access_key=keys.get("secret", "testing"),
        )

    @contextmanager
    def iam_enforced(self) -> Iterator[None]:
        """Every request checked against IAM (moto's own evaluation of the caller's policies),
        for as long as the block runs."""
        httpx.post(f"{self.url}/moto-api/reset-auth", content=b"0").raise_for_status()
        try:
            yield
        finally:
            httpx.post(f"{self.url}/moto-api/reset-auth", content=b"inf").raise_for_status()

    def user_with_policy(self, policy: dict[str, Any]) -> dict[str, str]:
        """Access keys of a new IAM user whose only permissions are `policy`."""
        iam = self.client("iam")
        name = f"ppm-{secrets.token_hex(4)}"
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName="ppm", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return {"id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}


_shared: list[Moto] = []  # one server per test process, however many modules use it
_users = [0]


@pytest.fixture(scope="session")
def moto() -> Iterator[Moto]:
    """One moto server per test run, shared by the modules that import this fixture."""
    if not _shared:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        _shared.append(Moto(f"http://{host}:{port}", server))
    _users[0] += 1
    try:
        yield _shared[0]
    finally:
        _users[0] -= 1
        if _users[0] == 0:
            _shared.pop().server.stop()


def unique_prefix() -> str:
    """Tests share one moto server: each gets its own names."""
    return f"ppm-{secrets.token_hex(4)}/"
