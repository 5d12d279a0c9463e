"""Fault injection: forced failures, rate limits, random 5xx, drops, outages, latency.

No timing assertions: everything is checked through statuses, counts and the log.
"""

from __future__ import annotations

import pytest
import requests
from _emulator_support import AWS_409, Api, assert_aws_error, aws_user

from scimsync.testing import EmulatorServer, FaultConfig
from scimsync.testing._faults import FaultState


def fresh_session(server: EmulatorServer) -> requests.Session:
    s = requests.Session()
    s.headers.update(server.auth_headers())
    return s


def test_fail_next_once_then_normal(aws_scim_server):
    api = Api(aws_scim_server)
    aws_scim_server.fail_next(503)
    r = api.get("/Users")
    assert_aws_error(r, 503, "Service Unavailable")
    assert "Retry-After" not in r.headers
    assert api.get("/Users").status_code == 200
    assert [e.fault for e in aws_scim_server.request_log] == ["forced", None]


def test_fail_next_targets_method_and_path(aws_scim_server):
    api = Api(aws_scim_server)
    aws_scim_server.fail_next(500, times=2, method="POST", path_prefix="/Groups", retry_after=3)
    assert api.get("/Groups").status_code == 200
    assert api.post("/Users", aws_user()).status_code == 201
    first = api.post("/Groups", {"displayName": "G"})
    assert_aws_error(first, 500, "Service failed to process the request.")
    assert first.headers["Retry-After"] == "3"
    assert api.post("/Groups", {"displayName": "G"}).status_code == 500
    assert api.post("/Groups", {"displayName": "G"}).status_code == 201
    assert len(aws_scim_server.groups()) == 1


@pytest.mark.parametrize("retry_after", [None, 2])
def test_rate_limit_answers_429(retry_after):
    faults = FaultConfig(rate_limit=0.001, rate_burst=3, retry_after=retry_after)
    with EmulatorServer("aws", faults=faults) as server:
        api = Api(server)
        statuses = [api.get("/Users").status_code for _ in range(5)]
        assert statuses == [200, 200, 200, 429, 429]
        r = api.get("/Users")
        assert_aws_error(r, 429, "Too many requests exceeded the limits.")
        if retry_after is None:
            assert "Retry-After" not in r.headers
        else:
            assert r.headers["Retry-After"] == "2"
        assert {e.fault for e in server.requests(status=429)} == {"rate_limit"}


def test_rate_limit_generic_profile_error_body():
    with EmulatorServer("generic", faults=FaultConfig(rate_limit=0.001, rate_burst=1)) as server:
        api = Api(server)
        assert api.get("/Users").status_code == 200
        r = api.get("/Users")
        assert r.status_code == 429
        assert r.json()["status"] == "429"


def test_error_rate_one_fails_everything():
    with EmulatorServer("aws", faults=FaultConfig(error_rate=1.0, error_statuses=(502,))) as server:
        api = Api(server)
        assert [api.get("/Users").status_code for _ in range(3)] == [502, 502, 502]
        assert server.users() == []


def test_random_errors_are_seeded():
    def run(seed: int) -> list[int]:
        with EmulatorServer(
            "generic", faults=FaultConfig(error_rate=0.5, error_statuses=(500, 503), seed=seed)
        ) as server:
            api = Api(server)
            return [api.get("/Users").status_code for _ in range(30)]

    first, second = run(7), run(7)
    assert first == second
    assert {200, 500, 503} == set(first)  # 30 draws at 50%: all three outcomes appear for seed 7
    assert run(8) != first


def test_drop_next_closes_without_response(aws_scim_server):
    aws_scim_server.drop_next()
    with pytest.raises(requests.ConnectionError):
        fresh_session(aws_scim_server).get(aws_scim_server.base_url + "/Users", timeout=10)
    assert (
        fresh_session(aws_scim_server)
        .get(aws_scim_server.base_url + "/Users", timeout=10)
        .status_code
        == 200
    )
    dropped = aws_scim_server.request_log[0]
    assert (dropped.status, dropped.fault) == (None, "forced-drop")


def test_drop_after_processing_then_retry_conflicts(aws_scim_server):
    """The change happens, the reply is lost: a retried create gets 409 (aws-scim.md §8.4)."""
    aws_scim_server.drop_next(method="POST", phase="response")
    session = fresh_session(aws_scim_server)
    with pytest.raises(requests.ConnectionError):
        session.post(aws_scim_server.base_url + "/Users", json=aws_user(), timeout=10)
    assert [u["userName"] for u in aws_scim_server.users()] == ["bjensen"]
    retry = fresh_session(aws_scim_server).post(
        aws_scim_server.base_url + "/Users", json=aws_user(), timeout=10
    )
    assert_aws_error(retry, 409, AWS_409)


