"""Helpers for the emulator tests: a thin ``requests`` client bound to one EmulatorServer."""

from __future__ import annotations

import re
from typing import Any

import requests

from scimsync.testing import EmulatorServer

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST_URN = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
AWS_400 = "Request is unparsable, syntactically incorrect, or violates schema."
AWS_409 = "Refused to create a new, duplicate resource."
AWS_ID = re.compile(r"^[0-9a-f]{10}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
AWS_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$")
ISO_SECONDS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


class Api:
    """``requests`` against one emulator: paths are relative to its base URL."""

    def __init__(self, server: EmulatorServer, token: str | None = None) -> None:
        self.server = server
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token or server.token}"
        self.session.headers["User-Agent"] = "scimsync-tests/1"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        return self.session.request(method, self.server.base_url + path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, json=json, **kwargs)

    def put(self, path: str, json: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, json=json, **kwargs)

    def patch(
        self, path: str, operations: list[dict[str, Any]], **kwargs: Any
    ) -> requests.Response:
        body = {"schemas": [PATCH_URN], "Operations": operations}
        return self.request("PATCH", path, json=body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def list(self, path: str, filter: str | None = None, **params: Any) -> requests.Response:
        if filter is not None:
            params["filter"] = filter
        return self.get(path, params=params)


def aws_user(user_name: str = "bjensen", **extra: Any) -> dict[str, Any]:
    """A CreateUser body AWS accepts."""
    body: dict[str, Any] = {
        "schemas": [CORE_USER],
        "userName": user_name,
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "displayName": "Babs Jensen",
        "active": True,
        "emails": [{"value": f"{user_name}@example.com", "type": "work", "primary": True}],
    }
    body.update(extra)
    return body


def aws_group(display_name: str = "Engineering", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"schemas": [CORE_GROUP], "displayName": display_name}
    body.update(extra)
    return body


def assert_aws_error(response: requests.Response, status: int, detail: str) -> None:
    """The exact AWS error wire shape (aws-scim.md §6.2)."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"schema", "schemas", "detail", "status", "exceptionRequestId", "timeStamp"}
    assert body["schema"] == [ERROR_URN]
    assert body["schemas"] == [ERROR_URN]
    assert body["status"] == str(status)
    assert body["detail"] == detail
    assert UUID.match(body["exceptionRequestId"])
    assert body["exceptionRequestId"] == response.headers["x-amzn-RequestId"]
    assert AWS_TIMESTAMP.match(body["timeStamp"])
