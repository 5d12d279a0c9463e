"""The SCIM 2.0 HTTP client: transport, retries, rate limiting, errors, operations.

Layers, bottom up:

* transport: one :class:`requests.Session` with a pooled :class:`~requests.adapters.HTTPAdapter`,
  headers built once, environment settings (proxies, ``REQUESTS_CA_BUNDLE``) merged once;
* :class:`RetryPolicy`: which failures are retried, and for how long;
* ``_RateLimiter``: optional token bucket with AIMD adaptation to 429s;
* :class:`ScimClient`: ``_request`` (the only place a status code becomes an exception,
  through :func:`scimsync.errors.error_for_response`) and the operations on top of it.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import contextlib
import contextvars
import email.utils
import http.cookiejar
import json
import logging
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import quote, urlsplit

import attrs
import requests
import requests.adapters
import urllib3
from requests.structures import CaseInsensitiveDict
from requests.utils import check_header_validity

from scimsync._filter import Filter
from scimsync._resources import (
    Group,
    ListResponse,
    ParseError,
    ResourceType,
    Schema,
    ServiceProviderConfig,
    User,
    from_wire,
    to_wire,
)
from scimsync._version import __version__
from scimsync.errors import (
    ConfigurationError,
    ConnectionFailedError,
    MalformedResponseError,
    RateLimitedError,
    ScimHTTPError,
    error_for_response,
)

__all__ = ["ConnectionResult", "Exchange", "ResourceEndpoint", "RetryPolicy", "ScimClient"]

log = logging.getLogger("scimsync.client")

PATCH_OP_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LIST_RESPONSE_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SCIM_JSON = "application/scim+json"

Token = str | Callable[[], str]
Pagination = Literal["index", "cursor", "auto"]
T = TypeVar("T")

_DEBUG = logging.DEBUG


# --------------------------------------------------------------------------- policy


def _default_sleep(seconds: float) -> None:
    time.sleep(seconds)


@attrs.frozen
class RetryPolicy:
    """Which failed requests are retried, how long to wait, and when to give up.

    Retried: 429, 502, 503, 504 (``retry_statuses``) and failures with no HTTP response
    (refused or dropped connections, connect and read timeouts). Never retried: 400,
    401, 403, 404, 409, 500, 501 and TLS certificate failures; retrying them cannot help.

    A POST whose *read* timed out may already have created the resource. It is retried
    anyway (``retry_read_timeouts=True``): the retry then answers 409, which the engine
    turns into adoption of the existing resource (look-up by ``userName``/``displayName``).
    Set ``retry_read_timeouts=False`` to raise at once instead.

    The wait before retry *n* (1-based) is "full jitter" exponential backoff,
    ``uniform(0, min(backoff_max, backoff_base * 2 ** (n - 1)))``, unless the server sent
    ``Retry-After`` (seconds or an HTTP-date), which is honoured up to ``max_retry_after``.
    At most ``max_attempts`` attempts are made, and no wait starts that would end more
    than ``max_elapsed`` seconds after the first attempt.

    Args:
        max_attempts: attempts in all, including the first (1 disables retries).
        backoff_base: the first backoff ceiling, in seconds.
        backoff_max: the largest backoff ceiling, in seconds.
        max_retry_after: the cap applied to a server's ``Retry-After``, in seconds.
        max_elapsed: total time budget for one call, retries included, in seconds.
        retry_statuses: HTTP statuses that are retried.
        retry_connection_errors: retry when no response arrived (refused, reset, timeouts).
        retry_read_timeouts: also retry a request that was sent but got no answer in time.
        sleep: the sleep function (inject a recorder in tests).
        clock: monotonic clock, in seconds (inject a fake in tests).
        wall_clock: Unix time, to read ``Retry-After`` HTTP-dates (inject in tests).
        rng: returns a float in [0, 1), for jitter (inject in tests).

    .. versionadded:: 0.1.0
    """

    max_attempts: int = attrs.field(default=5, validator=attrs.validators.ge(1))
    backoff_base: float = attrs.field(default=0.5, validator=attrs.validators.ge(0))
    backoff_max: float = attrs.field(default=20.0, validator=attrs.validators.ge(0))
    max_retry_after: float = attrs.field(default=60.0, validator=attrs.validators.ge(0))
    max_elapsed: float = attrs.field(default=120.0, validator=attrs.validators.ge(0))
    retry_statuses: frozenset[int] = attrs.field(
        default=frozenset({429, 502, 503, 504}), converter=frozenset
    )
    retry_connection_errors: bool = True
    retry_read_timeouts: bool = True
    sleep: Callable[[float], None] = attrs.field(default=_default_sleep, eq=False, repr=False)
    clock: Callable[[], float] = attrs.field(default=time.monotonic, eq=False, repr=False)
    wall_clock: Callable[[], float] = attrs.field(default=time.time, eq=False, repr=False)
    rng: Callable[[], float] = attrs.field(default=random.random, eq=False, repr=False)

    @retry_statuses.validator
    def _check_statuses(self, attribute: attrs.Attribute[Any], value: frozenset[int]) -> None:
        never = {400, 401, 403, 404, 409, 500}
        bad = sorted(set(value) & never)
        if bad:
            raise ConfigurationError(
                f"RetryPolicy.retry_statuses: {bad} must not be retried blindly "
                "(the request is wrong, or repeating it could do harm)"
            )

    @classmethod
    def none(cls) -> RetryPolicy:
        """A policy that never retries (one attempt)."""
        return cls(max_attempts=1)

    def backoff(self, retry_number: int) -> float:
        """Full-jitter backoff before retry ``retry_number`` (1-based), in seconds."""
        ceiling = min(self.backoff_max, self.backoff_base * 2.0 ** (retry_number - 1))
        return self.rng() * ceiling

    def delay(self, retry_number: int, retry_after: float | None) -> float:
        """The wait before retry ``retry_number``: ``Retry-After`` (capped) or backoff."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        return self.backoff(retry_number)

    def parse_retry_after(self, value: str | None) -> float | None:
        """Read a ``Retry-After`` header: delta-seconds or an HTTP-date. ``None`` if absent/bad."""
        if not value:
            return None
        value = value.strip()
        try:
            return max(float(value), 0.0)
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        return max(when.timestamp() - self.wall_clock(), 0.0)


# --------------------------------------------------------------------- rate limiter


