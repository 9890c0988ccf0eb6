"""The REALTIME settings object, per-hub overrides, and the system checks."""

from __future__ import annotations

import pytest
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from realtime.conf import hub_option, realtime_settings
from realtime.hubs import Hub
from realtime.protocol.json import JsonHubProtocol
from realtime.protocol.msgpack import MessagePackHubProtocol


class PlainHub(Hub):
    pass


class TunedHub(Hub):
    keep_alive_interval = 1.5
    client_timeout = 3.0
    handshake_timeout = 2.0
    max_message_size = 1000
    stream_buffer_capacity = 4
    max_parallel_invocations = 3
    detailed_errors = True
    protocols = ["realtime.protocol.json.JsonHubProtocol"]


# -- settings -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HANDSHAKE_TIMEOUT", 15.0),
        ("KEEP_ALIVE_INTERVAL", 15.0),
        ("CLIENT_TIMEOUT", 30.0),
        ("MAX_MESSAGE_SIZE", 32 * 1024),
        ("STREAM_BUFFER_CAPACITY", 10),
        ("MAX_PARALLEL_INVOCATIONS", 1),
        ("MAX_QUEUED_INVOCATIONS", 32),
        ("MAX_STREAMS", 100),
        ("MAX_UPLOAD_STREAMS", 100),
        ("MAX_GROUPS", 100),
        ("MAX_POST_SIZE", 4 * 1024 * 1024),
        ("MIN_NEGOTIATE_VERSION", 0),
        ("DETAILED_ERRORS", False),
        ("CHANNEL_LAYER", "default"),
    ],
)
def test_defaults(name, value):
    assert getattr(realtime_settings, name) == value
    assert hub_option(PlainHub, name) == value


def test_protocols_are_imported():
    assert realtime_settings.PROTOCOLS == [JsonHubProtocol, MessagePackHubProtocol]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("KEEP_ALIVE_INTERVAL", 1.5),
        ("CLIENT_TIMEOUT", 3.0),
        ("HANDSHAKE_TIMEOUT", 2.0),
        ("MAX_MESSAGE_SIZE", 1000),
        ("STREAM_BUFFER_CAPACITY", 4),
        ("MAX_PARALLEL_INVOCATIONS", 3),
        ("DETAILED_ERRORS", True),
        ("PROTOCOLS", [JsonHubProtocol]),
    ],
)
def test_per_hub_override(name, value):
    assert hub_option(TunedHub, name) == value


def test_subclass_inherits_hub_overrides():
    class Child(TunedHub):
        keep_alive_interval = None  # back to the setting

    assert hub_option(Child, "CLIENT_TIMEOUT") == 3.0
    assert hub_option(Child, "KEEP_ALIVE_INTERVAL") == 15.0


def test_false_per_hub_override_is_kept():
    class Quiet(Hub):
        detailed_errors = False

    with override_settings(REALTIME={"DETAILED_ERRORS": True}):
        assert hub_option(PlainHub, "DETAILED_ERRORS") is True
        assert hub_option(Quiet, "DETAILED_ERRORS") is False


def test_override_settings_reloads():
    assert realtime_settings.KEEP_ALIVE_INTERVAL == 15.0
    with override_settings(REALTIME={"KEEP_ALIVE_INTERVAL": 5.0, "MAX_MESSAGE_SIZE": 100}):
        assert realtime_settings.KEEP_ALIVE_INTERVAL == 5.0
        assert hub_option(PlainHub, "KEEP_ALIVE_INTERVAL") == 5.0
        assert hub_option(TunedHub, "KEEP_ALIVE_INTERVAL") == 1.5
        assert [p.max_message_size for p in PlainHub.protocol_instances()] == [100, 100]
    assert realtime_settings.KEEP_ALIVE_INTERVAL == 15.0
    assert [p.max_message_size for p in PlainHub.protocol_instances()] == [32 * 1024, 32 * 1024]


def test_settings_fixture_reloads(settings):
    settings.REALTIME = {"CLIENT_TIMEOUT": 60.0}
    assert realtime_settings.CLIENT_TIMEOUT == 60.0


def test_hub_protocol_instances_follow_hub_options():
    (protocol,) = TunedHub.protocol_instances()
    assert isinstance(protocol, JsonHubProtocol)
    assert protocol.max_message_size == 1000


def test_unknown_setting_name_raises():
    with pytest.raises(AttributeError, match="NOT_A_SETTING"):
        realtime_settings.NOT_A_SETTING  # noqa: B018


def test_bad_import_string_names_the_setting():
    with override_settings(REALTIME={"PROTOCOLS": ["realtime.protocol.nope.Nope"]}):
        with pytest.raises(ImproperlyConfigured, match="PROTOCOLS"):
            realtime_settings.PROTOCOLS  # noqa: B018


async def test_hub_protocols_option_limits_the_handshake():
    from realtime.exceptions import HubError
    from realtime.testing import HubCommunicator

    with pytest.raises(HubError, match="The protocol 'messagepack' is not supported."):
        await HubCommunicator(TunedHub, protocol="messagepack").connect()


