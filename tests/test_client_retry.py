"""Retries, Retry-After, backoff and the adaptive (AIMD) rate limiter. No real sleeping."""

from __future__ import annotations

import email.utils
import threading

import pytest
import requests
import responses
from _client_support import BASE, TOKEN, FakeTime, aws_error, user

from scimsync._client import RetryPolicy, ScimClient, _RateLimiter
from scimsync.errors import ConnectionFailedError, RateLimitedError, TransientError


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def fake():
    return FakeTime()


def make(fake, *, adaptive=False, **policy):
    """A client whose only sleeps are retry waits (the AIMD limiter is tested separately)."""
    return ScimClient(BASE, TOKEN, retry=fake.policy(**policy), adaptive_rate_limit=adaptive)


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_transient_statuses_are_retried(rsps, fake, status):
    rsps.get(BASE + "/Users/x", status=status)
    rsps.get(BASE + "/Users/x", status=status)
    rsps.get(BASE + "/Users/x", json=user("x"))
    c = make(fake)
    assert c.users.get_raw("x")["id"] == "x"
    assert len(rsps.calls) == 3
    # full jitter with rng=0.5: 0.5 * min(20, 0.5 * 2**(n-1))
    assert fake.sleeps == [0.25, 0.5]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 500])
def test_never_retried_statuses(rsps, fake, status):
    rsps.post(BASE + "/Users", status=status, json=aws_error(status, "nope"))
    c = make(fake)
    with pytest.raises(Exception) as info:
        c.users.create_raw({"userName": "x"})
    assert info.value.status == status
    assert len(rsps.calls) == 1
    assert fake.sleeps == []


def test_backoff_grows_exponentially_and_is_capped(fake):
    policy = fake.policy(rng=lambda: 1.0 - 1e-12, backoff_base=1.0, backoff_max=5.0)
    ceilings = [round(policy.backoff(n), 6) for n in range(1, 6)]
    assert ceilings == [1.0, 2.0, 4.0, 5.0, 5.0]
    zero = fake.policy(rng=lambda: 0.0)
    assert zero.backoff(3) == 0.0  # full jitter reaches zero


def test_retry_after_seconds_is_honoured(rsps, fake):
    rsps.get(BASE + "/Users/x", status=429, headers={"Retry-After": "7"})
    rsps.get(BASE + "/Users/x", json=user("x"))
    make(fake).users.get_raw("x")
    assert fake.sleeps == [7.0]


def test_retry_after_http_date_is_honoured(rsps, fake):
    when = email.utils.formatdate(fake.wall + 12, usegmt=True)
    rsps.get(BASE + "/Users/x", status=503, headers={"Retry-After": when})
    rsps.get(BASE + "/Users/x", json=user("x"))
    make(fake).users.get_raw("x")
    assert fake.sleeps == [pytest.approx(12.0, abs=1.0)]


def test_retry_after_in_the_past_means_no_wait(rsps, fake):
    when = email.utils.formatdate(fake.wall - 100, usegmt=True)
    rsps.get(BASE + "/Users/x", status=503, headers={"Retry-After": when})
    rsps.get(BASE + "/Users/x", json=user("x"))
    make(fake).users.get_raw("x")
    assert fake.sleeps == [0.0]


def test_retry_after_is_capped(rsps, fake):
    rsps.get(BASE + "/Users/x", status=429, headers={"Retry-After": "3600"})
    rsps.get(BASE + "/Users/x", json=user("x"))
    make(fake, max_retry_after=30.0).users.get_raw("x")
    assert fake.sleeps == [30.0]


def test_garbage_retry_after_falls_back_to_backoff(rsps, fake):
    rsps.get(BASE + "/Users/x", status=429, headers={"Retry-After": "soon-ish"})
    rsps.get(BASE + "/Users/x", json=user("x"))
    make(fake).users.get_raw("x")
    assert fake.sleeps == [0.25]


def test_attempts_are_capped(rsps, fake):
    rsps.get(BASE + "/Users/x", status=503)
    with pytest.raises(TransientError) as info:
        make(fake, max_attempts=4).users.get_raw("x")
    assert info.value.status == 503
    assert len(rsps.calls) == 4
    assert len(fake.sleeps) == 3


def test_total_time_is_capped(rsps, fake):
    rsps.get(BASE + "/Users/x", status=429, headers={"Retry-After": "50"})
    with pytest.raises(RateLimitedError):
        make(fake, max_elapsed=120.0, max_attempts=10).users.get_raw("x")
    # 0 -> wait 50 -> 50 -> wait 50 -> 100; a third wait would end at 150 > 120
    assert fake.sleeps == [50.0, 50.0]
    assert len(rsps.calls) == 3


def test_no_retries_policy(rsps, fake):
    rsps.get(BASE + "/Users/x", status=503)
    c = ScimClient(BASE, TOKEN, retry=RetryPolicy.none())
    with pytest.raises(TransientError):
        c.users.get_raw("x")
    assert len(rsps.calls) == 1


def test_connection_errors_are_retried_then_raised(rsps, fake):
    rsps.get(BASE + "/Users/x", body=requests.ConnectionError("Connection reset by peer"))
    with pytest.raises(ConnectionFailedError) as info:
        make(fake, max_attempts=3).users.get_raw("x")
    assert info.value.status is None
    assert (info.value.method, info.value.path) == ("GET", "/Users/x")
    assert "reset by peer" in str(info.value)
    assert len(rsps.calls) == 3


