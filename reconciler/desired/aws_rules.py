"""Offline rules for the `aws` store (AWS Secrets Manager): secret names, tags, recovery window.

Pure functions of strings, no boto3, so `validate` can use them without the `aws` extra.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from reconciler.sanitize import quoted

MAX_NAME_LENGTH = 512
_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]+$")

MAX_TAGS = 50
MAX_TAG_KEY_LENGTH = 127
MAX_TAG_VALUE_LENGTH = 255
_TAG_PUNCTUATION = frozenset("_.:/=+-@ ")

MIN_RECOVERY_DAYS = 7
MAX_RECOVERY_DAYS = 30

# How AWS names regions in every partition: a geography (us, eu, ap, cn, il, me, sa, ca, af, mx,
# eusc), words (a partition such as gov or isob, a sovereign area, a direction) and a number:
# eu-west-1, us-gov-west-1, us-isob-east-1, cn-northwest-1, eusc-de-east-1.
_REGION = re.compile(r"^[a-z]{2,4}(-[a-z]+){1,3}-[0-9]{1,2}$")
# With an explicit endpoint (moto, LocalStack, a VPC endpoint) the region only signs requests:
# what botocore itself accepts, a host name label.
_ANY_REGION = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


def key_problem(key: str) -> str | None:
    """Why `key` cannot be (the end of) a secret name; None when it can."""
    if not key:
        return "is empty"
    if not _NAME.match(key):
        return "may use only A-Z a-z 0-9 and / _ + = . @ - in an AWS Secrets Manager name"
    if len(key) > MAX_NAME_LENGTH:
        return f"has {len(key)} characters; a secret name has at most {MAX_NAME_LENGTH}"
    return None


def name_problem(prefix: str, key: str) -> str | None:
    """`key_problem` for the whole name the store writes: the store's prefix and the key."""
    if prefix and not _NAME.match(prefix):
        return f"prefix {quoted(prefix)} may use only A-Z a-z 0-9 and / _ + = . @ -"
    return key_problem(prefix + key)


def _tag_text_ok(text: str) -> bool:
    return all(ch.isalnum() or ch in _TAG_PUNCTUATION for ch in text)


def tags_problem(tags: Mapping[str, str]) -> str | None:
    """Why `tags` cannot be a secret's tags; None when they can."""
    if len(tags) > MAX_TAGS:
        return f"{len(tags)} tags; a secret has at most {MAX_TAGS}"
    for key, value in tags.items():
        if not key or len(key) > MAX_TAG_KEY_LENGTH:
            return f"tag key {key[:40]!r} must have 1 to {MAX_TAG_KEY_LENGTH} characters"
        if key.lower().startswith("aws:"):
            return f"tag key {quoted(key)} starts with 'aws:', which AWS reserves"
        if len(value) > MAX_TAG_VALUE_LENGTH:
            return f"the value of tag {quoted(key)} has more than {MAX_TAG_VALUE_LENGTH} characters"
        if not (_tag_text_ok(key) and _tag_text_ok(value)):
            return (
                f"tag {quoted(key)} uses characters AWS does not allow in tags: letters, digits, "
                "spaces and _ . : / = + - @"
            )
    return None


def recovery_window_problem(days: int) -> str | None:
    if not MIN_RECOVERY_DAYS <= days <= MAX_RECOVERY_DAYS:
        return (
            f"recovery_window_days is {days}; AWS accepts {MIN_RECOVERY_DAYS} to "
            f"{MAX_RECOVERY_DAYS}"
        )
    return None


def region_problem(region: str, *, endpoint: bool) -> str | None:
    """Why `region` cannot be the region of an AWS client; None when it can. With `endpoint`
    (an explicit endpoint_url) any name botocore takes will do."""
    if endpoint:
        if _ANY_REGION.match(region):
            return None
        return (
            f"region {quoted(region)} is not a region name: letters, digits and '-', like "
            "us-east-1 (with endpoint_url, whatever name the emulator expects)"
        )
    if _REGION.match(region):
        return None
    return (
        f"region {quoted(region)} is not an AWS region name: write its code, like eu-west-1 or "
        "us-gov-west-1 (aws ec2 describe-regions lists them)"
    )