def test_drop_rate_is_seeded():
    def run() -> list[str]:
        out = []
        with EmulatorServer("generic", faults=FaultConfig(drop_rate=0.5, seed=11)) as server:
            for _ in range(12):
                try:
                    fresh_session(server).get(server.base_url + "/Users", timeout=10)
                    out.append("ok")
                except requests.ConnectionError:
                    out.append("drop")
        return out

    first = run()
    assert first == run()
    assert "ok" in first
    assert "drop" in first


def test_down_with_status_then_back_up(aws_scim_server):
    api = Api(aws_scim_server)
    aws_scim_server.set_faults(down=True)
    assert_aws_error(api.get("/Users"), 503, "Service Unavailable")
    aws_scim_server.faults.down = False  # live mutation works too
    assert api.get("/Users").status_code == 200


def test_down_with_connection_reset(scim_server):
    scim_server.faults = FaultConfig(down=True, down_mode="reset")
    with pytest.raises(requests.ConnectionError):
        fresh_session(scim_server).get(scim_server.base_url + "/Users", timeout=10)
    scim_server.clear_faults()
    assert (
        fresh_session(scim_server).get(scim_server.base_url + "/Users", timeout=10).status_code
        == 200
    )


def test_latency_requests_still_succeed(scim_server):
    scim_server.set_faults(latency=0.01, latency_jitter=0.01)
    assert Api(scim_server).get("/Users").status_code == 200


def test_latency_draws_are_seeded_and_bounded():
    def draws(seed: int) -> list[float]:
        state = FaultState(FaultConfig(latency=0.5, latency_jitter=0.25, seed=seed))
        return [state.decide("GET", "/Users").delay for _ in range(20)]

    first = draws(3)
    assert first == draws(3)
    assert all(0.5 <= d <= 0.75 for d in first)
    assert len(set(first)) == 20


def test_faults_apply_before_auth(aws_scim_server):
    aws_scim_server.fail_next(503)
    r = requests.get(aws_scim_server.base_url + "/Users", timeout=10)  # no token at all
    assert r.status_code == 503
    assert requests.get(aws_scim_server.base_url + "/Users", timeout=10).status_code == 401


def test_clear_faults_forgets_queued_faults(scim_server):
    scim_server.fail_next(500, times=5)
    scim_server.clear_faults()
    assert Api(scim_server).get("/Users").status_code == 200


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"error_rate": 1.5}, "FaultConfig.error_rate must be between 0 and 1"),
        ({"drop_rate": -0.1}, "FaultConfig.drop_rate must be between 0 and 1"),
        ({"latency": -1}, "FaultConfig.latency must be >= 0"),
        ({"rate_limit": 0}, "FaultConfig.rate_limit must be > 0"),
        ({"down_mode": "refuse"}, "FaultConfig.down_mode must be one of"),
    ],
)
def test_bad_fault_settings_are_named(scim_server, changes, message):
    with pytest.raises(ValueError, match=message):
        FaultConfig(**changes)
    with pytest.raises(ValueError, match=message):
        scim_server.set_faults(**changes)


def test_forced_404_and_409_speak_aws(aws_scim_server):
    """A just-created resource that reads 404 (eventual consistency, aws-scim.md §8.5)."""
    api = Api(aws_scim_server)
    uid = api.post("/Users", aws_user()).json()["id"]
    aws_scim_server.fail_next(404, method="GET", path_prefix="/Users/")
    assert_aws_error(api.get(f"/Users/{uid}"), 404, "USER does not exist.")
    assert api.get(f"/Users/{uid}").status_code == 200
    aws_scim_server.fail_next(404, path_prefix="/Groups")
    assert_aws_error(api.get("/Groups/x"), 404, "GROUP does not exist.")
    aws_scim_server.fail_next(409)
    assert_aws_error(api.post("/Users", aws_user("other")), 409, AWS_409)
    aws_scim_server.fail_next(403)
    assert_aws_error(
        api.get("/Users"), 403, "Operation is not permitted based on the supplied authorization."
    )


def test_forced_failure_generic_body(scim_server):
    scim_server.fail_next(500)
    r = Api(scim_server).get("/Users")
    assert r.status_code == 500
    assert r.json() == {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": "500",
        "detail": "Injected fault: HTTP 500.",
    }