# -- system checks --------------------------------------------------------------------------------------


def realtime_ids() -> set[str]:
    """Ids of realtime's messages about settings. Those about hub classes name them in ``obj``: test modules
    define hubs with mistakes on purpose (see test_checks.py for the hub checks)."""
    found = checks.run_checks(databases=[])  # no database: Django 6.1 would otherwise ask every alias's server
    return {message.id for message in found if (message.id or "").startswith("realtime.") and message.obj is None}


def test_test_settings_pass_the_checks():
    assert realtime_ids() == set()


@override_settings(CHANNEL_LAYERS={})
def test_e001_no_channel_layer():
    assert "realtime.E001" in realtime_ids()


@override_settings(REALTIME={"CHANNEL_LAYER": "other"})
def test_e001_configured_alias_missing():
    assert "realtime.E001" in realtime_ids()


@override_settings(ASGI_APPLICATION=None)
def test_e002_no_asgi_application():
    assert realtime_ids() == {"realtime.E002"}


@override_settings(REALTIME={"KEEP_ALIVE_INTERVAL": 15.0, "NOT_A_SETTING": 1})
def test_e004_unknown_realtime_key():
    (error,) = [m for m in checks.run_checks(databases=[]) if m.id == "realtime.E004"]
    assert "NOT_A_SETTING" in error.msg


@override_settings(REALTIME={"PRESENCE_MAX_GROUPS": 10})
def test_e004_names_the_new_name_of_a_renamed_setting():
    (error,) = [m for m in checks.run_checks(databases=[]) if m.id == "realtime.E004"]
    assert error.hint == "It is now called 'MAX_GROUPS'."


def deploy_ids() -> set[str]:
    found = checks.run_checks(databases=[], include_deployment_checks=True)
    return {m.id for m in found if m.id.startswith("realtime.")}


@pytest.mark.parametrize(
    ("config", "warned"),
    [
        ({}, True),
        ({"MIN_NEGOTIATE_VERSION": 1}, False),
        ({"DEFAULT_PERMISSION_CLASSES": ["realtime.permissions.IsAuthenticated"]}, False),
    ],
)
def test_w030_deploy_warns_of_negotiate_version_0_for_anonymous_users(config, warned):
    with override_settings(REALTIME=config):
        assert ("realtime.W030" in deploy_ids()) is warned
        assert "realtime.W030" not in realtime_ids()  # a deployment check only


@pytest.mark.parametrize(
    ("config", "warned"),
    [
        ({"KEEP_ALIVE_INTERVAL": 20.0}, True),
        ({"CLIENT_TIMEOUT": 20.0}, True),
        ({"KEEP_ALIVE_INTERVAL": 10.0, "CLIENT_TIMEOUT": 20.0}, False),
        ({"KEEP_ALIVE_INTERVAL": 15.0, "CLIENT_TIMEOUT": 30.0}, False),
    ],
)
def test_w005_keep_alive_vs_client_timeout(config, warned):
    with override_settings(REALTIME=config):
        assert ("realtime.W005" in realtime_ids()) is warned


REDIS = "channels_redis.core.RedisChannelLayer"


@pytest.mark.parametrize(
    ("version", "hosts", "warned"),
    [
        ("8.0.0", ["redis://localhost:6379"], True),
        ("8.1.2", [{"address": "redis://localhost:6379"}], True),
        ("8.0.0", [], True),
        ("8.0.0", [{"address": "redis://localhost:6379", "socket_timeout": None}], False),
        ("8.2.0", [{"address": "redis://localhost:6379", "socket_timeout": 10}], False),
        ("8.2.0", [{"address": "redis://localhost:6379", "socket_timeout": 5}], True),
        ("8.2.0", [{"address": "redis://a:6379", "socket_timeout": None}, {"address": "redis://b:6379"}], True),
        ("7.4.1", ["redis://localhost:6379"], False),
    ],
)
def test_w003_redis_8_without_socket_timeout(monkeypatch, version, hosts, warned):
    import redis

    monkeypatch.setattr(redis, "__version__", version)
    layers = {"default": {"BACKEND": REDIS, "CONFIG": {"hosts": hosts}}}
    with override_settings(CHANNEL_LAYERS=layers):
        assert ("realtime.W003" in realtime_ids()) is warned


def test_w003_not_for_pubsub_layer(monkeypatch):
    import redis

    monkeypatch.setattr(redis, "__version__", "8.0.0")
    layers = {"default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer", "CONFIG": {}}}
    with override_settings(CHANNEL_LAYERS=layers):
        assert "realtime.W003" not in realtime_ids()


def test_w003_hint_says_to_set_the_socket_timeout(monkeypatch):
    import redis

    monkeypatch.setattr(redis, "__version__", "8.2.0")
    layers = {"default": {"BACKEND": REDIS, "CONFIG": {"hosts": ["redis://localhost:6379"]}}}
    with override_settings(CHANNEL_LAYERS=layers):
        [warning] = [m for m in checks.run_checks(databases=[]) if m.id == "realtime.W003"]
    assert '"socket_timeout": None' in warning.hint and "pin" not in warning.hint
