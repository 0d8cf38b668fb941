"""Physical names derived from a construct's place in the app, so two pipelines never clash."""

from __future__ import annotations

import re
from typing import Final

from aws_cdk import Stack
from constructs import Construct

__all__ = ["MAX_PREFIX_LENGTH", "name_prefix"]

# Alarm names may be 255 characters; the longest suffix a pipeline appends is about 30.
MAX_PREFIX_LENGTH: Final = 200
_ALLOWED: Final = re.compile(r"^[A-Za-z0-9_]+$")
_HASH_LENGTH: Final = 8


def name_prefix(scope: Construct, *, max_length: int = MAX_PREFIX_LENGTH) -> str:
    """``<stack name>-<construct ids from the stack down>``, e.g. ``MyStack-Pipeline``.

    The result uses only ``[A-Za-z0-9_-]`` (what a dashboard name allows). Where the readable
    form could stand for two paths (an id with a ``-`` or another character that has to be
    dropped) or is longer than ``max_length``, a hash of the construct path is appended, so
    the prefix stays unique in the app.
    """
    stack = Stack.of(scope)
    ids = [c.node.id for c in scope.node.scopes[len(stack.node.scopes) :]]
    readable = "-".join([stack.stack_name, *(re.sub(r"[^A-Za-z0-9_]", "", i) for i in ids)])
    if all(_ALLOWED.match(i) for i in ids) and len(readable) <= max_length:
        return readable
    digest = scope.node.addr[:_HASH_LENGTH].upper()
    return f"{readable[: max_length - _HASH_LENGTH - 1]}-{digest}"
