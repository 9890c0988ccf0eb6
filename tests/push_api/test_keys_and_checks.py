"""Access keys: what the system checks refuse, and the connection string the management command prints."""

from __future__ import annotations

import io

import pytest
from django.core import checks
from django.core.management import CommandError, call_command
from django.test import override_settings

from realtime.push_api.keys import access_keys, same_url

from .conftest import KEY

PUBSUB = {"default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer", "CONFIG": {}}}


def ids(*, deploy: bool = False) -> list[str]:
    found = checks.run_checks(databases=[], include_deployment_checks=deploy)
    return [m.id for m in found if (m.id or "").startswith("realtime.E05") or m.id == "realtime.W036"]


@pytest.mark.parametrize(
    ("keys", "count"),
    [
        ({"main": KEY}, 0),
        ({"main": KEY, "reports": {"key": KEY, "hubs": ["reports"]}}, 0),
        ({"main": "short"}, 1),
        ({"main": KEY, "next": "x" * 31}, 1),
        ({"main": 42}, 1),
        ({"main": {"key": KEY, "hubs": "reports"}}, 1),
        ([KEY], 1),
    ],
)
def test_e050_refuses_short_and_malformed_keys(keys, count):
    with override_settings(REALTIME={"PUSH_API_KEYS": keys}):
        assert ids().count("realtime.E050") == count


def test_e051_e052_body_bound_and_redis_store_without_url():
    with override_settings(REALTIME={"PUSH_API_MAX_BODY_SIZE": 0}):
        assert ids() == ["realtime.E051"]
    with override_settings(REALTIME={"USER_GROUP_BACKEND": "realtime.user_groups.RedisUserGroups"}):
        assert ids() == ["realtime.E052"]


def test_w036_memory_user_groups_beside_a_shared_layer():
    with override_settings(CHANNEL_LAYERS=PUBSUB, REALTIME={"PUSH_API_KEYS": {"main": KEY}}):
        assert ids(deploy=True) == ["realtime.W036"]
        assert ids() == []
    redis_store = {"USER_GROUP_BACKEND": "realtime.user_groups.RedisUserGroups", "REDIS_URL": "redis://x"}
    with override_settings(CHANNEL_LAYERS=PUBSUB, REALTIME={"PUSH_API_KEYS": {"main": KEY}, **redis_store}):
        assert ids(deploy=True) == []


def test_keys_are_read_with_their_names_and_hubs(settings):
    settings.REALTIME = {"PUSH_API_KEYS": {"main": KEY, "reports": {"key": KEY + "2", "hubs": ["Reports"]}}}
    main, reports = access_keys()
    assert (main.name, main.hubs, main.allows("anything")) == ("main", None, True)
    assert (reports.name, reports.allows("reports"), reports.allows("REPORTS"), reports.allows("chat")) == (
        "reports",
        True,
        True,
        False,
    )
    assert KEY not in repr(main)


def test_the_connection_string_command(settings):
    settings.REALTIME = {"PUSH_API_KEYS": {"main": KEY, "next": KEY + "N"}}
    out = io.StringIO()
    call_command("realtime_connection_string", "--endpoint", "https://push.example.com/", stdout=out)
    assert out.getvalue() == f"Endpoint=https://push.example.com;AccessKey={KEY};Version=1.0;\n"
    settings.REALTIME = {**settings.REALTIME, "PUSH_API_ENDPOINT": "http://127.0.0.1:8000"}
    out = io.StringIO()
    call_command("realtime_connection_string", "--key", "next", stdout=out)
    assert out.getvalue() == f"Endpoint=http://127.0.0.1:8000;AccessKey={KEY}N;Version=1.0;\n"
    with pytest.raises(CommandError, match="No key 'other'"):
        call_command("realtime_connection_string", "--key", "other")
    settings.REALTIME = {"PUSH_API_KEYS": {"main": KEY}}
    with pytest.raises(CommandError, match="--endpoint"):
        call_command("realtime_connection_string")
    settings.REALTIME = {}
    with pytest.raises(CommandError, match="names no access key"):
        call_command("realtime_connection_string", "--endpoint", "http://x")


@pytest.mark.parametrize(
    ("audience", "matches"),
    [
        ("http://h/api/hubs/chat/:send", True),
        ("HTTP://H:80/api/hubs/chat/:send/", True),
        ("http://h/api/hubs/chat/%3Asend", True),
        ("https://h/api/hubs/chat/:send", False),
        ("http://h:8000/api/hubs/chat/:send", False),
        ("http://h/api/hubs/Chat/:send", False),
        ("http://h/api/hubs/chat/:send?api-version=2022-06-01", True),
    ],
)
def test_the_audience_is_the_url_without_its_query(audience, matches):
    assert same_url(audience, "http://h", "/api/hubs/chat/:send") is matches
