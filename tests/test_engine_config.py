"""Provisioner configuration fails fast, naming the bad setting; traces and batch plumbing."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from _engine_support import DictSource

from scimsync import (
    AWS,
    GENERIC,
    IterableSource,
    Policies,
    Provisioner,
    ScimClient,
    Scope,
    SQLiteStore,
    SyncTrace,
    Target,
    Toggles,
    TraceStep,
)
from scimsync._engine._run import KeyLocks, RemoteIndex
from scimsync.errors import ConfigurationError


@pytest.fixture
def client():
    c = ScimClient("http://127.0.0.1:9/scim/v2", "tok-never-used")
    yield c
    c.close()


@pytest.fixture
def store(tmp_path):
    s = SQLiteStore(tmp_path / "s.db")
    yield s
    s.close()


class TestPolicies:
    def test_unknown_user_lifecycle_lists_allowed_values(self):
        with pytest.raises(ConfigurationError) as info:
            Policies(user_lifecycle="disable")
        msg = str(info.value)
        assert "user_lifecycle='disable'" in msg
        for allowed in ("deactivate", "delete", "deactivate_then_delete"):
            assert allowed in msg

    def test_unknown_group_lifecycle(self):
        with pytest.raises(ConfigurationError, match=r"group_lifecycle='archive'.*delete, keep"):
            Policies(group_lifecycle="archive")

    def test_unknown_approval_operation(self):
        with pytest.raises(ConfigurationError, match=r"require_approval.*delete_users.*allowed"):
            Policies(require_approval={"delete_users"})

    @pytest.mark.parametrize("bad", [1.5, 0.0, -1, "10", True])
    def test_bad_deletion_threshold(self, bad):
        with pytest.raises(ConfigurationError, match=r"deletion_threshold"):
            Policies(deletion_threshold=bad)

    def test_threshold_limits(self):
        assert Policies(deletion_threshold=5).limit_for(1000) == 5
        assert Policies(deletion_threshold=0.1).limit_for(250) == 25
        assert Policies().limit_for(10) is None

    def test_negative_grace_period(self):
        with pytest.raises(ConfigurationError, match=r"grace_period"):
            Policies(grace_period=dt.timedelta(days=-1))

    def test_approval_accepts_one_string(self):
        assert Policies(require_approval="delete_user").require_approval == {"delete_user"}


class TestScopeAndTarget:
    def test_scope_normalises_domains(self):
        s = Scope(allowed_email_domains=["@Example.COM ", "corp.example"])
        assert s.allowed_email_domains == {"example.com", "corp.example"}

    def test_scope_predicate_must_be_callable(self):
        with pytest.raises(ConfigurationError, match=r"Scope.predicate"):
            Scope(predicate="is_staff")

    def test_target_name_and_concurrency(self, client):
        with pytest.raises(ConfigurationError, match=r"Target.name"):
            Target(name="", client=client, profile=AWS)
        with pytest.raises(ConfigurationError, match=r"Target.concurrency"):
            Target(name="aws", client=client, profile=AWS, concurrency=0)

    def test_target_policies_type(self, client):
        with pytest.raises(ConfigurationError, match=r"Target.policies must be a Policies"):
            Target(name="aws", client=client, profile=AWS, policies={"user_lifecycle": "delete"})


class TestProvisionerConfig:
    def test_duplicate_target_names(self, client, store):
        with pytest.raises(ConfigurationError, match=r"duplicate target name 'aws'"):
            Provisioner(
                source=DictSource(),
                store=store,
                targets=[
                    Target(name="aws", client=client, profile=AWS),
                    Target(name="aws", client=client, profile=GENERIC),
                ],
            )

    def test_no_targets(self, store):
        with pytest.raises(ConfigurationError, match=r"at least one Target"):
            Provisioner(source=DictSource(), store=store, targets=[])

    def test_unknown_profile_name(self, client, store):
        with pytest.raises(ConfigurationError, match=r"Target.profile='azure'"):
            Provisioner(
                source=DictSource(),
                store=store,
                targets=[Target(name="x", client=client, profile="azure")],
            )

    def test_profile_without_required_settings(self, client, store):
        with pytest.raises(ConfigurationError, match=r"has no 'page_size'"):
            Provisioner(
                source=DictSource(),
                store=store,
                targets=[Target(name="x", client=client, profile=object())],
            )

    def test_source_without_methods(self, client, store):
        with pytest.raises(ConfigurationError, match=r"lacks get_group, group_member_keys"):
            Provisioner(
                source=type("S", (), {"get_user": lambda self, k: None})(),
                store=store,
                targets=[Target(name="x", client=client, profile=AWS)],
            )

    def test_wrong_mapping_kind(self, client, store):
        with pytest.raises(ConfigurationError, match=r"Target.user_mapping must be a UserMapping"):
            Provisioner(
                source=DictSource(),
                store=store,
                targets=[
                    Target(
                        name="x",
                        client=client,
                        profile=AWS,
                        user_mapping=AWS.default_group_mapping(),
                    )
                ],
            )

    def test_defaults_come_from_the_profile(self, client, store):
        prov = Provisioner(
            source=IterableSource([]),
            store=store,
            targets=[Target(name="aws", client=client, profile="aws")],
        )
        t = prov.target("aws")
        assert t.profile is AWS
        assert t.user_mapping == AWS.default_user_mapping()
        assert t.group_mapping == AWS.default_group_mapping()
        assert t.toggles == Toggles()
        with pytest.raises(ConfigurationError, match=r"unknown target 'gcp'; configured: aws"):
            prov.sync_user("1", target="gcp")
        with pytest.raises(ValueError, match=r"kind must be 'user' or 'group'"):
            prov.notify("users", "1")
        assert "tok-never-used" not in repr(prov)
        assert "tok-never-used" not in repr(t)


class TestTrace:
    def test_format_lists_steps_and_outcome(self):
        tr = SyncTrace(kind="user", key="42", target="aws", display="ada")
        tr.steps.append(TraceStep("scope", True, "in scope: no scope rules"))
        tr.step("validate", False, "user 42: name.familyName is required by the aws profile")
        tr.outcome, tr.operation = "failed", "validate"
        text = tr.format()
        assert text.splitlines()[0] == "user 42 (ada) -> target aws"
        assert "1. [ok  ] scope: in scope" in text
        assert "2. [FAIL] validate: user 42: name.familyName" in text
        assert "outcome: failed (operation validate)" in text
        assert not tr.ok


def test_key_locks_serialise_one_key_and_clean_up():
    locks = KeyLocks()
    inside = []
    peak = []

    def work(n):
        with locks.hold(("t", "user", "1")):
            inside.append(n)
            peak.append(len(inside))
            inside.remove(n)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert max(peak) == 1
    assert len(locks) == 0  # no lock left behind


def test_remote_index_matches_casefolded_values():
    mapping = AWS.default_user_mapping()
    idx = RemoteIndex(
        "user",
        mapping,
        [
            {"id": "a", "userName": "Ada@Example.com", "externalId": "1"},
            {"id": "b", "userName": "grace"},
            {"userName": "no-id"},
        ],
    )
    assert len(idx) == 2
    hit = idx.lookup(mapping.match_values({"userName": "ada@example.COM"}))
    assert hit is not None
    assert hit[2]["id"] == "a"
    assert idx.lookup(mapping.match_values({"externalId": "2", "userName": "nobody"})) is None
    assert idx.get("b")["userName"] == "grace"