def test_post_read_timeout_is_retried_and_409_surfaces(rsps, fake):
    """A POST whose reply was lost may have succeeded: retry, and let 409 tell the engine."""
    rsps.post(BASE + "/Users", body=requests.exceptions.ReadTimeout("read timed out"))
    rsps.post(
        BASE + "/Users",
        status=409,
        json=aws_error(409, "Refused to create a new, duplicate resource."),
    )
    c = make(fake)
    with pytest.raises(Exception) as info:
        c.users.create_raw({"userName": "x"})
    assert info.value.status == 409
    assert len(rsps.calls) == 2


def test_read_timeout_retry_can_be_switched_off(rsps, fake):
    rsps.post(BASE + "/Users", body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(ConnectionFailedError, match="may have been applied"):
        make(fake, retry_read_timeouts=False).users.create_raw({"userName": "x"})
    assert len(rsps.calls) == 1


def test_tls_errors_are_not_retried(rsps, fake):
    rsps.get(BASE + "/Users/x", body=requests.exceptions.SSLError("certificate verify failed"))
    with pytest.raises(ConnectionFailedError, match="TLS"):
        make(fake).users.get_raw("x")
    assert len(rsps.calls) == 1


def test_real_refused_connection(fake):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = ScimClient(f"http://127.0.0.1:{port}/scim/v2", TOKEN, retry=fake.policy(max_attempts=2))
    with pytest.raises(ConnectionFailedError, match="connection failed"):
        c.users.get_raw("x")
    assert c.request_count == 2


# ---------------------------------------------------------------- rate limiter


def test_token_bucket_spaces_requests(fake):
    limiter = _RateLimiter(2.0, adaptive=False, clock=fake.clock, sleep=fake.sleep)
    for _ in range(5):
        limiter.acquire()
    # burst of 2, then one token every 0.5 s
    assert fake.sleeps == [0.5, 0.5, 0.5]


def test_token_bucket_refills_with_time(fake):
    limiter = _RateLimiter(2.0, adaptive=False, clock=fake.clock, sleep=fake.sleep)
    limiter.acquire()
    limiter.acquire()
    fake.advance(1.0)
    limiter.acquire()
    limiter.acquire()
    assert fake.sleeps == []


def test_rate_limit_shared_across_threads():
    fake = FakeTime()
    lock = threading.Lock()

    def sleep(d):  # thread-safe recorder; the clock does not move
        with lock:
            fake.sleeps.append(d)

    limiter = _RateLimiter(4.0, adaptive=False, clock=fake.clock, sleep=sleep)
    threads = [
        threading.Thread(target=lambda: [limiter.acquire() for _ in range(5)]) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 20 acquisitions, burst 4: 16 had to wait, the n-th waiter 0.25 * n seconds
    assert sorted(fake.sleeps) == [pytest.approx(0.25 * n) for n in range(1, 17)]


def test_aimd_from_unlimited(rsps, fake):
    rsps.get(BASE + "/Users/ok", json=user("ok"))
    rsps.get(BASE + "/Users/busy", status=429)
    rsps.get(BASE + "/Users/busy", json=user("busy"))
    c = make(fake, adaptive=True)
    assert c.effective_rate is None
    for _ in range(3):
        c.users.get_raw("ok")
    c.users.get_raw("busy")  # 4 requests within a second, the 4th throttled
    # halved from the observed 4 requests/s (the successful retry came within the cooldown)
    rates = [c.effective_rate]
    fake.advance(1.1)
    c.users.get_raw("ok")
    rates.append(c.effective_rate)
    fake.advance(1.1)
    c.users.get_raw("ok")
    rates.append(c.effective_rate)
    assert rates == [2.0, 3.0, None]  # additive increase, then unlimited again
    # the retry after the 429 waited for the backoff, then for the limiter's next token
    assert fake.sleeps == [0.25, 0.25]


def test_aimd_with_configured_rate(fake):
    limiter = _RateLimiter(10.0, adaptive=True, clock=fake.clock, sleep=fake.sleep)
    limiter.on_throttled()
    assert limiter.rate == 5.0
    limiter.on_throttled()  # same burst of 429s: counted once
    assert limiter.rate == 5.0
    seen = []
    for _ in range(7):
        fake.advance(1.5)
        limiter.on_success()
        seen.append(limiter.rate)
    assert seen == [6.0, 7.0, 8.0, 9.0, 10.0, 10.0, 10.0]
    fake.advance(1.5)
    limiter.on_throttled()
    fake.advance(1.5)
    limiter.on_throttled()
    assert limiter.rate == 2.5  # multiplicative decrease compounds across bursts
    assert limiter.throttle_events == 3


def test_aimd_never_goes_below_floor(fake):
    limiter = _RateLimiter(1.0, adaptive=True, clock=fake.clock, sleep=fake.sleep)
    for _ in range(10):
        fake.advance(2)
        limiter.on_throttled()
    assert limiter.rate == 0.5


def test_adaptive_off_keeps_rate(rsps, fake):
    rsps.get(BASE + "/Users/x", status=429)
    rsps.get(BASE + "/Users/x", json=user("x"))
    c = make(fake)
    c.users.get_raw("x")
    assert c.effective_rate is None


def test_configured_rate_limits_client_requests(rsps, fake):
    rsps.get(BASE + "/Users/x", json=user("x"))
    c = ScimClient(BASE, TOKEN, retry=fake.policy(), rate_limit=1.0)
    for _ in range(3):
        c.users.get_raw("x")
    assert fake.sleeps == [1.0, 1.0]
    assert c.effective_rate == 1.0