class _RateLimiter:
    """A token bucket shared by every thread of one client, adapted by AIMD.

    * Configured (``rate`` not None): at most ``rate`` requests/second, bursts up to
      ``max(1, rate)`` requests.
    * Adaptive (``adaptive=True``): a 429 cuts the effective rate in half (multiplicative
      decrease, at most once per ``cooldown`` seconds so one burst of 429s counts once).
      While unlimited, the first 429 engages the limiter at half the request rate observed
      over the last second (at least 1 request/s). Every ``cooldown`` seconds of successes adds
      ``increase_step`` requests/second (additive increase) until the configured rate is
      reached again; an unconfigured limiter goes back to unlimited once it has climbed
      past the rate at which it was first throttled.
    """

    def __init__(
        self,
        rate: float | None,
        *,
        adaptive: bool,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        min_rate: float = 0.5,
        decrease_factor: float = 0.5,
        increase_step: float = 1.0,
        cooldown: float = 1.0,
    ) -> None:
        if rate is not None and rate <= 0:
            raise ConfigurationError(f"ScimClient.rate_limit must be > 0, got {rate!r}")
        self.configured = rate
        self.rate: float | None = rate
        self.adaptive = adaptive
        self._clock = clock
        self._sleep = sleep
        self._min_rate = min_rate
        self._decrease = decrease_factor
        self._step = increase_step
        self._cooldown = cooldown
        self._lock = threading.Lock()
        self._tokens = max(1.0, rate) if rate else 0.0
        self._last = clock()
        self._last_change = float("-inf")
        self._ceiling: float | None = None
        self._recent: deque[float] = deque(maxlen=1024)
        self.throttle_events = 0

    @property
    def active(self) -> bool:
        return self.rate is not None or self.adaptive

    def acquire(self) -> None:
        """Take one token, sleeping (outside the lock) if the bucket is empty."""
        with self._lock:
            now = self._clock()
            if self.adaptive:
                self._recent.append(now)
            rate = self.rate
            if rate is None:
                return
            burst = max(1.0, rate)
            self._tokens = min(burst, self._tokens + (now - self._last) * rate)
            self._last = now
            self._tokens -= 1.0  # reserve; a negative balance is the queue
            wait = -self._tokens / rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)

    def on_throttled(self) -> None:
        """A 429 arrived: multiplicative decrease (once per cooldown)."""
        if not self.adaptive:
            return
        with self._lock:
            now = self._clock()
            if now - self._last_change < self._cooldown:
                return
            self._last_change = now
            self.throttle_events += 1
            if self.rate is None:
                observed = sum(1 for t in self._recent if now - t <= 1.0)
                base = float(max(observed, 2))
                self._ceiling = base
                new = base * self._decrease
            else:
                new = self.rate * self._decrease
            self.rate = max(self._min_rate, new)
            self._tokens = min(self._tokens, 0.0)
            self._last = now
            log.warning("rate limited by the server: slowing to %.2f requests/s", self.rate)

    def on_success(self) -> None:
        """A request succeeded: additive increase (once per cooldown) after a decrease."""
        if not self.adaptive or self._last_change == float("-inf"):
            return
        with self._lock:
            rate = self.rate
            if rate is None:
                return
            now = self._clock()
            if now - self._last_change < self._cooldown:
                return
            self._last_change = now
            target = self.configured if self.configured is not None else self._ceiling
            rate += self._step
            if target is not None and rate >= target:
                if self.configured is None:
                    self.rate = None
                    self._last_change = float("-inf")
                    log.info("no more 429s: rate limit lifted")
                    return
                rate = target
                self._last_change = float("-inf")  # back to the configured rate
            self.rate = rate


# ---------------------------------------------------------------------- exchanges


@attrs.frozen
class Exchange:
    """One HTTP attempt, as recorded by :meth:`ScimClient.recording`.

    Never holds headers or the token.

    Attributes:
        method: ``"GET"``, ``"POST"``, ...
        path: path relative to the base URL, e.g. ``"/Users/abc"``.
        query: the encoded query string, without ``?`` (``""`` if none).
        request_body: the JSON body sent (a dict), or ``None``.
        status: the HTTP status, or ``None`` when no response arrived.
        response_body: the parsed JSON reply, the raw text if not JSON, or ``None``.
        duration: seconds from send to full response.
        request_id: the server's request id, if any.
        attempt: 1 for the first attempt, 2 for the first retry, ...
        error: the failure's text when no response arrived.

    .. versionadded:: 0.1.0
    """

    method: str
    path: str
    query: str
    request_body: Any
    status: int | None
    response_body: Any
    duration: float
    request_id: str | None
    attempt: int
    error: str | None = None


_recording: contextvars.ContextVar[list[Exchange] | None] = contextvars.ContextVar(
    "scimsync_recording", default=None
)


@attrs.frozen
class ConnectionResult:
    """What :meth:`ScimClient.test_connection` found.

    Attributes:
        reachable: an HTTP answer came back from the base URL.
        authenticated: the token was accepted (an authenticated list request succeeded).
        capabilities: the server's ``ServiceProviderConfig`` (parsed model, or the raw dict
            when it could not be parsed), or ``None``.
        round_trip_seconds: duration of the first request, or ``None``.
        error: the error met, or ``None`` when all is well.
        advice: what to fix, in words for the person holding the admin console.

    .. versionadded:: 0.1.0
    """

    reachable: bool
    authenticated: bool
    capabilities: Any
    round_trip_seconds: float | None
    error: ScimHTTPError | None
    advice: str

    @property
    def ok(self) -> bool:
        """Reachable, authenticated, no error."""
        return self.reachable and self.authenticated and self.error is None


# ---------------------------------------------------------------------- helpers


def _encode_query(params: Sequence[tuple[str, str | None]]) -> str:
    """Encode query items; a ``None`` value gives a bare key (``?cursor``)."""
    parts = []
    for key, value in params:
        if value is None:
            parts.append(quote(key, safe=""))
        else:
            parts.append(f"{quote(key, safe='')}={quote(value, safe='')}")
    return "&".join(parts)


def _quote_id(resource_id: Any, what: str) -> str:
    if not isinstance(resource_id, str) or not resource_id:
        raise ValueError(f"{what}: the resource id must be a non-empty string, got {resource_id!r}")
    return quote(resource_id, safe="")


# A path that requests' URL preparation (urllib3's parse_url, then requote_uri) leaves
# exactly as it is: only RFC 3986 path characters, upper-case percent-escapes of characters
# that are not unreserved (what urllib.parse.quote produces), no "?" or "#", no "." or ".."
# segment. Every path our endpoints build (quoted ids) is one; anything else is prepared
# the slow way, by requests.
_PLAIN_PATH = re.compile(
    r"(?:/(?!\.\.?(?:/|$))"
    r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]"
    r"|%(?!2[DE]|3[0-9]|4[1-9A-F]|5[0-9AF]|6[1-9A-F]|7[0-9AE])[0-9A-F]{2})*)+"
)


def _filter_text(flt: Filter | str | None) -> str | None:
    if flt is None:
        return None
    text = str(flt)
    if not text.strip():
        raise ValueError("filter: must not be empty (pass None to list everything)")
    return text


# --------------------------------------------------------------------- transport

_ORIGIN = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")


