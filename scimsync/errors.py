"""Every exception scimsync raises, classified by what the caller should do.

All of them inherit from :class:`ScimSyncError`. HTTP failures are
:class:`ScimHTTPError` subclasses and are produced in exactly one place,
:func:`error_for_response` (called by the client), so the mapping from status
to exception can be read in one screen.

None of these ever carries the bearer token: the client passes paths (never
full headers) and the server's parsed error body only.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

__all__ = [
    "ConfigurationError",
    "ConflictError",
    "ConnectionFailedError",
    "ForbiddenError",
    "IntegrationError",
    "LinkConflictError",
    "MalformedResponseError",
    "NotFoundError",
    "Problem",
    "RateLimitedError",
    "RequestRejectedError",
    "ScimHTTPError",
    "ScimSyncError",
    "ServerError",
    "SourceReadError",
    "SyncFailedError",
    "TransientError",
    "UnauthorizedError",
    "ValidationError",
    "error_for_response",
]


class ScimSyncError(Exception):
    """Root of every exception raised by scimsync."""


class ConfigurationError(ScimSyncError, ValueError):
    """Settings are wrong; raised up front, before any work is done."""


class IntegrationError(ScimSyncError, ImportError):
    """An adapter's framework is not installed; the message names the extra."""


class LinkConflictError(ScimSyncError, ValueError):
    """A state store refused a link: another local key already links that remote id.

    Attributes:
        target: the target's name.
        kind: ``"user"`` or ``"group"``.
        key: the key being saved.
        remote_id: the remote id already linked.
        other_key: the key that holds it, if known.
    """

    def __init__(
        self, target: str, kind: str, key: str, remote_id: str, other_key: str | None = None
    ) -> None:
        self.target = target
        self.kind = kind
        self.key = key
        self.remote_id = remote_id
        self.other_key = other_key
        held = f" by {kind} {other_key}" if other_key is not None else ""
        super().__init__(
            f"cannot link {kind} {key} to {remote_id} on target {target!r}: "
            f"that remote id is already linked{held}"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.target, self.kind, self.key, self.remote_id, self.other_key))


