"""Shared helpers for the client tests: a fake clock/sleep and canned AWS replies."""

from __future__ import annotations

import json
from typing import Any

import attrs

from scimsync._client import RetryPolicy

BASE = "https://scim.eu-west-1.amazonaws.com/abcdefghijk-1111-2222-3333-444455556666/scim/v2"
TOKEN = "tok-SECRET-4f9a7c2e1b"

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def aws_error(status: int, detail: str, request_id: str = "f32ad558-5b05-45ea-8135-552a2f254d4f"):
    """An AWS error body exactly as captured (aws-scim.md §6.2): string status, `schema` typo."""
    return {
        "schema": [ERROR_SCHEMA],
        "schemas": [ERROR_SCHEMA],
        "detail": detail,
        "status": str(status),
        "exceptionRequestId": request_id,
        "timeStamp": "2022-04-15 14:09:03.693",
    }


AWS_400 = aws_error(400, "Request is unparsable, syntactically incorrect, or violates schema.")
AWS_409 = aws_error(
    409, "Refused to create a new, duplicate resource.", "81abca44-4ee3-47fa-b4d9-729908ef1dd9"
)
AWS_404 = aws_error(404, "USER does not exist.", "15a8c7b4-80bf-45da-8607-80c0a954632b")
AWS_404_TENANT = {"schema": [ERROR_SCHEMA], "detail": "TENANT does not exist.", "status": "404"}


def user(uid: str = "9067729b3d-94f1e0b3-c394-48d5-8ab1-2c122a167074", name: str = "jdoe"):
    return {
        "id": uid,
        "externalId": "701984",
        "meta": {"resourceType": "User", "created": "2020-07-25T02:34:34Z"},
        "schemas": [USER_SCHEMA],
        "userName": name,
        "name": {"familyName": "Doe", "givenName": "Jane"},
        "displayName": "Jane Doe",
        "active": True,
        "emails": [{"value": f"{name}@example.com", "type": "work", "primary": True}],
    }


def group(gid: str = "g-1", name: str = "Engineering"):
    return {"id": gid, "schemas": [GROUP_SCHEMA], "displayName": name, "meta": {}}


def list_page(resources: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"schemas": [LIST_SCHEMA], "Resources": resources, **extra}


def body_of(call: Any) -> Any:
    raw = call.request.body
    if raw is None:
        return None
    return json.loads(raw)


@attrs.define
class FakeTime:
    """A monotonic clock that only moves when `sleep` is called (or `advance`)."""

    now: float = 1000.0
    wall: float = 1_700_000_000.0
    sleeps: list[float] = attrs.field(factory=list)

    def clock(self) -> float:
        return self.now

    def wall_clock(self) -> float:
        return self.wall

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        self.wall += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.wall += seconds

    def policy(self, **kw: Any) -> RetryPolicy:
        kw.setdefault("rng", lambda: 0.5)
        return RetryPolicy(sleep=self.sleep, clock=self.clock, wall_clock=self.wall_clock, **kw)