class _Adapter(requests.adapters.HTTPAdapter):
    """requests' ``HTTPAdapter``, remembering what it works out per origin.

    ``HTTPAdapter.send`` (not overridden: it is the transport, and what ``responses``
    patches) looks the connection pool up for every request: it picks the proxy
    (``select_proxy`` parses the URL), builds the pool key (parses it again; a CA bundle
    path is checked with ``os.path.isdir``) and asks the pool manager under its lock;
    ``request_url`` then picks the proxy once more to choose between the path and the
    absolute URL. All of that depends only on the URL's scheme, host and port and on
    ``verify``, ``cert`` and ``proxies``, so ``HTTPAdapter``'s own answer is remembered
    per combination. A pool manager only replaces or drops a pool when it is asked for
    another one (it then may evict the least recently used) or cleared, so every lookup
    that is not remembered, and :meth:`close`, forget the pools remembered so far; a
    closed pool (urllib3 1.x closes evicted pools) is looked up again too. A ScimClient
    talks to one origin, so after its first request every lookup is remembered.
    """

    def __init__(self, *, pool_connections: int, pool_maxsize: int) -> None:
        super().__init__(
            pool_connections=pool_connections,
            pool_maxsize=pool_maxsize,
            max_retries=0,
            pool_block=False,
        )
        self._pools: dict[tuple[Any, ...], Any] = {}
        self._path_only: dict[tuple[Any, ...], bool] = {}

    @staticmethod
    def _key(url: Any, proxies: Mapping[str, str] | None) -> tuple[Any, ...] | None:
        found = _ORIGIN.match(url) if isinstance(url, str) else None
        if found is None:
            return None
        return (found.group(), tuple(proxies.items()) if proxies else ())

    def get_connection_with_tls_context(
        self,
        request: requests.PreparedRequest,
        verify: bool | str | None,
        proxies: Mapping[str, str] | None = None,
        cert: Any = None,
    ) -> Any:
        key = self._key(request.url, proxies)
        if key is None:
            self._pools = {}
            return super().get_connection_with_tls_context(request, verify, proxies, cert)
        key += (verify, cert)
        pool = self._pools.get(key)
        if pool is None or pool.pool is None:  # pool.pool is None: the pool was closed
            pool = super().get_connection_with_tls_context(request, verify, proxies, cert)
            self._pools = {key: pool}
        return pool

    def request_url(
        self, request: requests.PreparedRequest, proxies: Mapping[str, str] | None
    ) -> str:
        key = self._key(request.url, proxies)
        if key is not None and self._path_only.get(key):
            return request.path_url
        url = super().request_url(request, proxies)
        if key is not None:
            # Only "the path" is remembered: an absolute URL (plain http through a proxy)
            # is asked for anew each time.
            self._path_only = {key: url == request.path_url}
        return url

    def close(self) -> None:
        self._pools = {}
        super().close()


# ------------------------------------------------------------------------ client


