"""The `dynamodb` apply lock: one item per server and namespace in a DynamoDB table whose
partition key is the string `LockID` (as Terraform's S3 backend locked for years), through boto3
(extra `aws`).

Taking the lock is a conditional PutItem: it succeeds only when no item exists or the one there
has a lease that ended (`Expires` < now, in epoch seconds, by the taker's clock: keep clocks in
sync, as any lease needs). Renewal, release and force-unlock are conditional on the lock's ID,
so a run never touches a lock that is no longer its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from reconciler.backends.aws_session import aws_client, describe_error, error_code
from reconciler.deadline import STORE_SECONDS, seconds_setting
from reconciler.desired.model import LockConfig
from reconciler.errors import LockError, StoreError, StoreTimeout
from reconciler.inputs import parse_json
from reconciler.locks import remote_records
from reconciler.locks.base import LockContext, LockInfo
from reconciler.locks.record import shown

CONDITION_FAILED = "ConditionalCheckFailedException"


class DynamoDbLock:
    def __init__(
        self,
        client: Any,
        table: str,
        key: str,
        *,
        now: Callable[[], datetime],
        poll: float = remote_records.POLL_SECONDS,
    ) -> None:
        self.client = client
        self.table = table
        self.key = key
        self._now = now
        self._poll = poll
        self._held: LockInfo | None = None
        self._where = f"dynamodb table {table}"

    def _item(self, info: LockInfo) -> dict[str, Any]:
        return {
            "LockID": {"S": self.key},
            "LockUUID": {"S": info.id},
            "Expires": {"N": str(int(info.expires.timestamp()))},
            "Info": {"S": json.dumps(remote_records.to_record(info), sort_keys=True)},
        }

    def _call(self, method: str, **kwargs: Any) -> Any:
        """The call's response; None when its condition failed."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, method)(TableName=self.table, **kwargs)
        except ClientError as exc:
            if error_code(exc) == CONDITION_FAILED:
                return None
            raise LockError(f"lock ({self._where}): {describe_error(exc)}") from None
        except BotoCoreError as exc:
            raise LockError(f"lock ({self._where}): {describe_error(exc)}") from None
        except StoreTimeout as exc:  # the call's deadline (aws_session)
            raise LockError(str(exc)) from None

    def _by_id(self, lock_id: str) -> dict[str, Any]:
        return {
            "Key": {"LockID": {"S": self.key}},
            "ConditionExpression": "LockUUID = :id",
            "ExpressionAttributeValues": {":id": {"S": lock_id}},
        }

    def acquire(self, info: LockInfo, *, timeout: float) -> None:
        waiter = remote_records.Waiter(timeout, poll=self._poll)
        while True:
            taken = self._call(
                "put_item",
                Item=self._item(info),
                ConditionExpression="attribute_not_exists(LockID) OR Expires < :now",
                ExpressionAttributeValues={":now": {"N": str(int(self._now().timestamp()))}},
            )
            if taken is not None:
                self._held = info
                return
            record = self.current()
            if record is None:
                continue  # released in between: try again at once
            waiter.wait_or_give_up(record, self._where)

    def renew(self, expires: datetime) -> None:
        held = self._held
        if held is None:
            raise LockError(f"lock ({self._where}): not held, so it cannot be renewed")
        renewed = LockInfo(held.id, held.key, held.holder, held.operation, held.created, expires)
        condition = self._by_id(held.id)
        item = self._item(renewed)
        updated = self._call(
            "update_item",
            Key=condition["Key"],
            UpdateExpression="SET Expires = :e, Info = :i",
            ConditionExpression=condition["ConditionExpression"],
            ExpressionAttributeValues={
                **condition["ExpressionAttributeValues"],
                ":e": item["Expires"],
                ":i": item["Info"],
            },
        )
        if updated is None:
            raise LockError(
                f"lock ({self._where}) is no longer this run's (broken or taken over): stopping"
            )
        self._held = renewed

    def release(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            self._call("delete_item", **self._by_id(held.id))

    def current(self) -> LockInfo | None:
        found = self._call("get_item", Key={"LockID": {"S": self.key}}, ConsistentRead=True)
        item = (found or {}).get("Item")
        if not item:
            return None
        try:
            return remote_records.from_record(parse_json(item["Info"]["S"]))
        except (KeyError, ValueError):
            return None

    def force_unlock(self, lock_id: str) -> LockInfo:
        record = self.current()
        deleted = self._call("delete_item", ReturnValues="ALL_OLD", **self._by_id(lock_id))
        if deleted is None or record is None:
            held = f"it holds lock {shown(record.id)}" if record else "no lock is held"
            raise LockError(f"no lock with ID {lock_id} in {self._where}: {held}")
        return record


def open_dynamodb_lock(config: LockConfig, context: LockContext) -> DynamoDbLock:
    table = config.options.get("table")
    if not isinstance(table, str) or not table:
        raise LockError("lock type dynamodb needs `lock.table`: a table with partition key LockID")
    region = config.options.get("region")
    endpoint = config.options.get("endpoint_url")
    try:
        timeout = seconds_setting(config.options.get("timeout"), "lock.timeout", STORE_SECONDS)
    except ValueError as exc:
        raise LockError(f"lock (dynamodb table {table}): {exc}") from None
    try:
        client = aws_client(
            "dynamodb",
            owner=f"lock (dynamodb table {table})",
            region=region if isinstance(region, str) else None,
            endpoint_url=endpoint if isinstance(endpoint, str) else None,
            env=context.env,
            timeout=timeout,
            timeout_setting="lock.timeout",
        )
    except StoreError as exc:
        raise LockError(str(exc)) from None
    return DynamoDbLock(client, table, context.key, now=context.now)
