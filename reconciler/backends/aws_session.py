"""boto3 clients for the aws store and the dynamodb lock, from the spec and the environment
passed in (not os.environ), so tests hand in moto's endpoint and their own credentials.

Region: the spec's `region`, else AWS_REGION, else AWS_DEFAULT_REGION. Endpoint: the spec's
`endpoint_url`, else AWS_ENDPOINT_URL_<SERVICE>, else AWS_ENDPOINT_URL. Credentials: the access
keys in the environment when given, else boto3's own chain (AWS_PROFILE, web identity via
AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE for CI without long-lived keys, SSO, instance
roles). botocore retries throttling and 5xx itself (standard mode), within one overall deadline
per call (the store's `timeout`): no attempt waits longer than the deadline for an answer, and
none starts after it has passed (botocore has no overall timeout of its own: its events are
where a call's attempts can be stopped).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.deadline import STORE_SECONDS, Deadline
from reconciler.errors import StoreError, StoreTimeout
from reconciler.sanitize import for_terminal

ATTEMPTS = 5
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0
_DEADLINE_KEY = "ppm_tokens_deadline"  # in botocore's per-call context


def aws_client(
    service: str,
    *,
    owner: str,
    region: str | None,
    endpoint_url: str | None,
    env: Mapping[str, str],
    timeout: float = STORE_SECONDS,
    timeout_setting: str = "the store's timeout",
) -> Any:
    """A boto3 client for `service`; `owner` names the store or lock in messages. Each call,
    its retries included, has `timeout` seconds."""
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
        connect_timeout=min(CONNECT_TIMEOUT, timeout),
        read_timeout=min(READ_TIMEOUT, timeout),
        user_agent_extra="ppm-tokens",
    )
    try:
        session = boto3.session.Session(region_name=region, profile_name=profile, **keys)
        client = session.client(service, endpoint_url=endpoint_url, config=config)
    except BotoCoreError as exc:
        raise StoreError(
            f"{owner}: cannot set up the AWS client: {for_terminal(str(exc))}"
        ) from None
    _bound_calls(client, owner, timeout, timeout_setting)
    return client


def _bound_calls(client: Any, owner: str, seconds: float, setting: str) -> None:
    """One deadline per API call: set when the call starts, checked before every attempt and
    when botocore decides whether to retry a failed one."""

    def start(context: dict[str, Any], **_: Any) -> None:
        context[_DEADLINE_KEY] = Deadline.start(seconds, setting)

    def timed_out(deadline: Deadline, operation: str) -> StoreTimeout:
        return StoreTimeout(deadline.message(f"{owner}: {operation}", "finish"))

    def before_attempt(request: Any, operation_name: str, **_: Any) -> None:
        deadline = request.context.get(_DEADLINE_KEY)
        if isinstance(deadline, Deadline) and deadline.passed():
            raise timed_out(deadline, operation_name)

    def before_retry(
        request_dict: dict[str, Any],
        operation: Any,
        response: Any = None,
        caught_exception: BaseException | None = None,
        **_: Any,
    ) -> None:
        # Past the deadline, a failed attempt ends the call here rather than after a backoff.
        deadline = request_dict.get("context", {}).get(_DEADLINE_KEY)
        if not isinstance(deadline, Deadline) or not deadline.passed():
            return
        status = getattr(response[0], "status_code", 0) if response else 0
        if caught_exception is not None or status >= 500 or status == 429:
            raise timed_out(deadline, operation.name)

    events = client.meta.events
    events.register("before-call", start)
    events.register("request-created", before_attempt)
    events.register_first("needs-retry", before_retry)


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