class ScimClient:
    """A thread-safe SCIM 2.0 client, tuned for AWS IAM Identity Center and RFC servers.

    Args:
        base_url: the SCIM endpoint, e.g. ``https://scim.eu-west-1.amazonaws.com/<tenant>/scim/v2``
            (a trailing slash or not, both work).
        token: the bearer token, or a callable returning the current token (called for
            every request, so a rotated token is picked up without a new client).
        timeout: ``(connect, read)`` seconds, or one number for both.
        verify: ``True`` (system CAs), ``False`` (no TLS verification, for labs only), or
            the path of a CA bundle. ``False`` logs a warning (``scimsync.client``, once
            per URL and process), and so does an ``http://`` URL to a host other than
            the loopback: the token would travel unencrypted.
        user_agent: a product token to put in front of scimsync's own ``User-Agent``.
        retry: the :class:`RetryPolicy`.
        rate_limit: at most this many requests per second, shared by all threads; ``None``
            for no limit.
        adaptive_rate_limit: slow down on 429 (AIMD), even when ``rate_limit`` is ``None``.
        pool_size: HTTP connections kept per host; size it to your worker threads.
        cursor_pagination: the server supports cursor pagination (``pagination="auto"``
            then uses it). ``None``: learn it from ``service_provider_config()``.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        base_url: str,
        token: Token,
        *,
        timeout: float | tuple[float, float] = (5.0, 30.0),
        verify: bool | str = True,
        user_agent: str | None = None,
        retry: RetryPolicy | None = None,
        rate_limit: float | None = None,
        adaptive_rate_limit: bool = True,
        pool_size: int = 16,
        cursor_pagination: bool | None = None,
    ) -> None:
        self.base_url = self._normalise_base_url(base_url)
        if isinstance(token, str):
            self._check_token(token)
        elif not callable(token):
            raise ConfigurationError(
                f"ScimClient.token: expected a string or a callable returning one, got {type(token).__name__}"
            )
        self._token = token
        if isinstance(timeout, (int, float)):
            timeout = (float(timeout), float(timeout))
        if len(timeout) != 2 or min(timeout) <= 0:
            raise ConfigurationError(
                f"ScimClient.timeout: expected positive numbers, got {timeout!r}"
            )
        self.timeout: tuple[float, float] = (float(timeout[0]), float(timeout[1]))
        if verify is not True and verify is not False and not isinstance(verify, str):
            raise ConfigurationError(
                f"ScimClient.verify: expected True, False or a CA bundle path, got {verify!r}"
            )
        if pool_size < 1:
            raise ConfigurationError(f"ScimClient.pool_size: must be >= 1, got {pool_size!r}")
        _warn_insecure_once(self.base_url, verify)
        self.retry = retry if retry is not None else RetryPolicy()
        self.cursor_pagination = cursor_pagination
        self._limiter = _RateLimiter(
            rate_limit,
            adaptive=adaptive_rate_limit,
            clock=self.retry.clock,
            sleep=self.retry.sleep,
        )

        ua = f"scimsync/{__version__} (+python-requests/{requests.__version__})"
        self.user_agent = f"{user_agent} {ua}" if user_agent else ua
        self._base_headers: dict[str, str] = {
            "User-Agent": self.user_agent,
            "Accept": SCIM_JSON,
            "Accept-Encoding": "gzip, deflate",
            "Connection": "keep-alive",
        }

        session = requests.Session()
        session.headers.clear()
        # SCIM is stateless; a cookie jar that accepts nothing keeps threads independent.
        session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        adapter = _Adapter(pool_connections=4, pool_maxsize=pool_size)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.verify = verify
        self._session = session
        # Environment (proxies, REQUESTS_CA_BUNDLE) depends on the host only: merge it once.
        self._send_kwargs: dict[str, Any] = dict(
            session.merge_environment_settings(self.base_url, {}, False, verify, None)
        )
        self._send_kwargs["timeout"] = self.timeout
        self._send_kwargs["stream"] = False
        # Straight to the adapter: Session.send would add hooks, cookie extraction and
        # redirect handling, none of which SCIM uses (redirects are not followed).
        self._adapter = adapter
        self._prepare_once()

        self._count_lock = threading.Lock()
        self._request_count = 0
        self._closed = False
        self.users: ResourceEndpoint[User] = ResourceEndpoint(self, "/Users", User)
        self.groups: GroupsEndpoint = GroupsEndpoint(self, "/Groups", Group)

    # -- construction helpers

    @staticmethod
    def _normalise_base_url(base_url: str) -> str:
        if not isinstance(base_url, str):
            raise ConfigurationError(
                f"ScimClient.base_url: expected a string, got {type(base_url).__name__}"
            )
        url = base_url.strip()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            # A value without "://" is not shown: it may be the token, passed in the
            # wrong place (ScimClient(token, url), or the URL variable set to the token).
            got = repr(url) if "://" in url else f"a value of {len(url)} characters (not shown)"
            raise ConfigurationError(
                f"ScimClient.base_url: expected an http(s) URL such as "
                f"https://scim.us-east-1.amazonaws.com/<tenant>/scim/v2, got {got}"
            )
        if parts.query or parts.fragment:
            raise ConfigurationError("ScimClient.base_url: must not contain a query or fragment")
        if parts.username or parts.password:
            raise ConfigurationError(
                "ScimClient.base_url: must not contain credentials; pass the token separately"
            )
        return url.rstrip("/")

    def _prepare_once(self) -> None:
        """Do once what ``PreparedRequest.prepare()`` would redo for every request.

        ``prepare()`` parses and normalises the whole URL (scheme and host case, IDNA,
        dot segments, percent-escapes), validates every header and builds a
        case-insensitive header dict each time. The base URL and our headers never change,
        so :meth:`request` builds the same ``PreparedRequest`` directly from
        ``_wire_base`` (the base URL as ``prepare()`` writes it) and header templates.
        ``_wire_base`` stays ``None`` (and every request goes through ``prepare()``, as
        before) unless a probe URL prepared both ways comes out identical, and the
        templates are used only when every base header passes requests' own validation.
        """
        self._wire_base: str | None = None
        probe = "/Users/a%2Fb%20%C3%A9-._~:@!$&'()*+,;=?filter=a%20eq%20%22b%22&count=1&cursor"
        try:
            prepared = requests.PreparedRequest()
            prepared.prepare_url(self.base_url + probe, None)
            for header in self._base_headers.items():
                check_header_validity(header)
        except Exception:
            return  # prepare() raises it again on every request, as it always did
        url = prepared.url or ""
        if url.endswith(probe):
            self._wire_base = url[: len(url) - len(probe)]
        template: CaseInsensitiveDict[str] = CaseInsensitiveDict(self._base_headers)
        self._headers_bare = template
        with_body = template.copy()
        with_body["Content-Type"] = SCIM_JSON
        self._headers_body = with_body

    @staticmethod
    def _check_token(token: str) -> None:
        if not token or not token.strip():
            raise ConfigurationError("ScimClient.token: the bearer token is empty")
        if any(c in token for c in "\r\n\0") or token != token.strip():
            raise ConfigurationError(
                "ScimClient.token: the bearer token contains whitespace or control characters "
                "(check how it was copied; the token itself is not shown)"
            )

    def _current_token(self) -> str:
        token = self._token
        if isinstance(token, str):
            return token
        value = token()
        if not isinstance(value, str):
            raise ConfigurationError(
                f"ScimClient.token: the token callable returned {type(value).__name__}, not str"
            )
        self._check_token(value)
        return value

    def __repr__(self) -> str:
        return f"ScimClient({self.base_url!r})"

    # -- lifecycle

    def close(self) -> None:
        """Close pooled connections. The client cannot be used afterwards."""
        self._closed = True
        self._session.close()

    def __enter__(self) -> ScimClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- observability

    @property
    def request_count(self) -> int:
        """HTTP requests sent so far (every attempt counts), across threads."""
        return self._request_count

    @property
    def effective_rate(self) -> float | None:
        """The client-side rate limit now in force (requests/s), ``None`` when unlimited."""
        return self._limiter.rate

    @contextlib.contextmanager
    def recording(self) -> Iterator[list[Exchange]]:
        """Record every HTTP attempt made in this thread/context into a list.

        Other threads (and other contexts) are not recorded into it::

            with client.recording() as exchanges:
                client.users.get("abc")
            assert exchanges[0].status == 200
        """
        exchanges: list[Exchange] = []
        reset = _recording.set(exchanges)
        try:
            yield exchanges
        finally:
            _recording.reset(reset)

    # -- the one request function

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, str | None]] = (),
        body: Any = None,
        ok: Iterable[int] = (200,),
        retry: RetryPolicy | None = None,
    ) -> tuple[int, Any]:
        """Send one SCIM request (with retries) and return ``(status, parsed JSON or None)``.

        Args:
            method: the HTTP method.
            path: path below the base URL, starting with ``/``; ids already quoted.
            query: query items; a ``None`` value sends a bare key.
            body: a JSON-serialisable body, or ``None``.
            ok: the statuses that count as success.
            retry: a policy for this call instead of the client's.

        Raises:
            ScimHTTPError: a subclass chosen by :func:`scimsync.errors.error_for_response`,
                :class:`ConnectionFailedError` or :class:`MalformedResponseError`.
        """
        if self._closed:
            raise ConfigurationError("ScimClient: the client is closed")
        policy = retry or self.retry
        qs = _encode_query(query) if query else ""
        data = (
            json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
            if body is not None
            else None
        )
        wire_base = self._wire_base
        if wire_base is not None and _PLAIN_PATH.fullmatch(path) is not None:
            # What prepare() would build, built directly (see _prepare_once): the same URL,
            # the same headers in the same order, Content-Length as prepare_body sets it.
            url = wire_base + path + ("?" + qs if qs else "")
            wire_method = method.upper()
            template = self._headers_bare if data is None else self._headers_body
            length = (
                str(len(data))
                if data is not None
                else (None if wire_method in ("GET", "HEAD") else "0")
            )
            headers: dict[str, str] | None = None
        else:
            url = self.base_url + path + ("?" + qs if qs else "")
            headers = self._base_headers.copy()
            if data is not None:
                headers["Content-Type"] = SCIM_JSON
        limiter = self._limiter
        clock = policy.clock
        started = clock()
        attempt = 0
        while True:
            attempt += 1
            secret = self._current_token()
            if headers is not None:
                headers["Authorization"] = "Bearer " + secret
            if limiter.active:
                limiter.acquire()
            with self._count_lock:
                self._request_count += 1
            prep = requests.PreparedRequest()
            if headers is None:
                wire_headers = template.copy()
                wire_headers["Authorization"] = "Bearer " + secret
                if length is not None:
                    wire_headers["Content-Length"] = length
                prep.method = wire_method
                prep.url = url
                prep.headers = wire_headers
                prep.body = data
            else:
                prep.prepare(method=method, url=url, headers=headers, data=data)
            t0 = time.perf_counter()
            retry_after: float | None = None
            error: ScimHTTPError
            try:
                resp = self._adapter.send(prep, **self._send_kwargs)
            except requests.RequestException as exc:
                duration = time.perf_counter() - t0
                error, retryable = self._transport_error(method, path, exc, policy, secret)
                self._after(method, path, qs, body, None, None, duration, None, attempt, str(error))
            else:
                duration = time.perf_counter() - t0
                status = resp.status_code
                headers_in = resp.headers
                request_id = headers_in.get("x-amzn-RequestId") or headers_in.get("X-Request-Id")
                content = _read_content(resp)
                if secret.encode() in content:  # a server echoing the token back
                    content = content.replace(secret.encode(), b"***")
                parsed, is_json = self._parse(content)
                if is_json and b"\\" in content and _contains(parsed, secret):
                    # echoed with JSON escapes ("abc\/def" for "abc/def"): mask it decoded
                    parsed = _masked(parsed, secret)
                self._after(method, path, qs, body, status, parsed, duration, request_id, attempt)
                if status in ok:
                    if limiter.adaptive:
                        limiter.on_success()
                    if not is_json:
                        raise MalformedResponseError(
                            "the server's reply is not JSON"
                            + self._content_hint(headers_in.get("Content-Type"), parsed),
                            method=method,
                            path=path,
                            status=status,
                            request_id=request_id,
                        )
                    return status, parsed
                if status == 429:
                    limiter.on_throttled()
                retry_after = policy.parse_retry_after(headers_in.get("Retry-After"))
                error = error_for_response(
                    method=method,
                    path=path,
                    status=status,
                    body=parsed if is_json else None,
                    request_id=request_id,
                    retry_after=retry_after,
                )
                if not is_json and parsed and error.detail is None:
                    error.detail = str(parsed)[:200]
                retryable = status in policy.retry_statuses
            if not retryable or attempt >= policy.max_attempts:
                raise error
            wait = policy.delay(attempt, retry_after)
            if clock() - started + wait > policy.max_elapsed:
                raise error
            log.warning(
                "%s %s attempt %d failed (%s); retrying in %.2fs",
                method,
                path,
                attempt,
                error.status if error.status is not None else type(error).__name__,
                wait,
            )
            policy.sleep(wait)

    @staticmethod
    def _parse(content: bytes) -> tuple[Any, bool]:
        """Parse a body: ``(None, True)`` when empty, ``(obj, True)`` JSON, ``(text, False)``."""
        if not content or not content.strip():
            return None, True
        try:
            return json.loads(content), True
        except ValueError:
            return content[:2000].decode("utf-8", "replace"), False

    @staticmethod
    def _content_hint(content_type: str | None, text: Any) -> str:
        hint = f" (Content-Type {content_type!r})" if content_type else ""
        if isinstance(text, str) and "<html" in text[:500].lower():
            hint += ": it looks like an HTML page, so the URL is probably not the SCIM endpoint"
        return hint

    def _transport_error(
        self,
        method: str,
        path: str,
        exc: requests.RequestException,
        policy: RetryPolicy,
        secret: str,
    ) -> tuple[ConnectionFailedError, bool]:
        text = _transport_text(exc).replace(secret, "***") if secret else _transport_text(exc)
        if isinstance(exc, requests.exceptions.SSLError):
            message = f"TLS failure talking to {self.base_url}: {text}"
            retryable = False
        elif isinstance(exc, requests.exceptions.ConnectTimeout):
            message = f"could not connect within {self.timeout[0]}s: {text}"
            retryable = policy.retry_connection_errors
        elif isinstance(exc, requests.exceptions.ReadTimeout):
            message = f"no answer within {self.timeout[1]}s (the request may have been applied)"
            retryable = policy.retry_connection_errors and policy.retry_read_timeouts
        elif isinstance(exc, requests.exceptions.ConnectionError):
            message = f"connection failed: {text}"
            retryable = policy.retry_connection_errors
        else:
            message = f"request failed: {text}"
            retryable = False
        error = ConnectionFailedError(message, method=method, path=path)
        error.cause_kind = type(exc).__name__  # type: ignore[attr-defined]
        return error, retryable

    def _after(
        self,
        method: str,
        path: str,
        qs: str,
        body: Any,
        status: int | None,
        parsed: Any,
        duration: float,
        request_id: str | None,
        attempt: int,
        error: str | None = None,
    ) -> None:
        if log.isEnabledFor(_DEBUG):
            log.debug(
                "%s %s%s -> %s in %.1f ms (request id %s, attempt %d)",
                method,
                path,
                "?" + qs if qs else "",
                status if status is not None else error,
                duration * 1000.0,
                request_id,
                attempt,
            )
        exchanges = _recording.get()
        if exchanges is not None:
            exchanges.append(
                Exchange(
                    method=method,
                    path=path,
                    query=qs,
                    request_body=body,
                    status=status,
                    response_body=parsed,
                    duration=duration,
                    request_id=request_id,
                    attempt=attempt,
                    error=error,
                )
            )

    # -- shape checks shared by endpoints

    @staticmethod
    def _expect_object(
        data: Any, method: str, path: str, status: int, *, need_id: bool = True
    ) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise MalformedResponseError(
                f"expected a JSON object, got {type(data).__name__}",
                method=method,
                path=path,
                status=status,
            )
        if need_id and not isinstance(data.get("id"), str):
            raise MalformedResponseError(
                "the resource in the reply has no string 'id'",
                method=method,
                path=path,
                status=status,
            )
        return data

    @staticmethod
    def _parse_model(cls: type[T], data: Any, method: str, path: str, status: int) -> T:
        try:
            return from_wire(cls, data)
        except ParseError as exc:
            name = getattr(cls, "__name__", "resource")
            raise MalformedResponseError(
                f"the reply is not a valid {name}: {exc}",
                method=method,
                path=path,
                status=status,
            ) from exc

    # -- discovery

    def service_provider_config_raw(self) -> dict[str, Any]:
        """``GET /ServiceProviderConfig`` as a wire dict."""
        status, data = self.request("GET", "/ServiceProviderConfig")
        obj = self._expect_object(data, "GET", "/ServiceProviderConfig", status, need_id=False)
        pagination = obj.get("pagination")
        if self.cursor_pagination is None and isinstance(pagination, dict):
            self.cursor_pagination = pagination.get("cursor") is True
        return obj

    def service_provider_config(self) -> Any:
        """``GET /ServiceProviderConfig``, parsed into a ``ServiceProviderConfig``.

        Also learns whether the server announces cursor pagination (the
        ``pagination.cursor`` member of RFC 9865), for ``pagination="auto"``.
        """
        data = self.service_provider_config_raw()
        return self._parse_model(ServiceProviderConfig, data, "GET", "/ServiceProviderConfig", 200)

    def _discovery_list(self, path: str) -> list[dict[str, Any]]:
        status, data = self.request("GET", path)
        if isinstance(data, list):  # some servers answer with a bare array
            items: Any = data
        elif isinstance(data, dict):
            items = data.get("Resources", [])
        else:
            items = None
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise MalformedResponseError(
                "expected a ListResponse of objects", method="GET", path=path, status=status
            )
        return items

    def resource_types_raw(self) -> list[dict[str, Any]]:
        """``GET /ResourceTypes`` as wire dicts."""
        return self._discovery_list("/ResourceTypes")

    def resource_types(self) -> list[Any]:
        """``GET /ResourceTypes``, parsed into ``ResourceType`` models."""
        return [
            self._parse_model(ResourceType, d, "GET", "/ResourceTypes", 200)
            for d in self.resource_types_raw()
        ]

    def schemas_raw(self) -> list[dict[str, Any]]:
        """``GET /Schemas`` as wire dicts."""
        return self._discovery_list("/Schemas")

    def schemas(self) -> list[Any]:
        """``GET /Schemas``, parsed into ``Schema`` models."""
        return [self._parse_model(Schema, d, "GET", "/Schemas", 200) for d in self.schemas_raw()]

    # -- connection test

    def test_connection(self) -> ConnectionResult:
        """Check URL, network, TLS and token, and say what to fix.

        Sends ``GET /ServiceProviderConfig`` then ``GET /Users?count=1`` (an SPC may be
        readable without a token, so the second request proves the token), without
        retries. Never raises for HTTP or network problems: they end up in the result.
        """
        once = attrs.evolve(self.retry, max_attempts=1)
        capabilities: Any = None
        t0 = time.perf_counter()
        try:
            status, data = self.request("GET", "/ServiceProviderConfig", retry=once)
            rtt = time.perf_counter() - t0
            obj = self._expect_object(data, "GET", "/ServiceProviderConfig", status, need_id=False)
            try:
                capabilities = self._parse_model(
                    ServiceProviderConfig, obj, "GET", "/ServiceProviderConfig", status
                )
            except MalformedResponseError:
                capabilities = obj
            pagination = obj.get("pagination")
            if self.cursor_pagination is None and isinstance(pagination, dict):
                self.cursor_pagination = pagination.get("cursor") is True
            status, data = self.request("GET", "/Users", query=[("count", "1")], retry=once)
            if not isinstance(data, dict):
                raise MalformedResponseError(
                    "expected a ListResponse", method="GET", path="/Users", status=status
                )
        except ScimHTTPError as exc:
            reachable = exc.status is not None
            return ConnectionResult(
                reachable=reachable,
                authenticated=False,
                capabilities=capabilities,
                round_trip_seconds=(time.perf_counter() - t0) if reachable else None,
                error=exc,
                advice=_advice(exc),
            )
        return ConnectionResult(
            reachable=True,
            authenticated=True,
            capabilities=capabilities,
            round_trip_seconds=rtt,
            error=None,
            advice="all good: the endpoint is reachable and the token is accepted",
        )


_warned_insecure: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


def _warn_insecure_once(base_url: str, verify: bool | str) -> None:
    """Log a warning the first time a client is built without TLS protection for a URL."""
    parts = urlsplit(base_url)
    if verify is False and parts.scheme == "https":
        kind = "verify"
        message = (
            "TLS certificate verification is OFF for %s (verify=False): anyone between "
            "here and the server can read the bearer token. Use it only in a lab; "
            "behind a TLS-inspecting proxy pass the proxy's CA bundle path instead"
        )
    elif parts.scheme == "http" and (parts.hostname or "") not in _LOOPBACK:
        kind = "http"
        message = (
            "the SCIM endpoint %s is plain http: the bearer token travels unencrypted; use https"
        )
    else:
        return
    with _warned_lock:
        if (kind, base_url) in _warned_insecure:
            return
        _warned_insecure.add((kind, base_url))
    log.warning(message, base_url)


def _read_content(resp: requests.Response) -> bytes:
    """``resp.content``, read in one call instead of through ``iter_content``'s generator.

    ``Response.content`` joins ``raw.stream(10240, decode_content=True)``; for a body
    read in full, ``raw.read(decode_content=True)`` returns the same bytes (gzip and
    deflate decoded, the connection released to the pool at the end) for less CPU. The
    urllib3 errors become the same requests exceptions ``iter_content`` raises, and the
    Response is left as ``.content`` leaves it (its ``content`` and ``json()`` still work).
    Anything else (content already read, a raw that is not a urllib3 response) goes
    through ``resp.content`` itself.
    """
    raw = resp.raw
    # requests' own bookkeeping, as Response.content keeps it (the same since requests 1.0)
    consumed: bool = resp._content_consumed  # type: ignore[attr-defined]
    if consumed or not isinstance(raw, urllib3.response.HTTPResponse):
        return resp.content
    try:
        content: bytes = raw.read(decode_content=True)
    except urllib3.exceptions.ProtocolError as e:
        raise requests.exceptions.ChunkedEncodingError(e) from e
    except urllib3.exceptions.DecodeError as e:
        raise requests.exceptions.ContentDecodingError(e) from e
    except urllib3.exceptions.ReadTimeoutError as e:
        raise requests.exceptions.ConnectionError(e) from e
    except urllib3.exceptions.SSLError as e:
        raise requests.exceptions.SSLError(e) from e
    resp._content = content
    resp._content_consumed = True  # type: ignore[attr-defined]
    return content


def _contains(value: Any, secret: str) -> bool:
    """Whether *secret* appears in any string (key or value) inside a parsed JSON value."""
    if isinstance(value, str):
        return secret in value
    if isinstance(value, dict):
        return any(_contains(k, secret) or _contains(v, secret) for k, v in value.items())
    if isinstance(value, list):
        return any(_contains(v, secret) for v in value)
    return False


def _masked(value: Any, secret: str) -> Any:
    """A copy of a parsed JSON value with *secret* replaced by ``***`` in every string."""
    if isinstance(value, str):
        return value.replace(secret, "***")
    if isinstance(value, dict):
        return {_masked(k, secret): _masked(v, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v, secret) for v in value]
    return value


_URLLIB3_NOISE = re.compile(
    r"^\w+ConnectionPool\(host='(?P<host>[^']*)', port=(?P<port>\d+)\): "
    r"Max retries exceeded with url: \S+ \(Caused by (?P<cause>.*)\)$",
    re.DOTALL,
)
_ERRNO_TEXT = re.compile(r"\[Errno -?\d+\] [^'\"\)]+")


def _transport_text(exc: BaseException) -> str:
    """A short account of a failed connection, without urllib3's pool and URL noise.

    ``HTTPConnectionPool(host='h', port=1): Max retries exceeded with url: /x/Users?...
    (Caused by NewConnectionError(...: [Errno 111] Connection refused))`` becomes
    ``h:1: [Errno 111] Connection refused``. Texts of another shape are returned as is.
    """
    text = str(exc)
    found = _URLLIB3_NOISE.match(text)
    if found is None:
        return text
    where = f"{found['host']}:{found['port']}"
    errno_text = _ERRNO_TEXT.search(found["cause"])
    if errno_text is not None:
        return f"{where}: {errno_text.group(0).strip()}"
    return f"{where}: {found['cause']}"


def _advice(exc: ScimHTTPError) -> str:
    """What an admin should do about a failed connection test."""
    if isinstance(exc, ConnectionFailedError):
        kind = getattr(exc, "cause_kind", "")
        text = str(exc).lower()
        if kind == "SSLError" or "certificate" in text:
            return (
                "TLS failed: check that the URL's host name is right and that the CA bundle "
                "(verify=...) trusts the server's certificate; behind a TLS-inspecting proxy, "
                "pass the proxy's CA bundle path"
            )
        if (
            "name or service not known" in text
            or "nodename nor servname" in text
            or ("failed to resolve" in text)
        ):
            return "the host name does not resolve: check the SCIM endpoint URL and DNS"
        if "refused" in text:
            return (
                "connection refused: check the host and port in the SCIM endpoint URL, that "
                "the server is up, and firewalls/proxies (HTTPS_PROXY, NO_PROXY)"
            )
        if "timeout" in kind.lower() or "within" in text:
            return "no answer in time: check network access to the endpoint, proxies and firewalls"
        return "could not reach the server: check the SCIM endpoint URL, network, proxy and CA settings"
    status = exc.status
    if status == 401:
        return (
            "the token is invalid or expired: generate a new SCIM access token (IAM Identity "
            "Center console > Settings > Automatic provisioning > Manage access tokens) and deploy it"
        )
    if status == 403:
        return "the token is valid but not allowed to do this: check the token's permissions/scopes"
    if status == 404:
        if exc.detail and "TENANT does not exist" in exc.detail:
            return (
                "wrong SCIM endpoint URL (unknown tenant): copy the SCIM endpoint again from the "
                "IAM Identity Center console (Settings > Automatic provisioning)"
            )
        return "the URL does not lead to a SCIM endpoint: it should end with the SCIM base path (e.g. /scim/v2)"
    if isinstance(exc, MalformedResponseError):
        return "the URL answers, but not with SCIM JSON: check that it is the SCIM endpoint (ends with /scim/v2)"
    if isinstance(exc, RateLimitedError):
        return "the server is throttling: lower rate_limit, or try again later"
    if status is not None and status >= 500:
        return "the server is failing: try again later and check the provider's status page"
    return "the server refused the request: see the error detail"


# --------------------------------------------------------------------- endpoints


class ResourceEndpoint(Generic[T]):
    """Operations on one resource collection (``client.users``, ``client.groups``).

    Typed methods take and return attrs models (``User``/``Group``); ``*_raw`` methods
    take and return wire dicts and skip model conversion (the engine uses them).

    .. versionadded:: 0.1.0
    """

    def __init__(self, client: ScimClient, path: str, model: type[T]) -> None:
        self._client = client
        self.path = path
        self.model = model
        self.model_name: str = model.__name__

    def __repr__(self) -> str:
        return f"<ResourceEndpoint {self.path} of {self._client!r}>"

    # conversions

    def _to_wire(self, resource: Any, what: str) -> dict[str, Any]:
        if isinstance(resource, Mapping):
            return dict(resource)
        if attrs.has(type(resource)):
            return to_wire(resource)
        raise TypeError(
            f"{self.model_name}.{what}: expected a {self.model_name} or a mapping, "
            f"got {type(resource).__name__}"
        )

    def _from_wire(self, data: dict[str, Any], method: str, path: str, status: int) -> T:
        return self._client._parse_model(self.model, data, method, path, status)

    def _item_path(self, resource_id: Any, what: str) -> str:
        return f"{self.path}/{_quote_id(resource_id, f'{self.model_name}.{what}')}"

    # create

    def create_raw(self, resource: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /Users`` (or ``/Groups``) with a wire dict; returns the created resource."""
        status, data = self._client.request(
            "POST", self.path, body=self._to_wire(resource, "create"), ok=(200, 201)
        )
        return ScimClient._expect_object(data, "POST", self.path, status)

    def create(self, resource: T | Mapping[str, Any]) -> T:
        """Create a resource; returns it as the server stored it (with ``id``)."""
        data = self.create_raw(self._to_wire(resource, "create"))
        return self._from_wire(data, "POST", self.path, 201)

    # get

    def get_raw(self, resource_id: str) -> dict[str, Any]:
        """``GET /Users/{id}`` as a wire dict."""
        path = self._item_path(resource_id, "get")
        status, data = self._client.request("GET", path)
        return ScimClient._expect_object(data, "GET", path, status)

    def get(self, resource_id: str) -> T:
        """Fetch one resource by id. Raises :class:`~scimsync.errors.NotFoundError` if absent."""
        data = self.get_raw(resource_id)
        return self._from_wire(data, "GET", self._item_path(resource_id, "get"), 200)

    # replace

    def replace_raw(self, resource_id: str, resource: Mapping[str, Any]) -> dict[str, Any]:
        """``PUT /Users/{id}`` with a wire dict; returns the stored resource."""
        path = self._item_path(resource_id, "replace")
        status, data = self._client.request(
            "PUT", path, body=self._to_wire(resource, "replace"), ok=(200, 201)
        )
        return ScimClient._expect_object(data, "PUT", path, status)

    def replace(self, resource_id: str, resource: T | Mapping[str, Any]) -> T:
        """Replace a resource (PUT)."""
        data = self.replace_raw(resource_id, self._to_wire(resource, "replace"))
        return self._from_wire(data, "PUT", self._item_path(resource_id, "replace"), 200)

    # patch

    def _patch_body(self, operations: Sequence[Any]) -> dict[str, Any]:
        if isinstance(operations, (str, bytes, Mapping)) or not isinstance(operations, Sequence):
            raise TypeError(f"{self.model_name}.patch: operations must be a sequence of operations")
        if not operations:
            raise ValueError(f"{self.model_name}.patch: no operations given")
        ops = []
        for i, op in enumerate(operations):
            wire = self._to_wire(op, f"patch operations[{i}]")
            name = wire.get("op")
            if not isinstance(name, str) or name.lower() not in ("add", "replace", "remove"):
                raise ValueError(
                    f"{self.model_name}.patch: operations[{i}].op must be add, replace or remove, "
                    f"got {name!r}"
                )
            path = wire.get("path")
            if not isinstance(path, str) or not path:
                raise ValueError(
                    f"{self.model_name}.patch: operations[{i}].path is required "
                    "(scimsync always sends explicit paths; AWS rejects most path-less operations)"
                )
            out: dict[str, Any] = {"op": name.lower(), "path": path}
            if "value" in wire and wire["value"] is not None:
                out["value"] = wire["value"]
            elif out["op"] != "remove":
                raise ValueError(
                    f"{self.model_name}.patch: operations[{i}].value is required for {out['op']}"
                )
            ops.append(out)
        return {"schemas": [PATCH_OP_SCHEMA], "Operations": ops}

    def patch_raw(self, resource_id: str, operations: Sequence[Any]) -> dict[str, Any] | None:
        """``PATCH /Users/{id}``; returns the resource (200 with a body) or ``None`` (204)."""
        path = self._item_path(resource_id, "patch")
        body = self._patch_body(operations)
        status, data = self._client.request("PATCH", path, body=body, ok=(200, 204))
        if data is None:
            return None
        return ScimClient._expect_object(data, "PATCH", path, status)

    def patch(self, resource_id: str, operations: Sequence[Any]) -> T | None:
        """Apply PATCH operations (``PatchOperation`` or dicts with op/path/value).

        Returns the updated resource, or ``None`` when the server answered 204 (AWS groups).
        """
        data = self.patch_raw(resource_id, operations)
        if data is None:
            return None
        return self._from_wire(data, "PATCH", self._item_path(resource_id, "patch"), 200)

    # delete

    def delete(self, resource_id: str) -> None:
        """``DELETE /Users/{id}`` (200 or 204). Raises NotFoundError if already gone."""
        path = self._item_path(resource_id, "delete")
        self._client.request("DELETE", path, ok=(200, 204))

    # list

    def _pick_pagination(self, pagination: str) -> str:
        if pagination == "auto":
            return "cursor" if self._client.cursor_pagination else "index"
        if pagination not in ("index", "cursor"):
            raise ValueError(
                f"{self.model_name}.list: pagination must be 'index', 'cursor' or 'auto', "
                f"got {pagination!r}"
            )
        return pagination

    def pages_raw(
        self,
        filter: Filter | str | None = None,
        *,
        page_size: int = 100,
        pagination: Pagination = "index",
    ) -> Iterator[dict[str, Any]]:
        """Lazily fetch ListResponse pages as wire dicts (see :meth:`pages`)."""
        if not isinstance(page_size, int) or page_size < 1:
            raise ValueError(f"{self.model_name}.list: page_size must be >= 1, got {page_size!r}")
        flt = _filter_text(filter)
        mode = self._pick_pagination(pagination)
        if mode == "cursor":
            return self._cursor_pages(flt, page_size)
        return self._index_pages(flt, page_size)

    def _check_page(
        self, data: Any, status: int, qs_path: str, *, first: bool = False
    ) -> tuple[dict[str, Any], list[Any]]:
        if not isinstance(data, dict):
            raise MalformedResponseError(
                f"expected a ListResponse object, got {type(data).__name__}",
                method="GET",
                path=qs_path,
                status=status,
            )
        resources = data.get("Resources", [])
        if resources is None:
            resources = []
        if not isinstance(resources, list) or not all(isinstance(r, dict) for r in resources):
            raise MalformedResponseError(
                "ListResponse.Resources is not a list of objects",
                method="GET",
                path=qs_path,
                status=status,
            )
        total = data.get("totalResults")
        if (
            first
            and not resources
            and isinstance(total, int)
            and not isinstance(total, bool)
            and total > 0
        ):
            # Taking this for "nothing matches" would create a duplicate of what exists.
            raise MalformedResponseError(
                f"the first page says totalResults {total} but carries no Resources",
                method="GET",
                path=qs_path,
                status=status,
            )
        return data, resources

    def _index_pages(self, flt: str | None, page_size: int) -> Iterator[dict[str, Any]]:
        start = 1
        seen = 0
        previous_ids: list[Any] | None = None
        while True:
            query: list[tuple[str, str | None]] = []
            if flt is not None:
                query.append(("filter", flt))
            query += [("startIndex", str(start)), ("count", str(page_size))]
            status, data = self._client.request("GET", self.path, query=query)
            page, resources = self._check_page(data, status, self.path, first=start == 1)
            ids = [r.get("id") for r in resources]
            if resources and ids == previous_ids:
                raise MalformedResponseError(
                    "the server returned the same page twice (it ignores startIndex); "
                    "use pagination='cursor'",
                    method="GET",
                    path=self.path,
                    status=status,
                )
            previous_ids = ids
            yield page
            n = len(resources)
            seen += n
            total = page.get("totalResults")
            if n == 0 or n < page_size:
                return
            if isinstance(total, int) and not isinstance(total, bool) and seen >= total:
                return
            start += n

    def _cursor_pages(self, flt: str | None, page_size: int) -> Iterator[dict[str, Any]]:
        cursor: str | None = None
        used: set[str] = set()
        while True:
            query: list[tuple[str, str | None]] = [("cursor", cursor)]
            if flt is not None:
                query.append(("filter", flt))
            query.append(("count", str(page_size)))
            status, data = self._client.request("GET", self.path, query=query)
            page, _ = self._check_page(data, status, self.path, first=cursor is None)
            yield page
            nxt = page.get("nextCursor")
            if nxt is None or nxt == "":
                return
            if not isinstance(nxt, str):
                raise MalformedResponseError(
                    f"nextCursor is not a string: {type(nxt).__name__}",
                    method="GET",
                    path=self.path,
                    status=status,
                )
            if nxt in used:
                raise MalformedResponseError(
                    "the server returned a cursor it already returned (pagination loop)",
                    method="GET",
                    path=self.path,
                    status=status,
                )
            used.add(nxt)
            cursor = nxt

    def list_raw(
        self,
        filter: Filter | str | None = None,
        *,
        page_size: int = 100,
        pagination: Pagination = "index",
    ) -> Iterator[dict[str, Any]]:
        """Lazily iterate over matching resources as wire dicts."""
        pages = self.pages_raw(filter, page_size=page_size, pagination=pagination)

        def items() -> Iterator[dict[str, Any]]:
            for page in pages:
                yield from page.get("Resources") or []

        return items()

    def pages(
        self,
        filter: Filter | str | None = None,
        *,
        page_size: int = 100,
        pagination: Pagination = "index",
    ) -> Iterator[Any]:
        """Lazily fetch pages as ``ListResponse`` models.

        Args:
            filter: a SCIM filter (``Filter`` or string), or ``None`` for everything.
            page_size: ``count`` per request (AWS: at most 100).
            pagination: ``"index"`` (startIndex/count; stops on a short or empty page or
                when ``totalResults`` is reached), ``"cursor"`` (``?cursor`` then
                ``cursor=<nextCursor>`` until none) or ``"auto"`` (cursor when the server
                is known to support it).
        """
        list_type: Any = ListResponse[self.model]  # type: ignore[name-defined]
        for page in self.pages_raw(filter, page_size=page_size, pagination=pagination):
            yield self._client._parse_model(list_type, page, "GET", self.path, 200)

    def list(
        self,
        filter: Filter | str | None = None,
        *,
        page_size: int = 100,
        pagination: Pagination = "index",
    ) -> Iterator[T]:
        """Lazily iterate over matching resources as models (see :meth:`pages`)."""
        for data in self.list_raw(filter, page_size=page_size, pagination=pagination):
            yield self._from_wire(data, "GET", self.path, 200)

    def find_raw(self, filter: Filter | str) -> dict[str, Any] | None:
        """The first resource matching ``filter`` (one request), or ``None``."""
        if filter is None:
            raise ValueError(f"{self.model_name}.find: a filter is required")
        for data in self.list_raw(filter, page_size=100):
            return data
        return None

    def find(self, filter: Filter | str) -> T | None:
        """The first resource matching ``filter`` (e.g. ``userName eq "x"``), or ``None``."""
        data = self.find_raw(filter)
        if data is None:
            return None
        return self._from_wire(data, "GET", self.path, 200)


