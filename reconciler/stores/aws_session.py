"""boto3 clients for the aws store and the dynamodb lock, from the spec and the environment
passed in (not os.environ), so tests hand in moto's endpoint and their own credentials.

Region: the spec's `region`, else AWS_REGION, else AWS_DEFAULT_REGION. Endpoint: the spec's
`endpoint_url`, else AWS_ENDPOINT_URL_<SERVICE>, else AWS_ENDPOINT_URL. Credentials: the access
keys in the environment when given, else boto3's own chain (AWS_PROFILE, web identity via
AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE for CI without long-lived keys, SSO, instance
roles). botocore retries throttling and 5xx itself (standard mode).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.errors import StoreError
from reconciler.sanitize import for_terminal

ATTEMPTS = 5


def aws_client(
    service: str,
    *,
    owner: str,
    region: str | None,
    endpoint_url: str | None,
    env: Mapping[str, str],
) -> Any:
    """A boto3 client for `service`; `owner` names the store or lock in messages."""
    try:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError
    except ModuleNotFoundError:
        raise StoreError(f"{owner} needs boto3: install ppm-token-reconciler[aws]") from None

    region = region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if not region:
        raise StoreError(f"{owner}: no AWS region: set `region` in the spec or AWS_REGION")
    env_key = "AWS_ENDPOINT_URL_" + service.upper().replace("-", "_")
    endpoint_url = endpoint_url or env.get(env_key) or env.get("AWS_ENDPOINT_URL") or None
    keys: dict[str, str] = {}
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        keys = {
            "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
        }
        if env.get("AWS_SESSION_TOKEN"):
            keys["aws_session_token"] = env["AWS_SESSION_TOKEN"]
    profile = env.get("AWS_PROFILE") if not keys else None
    config = Config(
        retries={"max_attempts": ATTEMPTS, "mode": "standard"},
        connect_timeout=10,
        read_timeout=30,
        user_agent_extra="ppm-tokens",
    )
    try:
        session = boto3.session.Session(region_name=region, profile_name=profile, **keys)
        return session.client(service, endpoint_url=endpoint_url, config=config)
    except BotoCoreError as exc:
        raise StoreError(
            f"{owner}: cannot set up the AWS client: {for_terminal(str(exc))}"
        ) from None


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ClientError ("" for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str((response.get("Error") or {}).get("Code", ""))
    return ""


def access_denied(exc: BaseException) -> bool:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return False
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    return status == 403 or error_code(exc) in ("AccessDeniedException", "AccessDenied")


def describe_error(exc: BaseException) -> str:
    """`Code: message` of a ClientError, or the type and text of a botocore error. AWS never
    echoes a secret's value in an error."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error") or {}
        message = for_terminal(str(error.get("Message", ""))[:300])
        code = for_terminal(str(error.get("Code", "Error"))[:100])
        return f"{code}: {message}"
    return f"{type(exc).__name__}: {for_terminal(str(exc))[:300]}"