class ScimHTTPError(ScimSyncError):
    """The SCIM server answered with an error, or could not be reached.

    Attributes:
        method: HTTP method, e.g. ``"POST"``.
        path: path relative to the base URL, e.g. ``"/Users/abc"`` (no query, no host).
        status: HTTP status, or ``None`` when no response arrived.
        request_id: the server's request id (``x-amzn-RequestId`` header or the
            ``exceptionRequestId`` body field), for the server's support desk.
        detail: the SCIM ``detail`` text from the error body, if any.
        scim_type: the SCIM ``scimType``, if any (AWS never sends one).
    """

    #: Whether retrying the same request later can succeed.
    retryable: bool = False

    def __init__(
        self,
        message: str = "",
        *,
        method: str = "",
        path: str = "",
        status: int | None = None,
        request_id: str | None = None,
        detail: str | None = None,
        scim_type: str | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.request_id = request_id
        self.detail = detail
        self.scim_type = scim_type
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        head = f"{self.method} {self.path}".strip()
        parts = [head] if head else []
        if self.status is not None:
            parts.append(f"-> {self.status}")
        text = " ".join(parts)
        tail = self.message or self.detail or ""
        if self.message and self.detail and self.detail not in self.message:
            tail = f"{self.message} (server said: {self.detail})"
        if tail:
            text = f"{text}: {tail}" if text else tail
        if self.request_id:
            text += f" [request id {self.request_id}]"
        return text

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep the structured fields when pickled (Celery, multiprocessing).
        return (
            _rebuild_http_error,
            (
                type(self),
                self.message,
                self.method,
                self.path,
                self.status,
                self.request_id,
                self.detail,
                self.scim_type,
            ),
        )


def _rebuild_http_error(
    cls: type[ScimHTTPError],
    message: str,
    method: str,
    path: str,
    status: int | None,
    request_id: str | None,
    detail: str | None,
    scim_type: str | None,
) -> ScimHTTPError:
    return cls(
        message,
        method=method,
        path=path,
        status=status,
        request_id=request_id,
        detail=detail,
        scim_type=scim_type,
    )


class TransientError(ScimHTTPError):
    """Try again later: 429, 502, 503, 504, or the connection failed."""

    retryable = True


class RateLimitedError(TransientError):
    """429 Too Many Requests. ``retry_after`` is in seconds, if the server said."""

    def __init__(self, message: str = "", *, retry_after: float | None = None, **kw: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)


class ConnectionFailedError(TransientError):
    """No HTTP response: DNS, refused or dropped connection, TLS failure, timeout."""


class NotFoundError(ScimHTTPError):
    """404: the resource (or, on AWS, the tenant) does not exist."""


class ConflictError(ScimHTTPError):
    """409: a resource with the same unique attribute already exists."""


class UnauthorizedError(ScimHTTPError):
    """401: the bearer token is invalid, expired or missing."""


class ForbiddenError(ScimHTTPError):
    """403: the token is valid but not allowed to do this."""


class RequestRejectedError(ScimHTTPError):
    """Another 4xx (usually 400): the server refused the request as sent."""


class ServerError(ScimHTTPError):
    """500, 501 or another 5xx that is not retried blindly."""


class MalformedResponseError(ScimHTTPError):
    """The server answered with something that is not the SCIM JSON expected."""


@attrs.frozen
class Problem:
    """One thing wrong with one object, found before anything was sent.

    Attributes:
        key: the local key of the user or group (``"42"``).
        attribute: the SCIM attribute path (``"name.familyName"``).
        rule: a short machine-readable rule name (``"required"``, ``"max_length"``).
        message: the human sentence, e.g.
            ``"user 42: name.familyName is required by the aws profile"``.
    """

    key: str
    attribute: str
    rule: str
    message: str

    def __str__(self) -> str:
        return self.message


class ValidationError(ScimSyncError, ValueError):
    """An object failed validation; ``problems`` lists every problem at once."""

    def __init__(self, kind: str, key: str, problems: Sequence[Problem]) -> None:
        self.kind = kind
        self.key = key
        self.problems = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        lines = "; ".join(p.message for p in self.problems)
        return f"{self.kind} {self.key} is invalid: {lines}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.kind, self.key, self.problems))


class SourceReadError(ScimSyncError):
    """The source raised while reading a key (the sync stops; nothing is deprovisioned).

    The message names the object and the source's exception, e.g.
    ``"user 42: reading the source failed: OperationalError: server closed the connection"``.
    Automatic mode retries it (the source may come back).
    """


class SyncFailedError(ScimSyncError):
    """Manual mode: syncing one object failed. ``trace`` holds every step taken."""

    def __init__(
        self, message: str, *, trace: Any = None, cause: BaseException | None = None
    ) -> None:
        self.trace = trace
        self.cause = cause
        super().__init__(message)


_AWS_HINTS: Mapping[int, str] = {
    401: "the bearer token is invalid, expired or revoked: generate a new SCIM access token and deploy it",
    403: "the token is not allowed to perform this operation",
}


def _detail_of(body: Any) -> tuple[str | None, str | None, str | None]:
    """Pull (detail, scimType, exceptionRequestId) from an error body, tolerantly."""
    if not isinstance(body, Mapping):
        return None, None, None
    detail = body.get("detail")
    scim_type = body.get("scimType")
    req_id = body.get("exceptionRequestId")
    return (
        str(detail) if detail is not None else None,
        str(scim_type) if scim_type is not None else None,
        str(req_id) if req_id is not None else None,
    )


def error_for_response(
    *,
    method: str,
    path: str,
    status: int,
    body: Any,
    request_id: str | None,
    retry_after: float | None = None,
) -> ScimHTTPError:
    """Map an error status and its (already parsed, possibly ``None``) body to an exception.

    This is the only function that decides which exception a status becomes.
    """
    detail, scim_type, body_req_id = _detail_of(body)
    rid = request_id or body_req_id
    kw: dict[str, Any] = {
        "method": method,
        "path": path,
        "status": status,
        "request_id": rid,
        "detail": detail,
        "scim_type": scim_type,
    }
    if status == 429:
        return RateLimitedError("rate limited by the server", retry_after=retry_after, **kw)
    if status in (502, 503, 504):
        return TransientError("the server is temporarily unavailable", **kw)
    if status == 401:
        return UnauthorizedError(_AWS_HINTS[401], **kw)
    if status == 403:
        return ForbiddenError(_AWS_HINTS[403], **kw)
    if status == 404:
        if detail and "TENANT does not exist" in detail:
            return NotFoundError(
                "the SCIM endpoint URL is wrong (unknown tenant): copy the SCIM endpoint "
                "from the IAM Identity Center console again",
                **kw,
            )
        return NotFoundError("not found", **kw)
    if status == 409:
        return ConflictError("a resource with the same unique attribute already exists", **kw)
    if 400 <= status < 500:
        return RequestRejectedError("the server rejected the request", **kw)
    if status >= 500:
        return ServerError("the server failed to process the request", **kw)
    return MalformedResponseError(f"unexpected status {status}", **kw)