class GroupsEndpoint(ResourceEndpoint[Group]):
    """``client.groups``: :class:`ResourceEndpoint` plus :meth:`patch_members`.

    .. versionadded:: 0.1.0
    """

    def patch_members(
        self,
        group_id: str,
        add: Iterable[str] = (),
        remove: Iterable[str] = (),
        *,
        chunk_size: int = 100,
        remove_style: Literal["value", "path"] = "value",
    ) -> int:
        """Add and remove members with explicit operations, ``chunk_size`` ids per request.

        Sends ``{"op": "add", "path": "members", "value": [{"value": id}, ...]}`` and,
        with ``remove_style="value"`` (AWS, Entra-style servers),
        ``{"op": "remove", "path": "members", "value": [{"value": id}, ...]}``; with
        ``remove_style="path"`` (strict RFC 7644 servers), one
        ``{"op": "remove", "path": "members[value eq \"<id>\"]"}`` per member. Never
        ``replace``, which AWS mishandles. Adds go first, then removes; a request may carry
        the last adds and the first removes together while it stays within ``chunk_size``
        member ids. Ids are de-duplicated, order kept.

        Args:
            group_id: the group's SCIM id.
            add: member ids (user or group SCIM ids) to add.
            remove: member ids to remove.
            chunk_size: at most this many member ids per request (AWS: 100).
            remove_style: ``"value"`` or ``"path"``, see above.

        Returns:
            The number of PATCH requests sent (0 when there is nothing to do).
        """
        if not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"Group.patch_members: chunk_size must be >= 1, got {chunk_size!r}")
        if remove_style not in ("value", "path"):
            raise ValueError(
                f"Group.patch_members: remove_style must be 'value' or 'path', got {remove_style!r}"
            )
        adds = self._ids(add, "add")
        removes = self._ids(remove, "remove")
        both = set(adds) & set(removes)
        if both:
            raise ValueError(f"Group.patch_members: ids both added and removed: {sorted(both)[:5]}")
        path = self._item_path(group_id, "patch_members")
        queue = [("add", i) for i in adds] + [("remove", i) for i in removes]
        sent = 0
        for start in range(0, len(queue), chunk_size):
            ops: list[dict[str, Any]] = []
            for op, member in queue[start : start + chunk_size]:
                if op == "remove" and remove_style == "path":
                    ops.append({"op": "remove", "path": f"members[value eq {json.dumps(member)}]"})
                    continue
                if not ops or ops[-1]["op"] != op or "value" not in ops[-1]:
                    ops.append({"op": op, "path": "members", "value": []})
                ops[-1]["value"].append({"value": member})
            body = {"schemas": [PATCH_OP_SCHEMA], "Operations": ops}
            self._client.request("PATCH", path, body=body, ok=(200, 204))
            sent += 1
        return sent

    @staticmethod
    def _ids(ids: Iterable[str], what: str) -> list[str]:
        if isinstance(ids, str):
            raise TypeError(f"Group.patch_members: {what} must be a list of ids, not a string")
        out: dict[str, None] = {}
        for i in ids:
            if not isinstance(i, str) or not i:
                raise ValueError(f"Group.patch_members: {what} holds a bad member id {i!r}")
            out[i] = None
        return list(out)
