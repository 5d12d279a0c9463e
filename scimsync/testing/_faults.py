"""Fault injection for the emulator: latency, rate limits, 5xx, dropped connections, outages.

Every decision that involves chance uses one :class:`random.Random` seeded from
:attr:`FaultConfig.seed`, so a test that makes the same requests in the same order sees
the same faults.
"""

from __future__ import annotations

import random
import time
from typing import Any, Literal

import attrs

__all__ = ["FaultConfig", "FaultDecision", "FaultState", "ForcedFault"]


def _non_negative(attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and value < 0:
        raise ValueError(f"FaultConfig.{attribute.name} must be >= 0, got {value!r}")


def _positive(attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and value <= 0:
        raise ValueError(f"FaultConfig.{attribute.name} must be > 0 (or None), got {value!r}")


def _probability(attribute: attrs.Attribute[Any], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"FaultConfig.{attribute.name} must be between 0 and 1, got {value!r}")


def _one_of(attribute: attrs.Attribute[Any], value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"FaultConfig.{attribute.name} must be one of {choices}, got {value!r}")


@attrs.define
class FaultConfig:
    """What can go wrong, changeable while the server runs (``server.faults``).

    Faults apply to every request (before authentication), in this order: ``down``, then
    queued one-shot faults (:meth:`EmulatorServer.fail_next`,
    :meth:`EmulatorServer.drop_next`), then ``drop_rate``, ``latency``, ``rate_limit``,
    ``error_rate``.

    Attributes:
        latency: seconds added to every response.
        latency_jitter: up to this many extra seconds, drawn at random (seeded).
        rate_limit: requests per second allowed (token bucket); beyond it the server
            answers 429. ``None`` disables the limit.
        rate_burst: bucket size, i.e. how many requests may arrive at once
            (default: ``max(1, rate_limit)``).
        retry_after: seconds to put in ``Retry-After`` on 429 (and on forced failures
            that ask for it); ``None`` sends no header (the AWS default: whether AWS sends
            ``Retry-After`` is unconfirmed).
        error_rate: probability (0..1) that a request gets a random server error.
        error_statuses: the statuses drawn for those errors.
        drop_rate: probability that the connection is closed without any response.
        drop_phase: ``"request"`` drops before the request is processed (nothing
            happened); ``"response"`` processes it and then drops the reply (the change
            happened but the client never hears, e.g. to test idempotent creates).
        down: when true every request fails: with ``down_status`` (``down_mode="status"``)
            or with a connection reset (``down_mode="reset"``).
        down_status: status used while down in ``"status"`` mode (503).
        down_mode: ``"status"`` or ``"reset"``.
        seed: seed of the random generator used for jitter, errors and drops.
    """

    latency: float = attrs.field(default=0.0, validator=lambda i, a, v: _non_negative(a, v))
    latency_jitter: float = attrs.field(default=0.0, validator=lambda i, a, v: _non_negative(a, v))
    rate_limit: float | None = attrs.field(default=None, validator=lambda i, a, v: _positive(a, v))
    rate_burst: int | None = attrs.field(default=None, validator=lambda i, a, v: _positive(a, v))
    retry_after: float | None = attrs.field(
        default=None, validator=lambda i, a, v: _non_negative(a, v)
    )
    error_rate: float = attrs.field(default=0.0, validator=lambda i, a, v: _probability(a, v))
    error_statuses: tuple[int, ...] = (500,)
    drop_rate: float = attrs.field(default=0.0, validator=lambda i, a, v: _probability(a, v))
    drop_phase: Literal["request", "response"] = attrs.field(
        default="request", validator=lambda i, a, v: _one_of(a, v, ("request", "response"))
    )
    down: bool = False
    down_status: int = 503
    down_mode: Literal["status", "reset"] = attrs.field(
        default="status", validator=lambda i, a, v: _one_of(a, v, ("status", "reset"))
    )
    seed: int | None = 0


@attrs.define
class ForcedFault:
    """A queued one-shot fault (see :meth:`EmulatorServer.fail_next`)."""

    kind: Literal["status", "drop", "raw"]
    remaining: int
    status: int = 500
    method: str | None = None
    path_prefix: str | None = None
    retry_after: float | None = None
    phase: Literal["request", "response"] = "request"
    body: bytes = b""
    content_type: str | None = None

    def applies(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path_prefix is None or path.startswith(self.path_prefix)


@attrs.frozen
class FaultDecision:
    """What the fault layer decided for one request."""

    kind: Literal["none", "status", "drop", "reset", "raw"] = "none"
    status: int = 0
    retry_after: float | None = None
    label: str | None = None
    delay: float = 0.0
    drop_after: bool = False
    body: bytes = b""
    content_type: str | None = None


class FaultState:
    """Mutable fault machinery (random generator, token bucket, queued faults).

    Not thread-safe by itself: the server calls :meth:`decide` under its lock.
    """

    def __init__(self, config: FaultConfig) -> None:
        self.forced: list[ForcedFault] = []
        self.reconfigure(config)

    def reconfigure(self, config: FaultConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.tokens: float | None = None
        self.last_refill = time.monotonic()

    def _bucket_allows(self) -> bool:
        cfg = self.config
        if cfg.rate_limit is None:
            return True
        burst = float(cfg.rate_burst if cfg.rate_burst is not None else max(1.0, cfg.rate_limit))
        now = time.monotonic()
        if self.tokens is None:
            self.tokens = burst
        else:
            self.tokens = min(burst, self.tokens + (now - self.last_refill) * cfg.rate_limit)
        self.last_refill = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def decide(self, method: str, path: str) -> FaultDecision:
        cfg = self.config
        if cfg.down:
            if cfg.down_mode == "reset":
                return FaultDecision("reset", label="down")
            return FaultDecision("status", cfg.down_status, label="down")
        for forced in self.forced:
            if forced.remaining > 0 and forced.applies(method, path):
                forced.remaining -= 1
                self.forced = [f for f in self.forced if f.remaining > 0]
                if forced.kind == "drop":
                    return FaultDecision(
                        "drop", label="forced-drop", drop_after=forced.phase == "response"
                    )
                if forced.kind == "raw":
                    return FaultDecision(
                        "raw",
                        forced.status,
                        label="forced-raw",
                        body=forced.body,
                        content_type=forced.content_type,
                    )
                return FaultDecision(
                    "status", forced.status, retry_after=forced.retry_after, label="forced"
                )
        if cfg.drop_rate > 0 and self.rng.random() < cfg.drop_rate:
            return FaultDecision("drop", label="drop", drop_after=cfg.drop_phase == "response")
        delay = cfg.latency
        if cfg.latency_jitter > 0:
            delay += self.rng.uniform(0.0, cfg.latency_jitter)
        if not self._bucket_allows():
            return FaultDecision(
                "status", 429, retry_after=cfg.retry_after, label="rate_limit", delay=delay
            )
        if cfg.error_rate > 0 and self.rng.random() < cfg.error_rate:
            status = self.rng.choice(cfg.error_statuses) if cfg.error_statuses else 500
            return FaultDecision("status", status, label="error", delay=delay)
        return FaultDecision("none", delay=delay)
