"""The system checks of issue 15: hub methods clients cannot reach, and ``check --deploy`` warnings.

Messages about a hub class name it in ``obj``; the hubs below carry their mistakes on purpose, so each test
looks only at the messages of its own hubs (or at those without ``obj``, about settings).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.core import checks
from django.test import override_settings

from realtime.hubs import Hub, hub_method
from tests.servers import REPO_ROOT

PUBSUB = {"default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer", "CONFIG": {}}}
MEMORY = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
REDIS_BACKENDS = {
    "REDIS_URL": "redis://127.0.0.1:1/0",
    "REGISTRY_BACKEND": "realtime.registry.RedisRegistry",
    "PRESENCE_BACKEND": "realtime.presence.redis.RedisPresence",
    "SSE_HISTORY_BACKEND": "realtime.eventstream.history.RedisHistory",
}


def messages(obj: object = None, *, deploy: bool = False) -> list[checks.CheckMessage]:
    """realtime's messages about ``obj`` (a hub class; ``None``: about settings)."""
    # no database: Django 6.1 would otherwise ask every alias's server (here tests.settings' PostgreSQL)
    found = checks.run_checks(databases=[], include_deployment_checks=deploy)
    return [m for m in found if (m.id or "").startswith("realtime.") and m.obj is obj]


def ids(obj: object = None, *, deploy: bool = False) -> set[str]:
    return {m.id for m in messages(obj, deploy=deploy)}


# -- hub methods clients cannot reach ---------------------------------------------------------------------


class PlainDefHub(Hub):
    def Send(self, message: str) -> str:  # noqa: N802  (the mistake: a plain def)
        return message

    @hub_method
    def marked(self) -> int:
        return 1

    def _helper(self) -> int:
        return 2

    @staticmethod
    def utility() -> int:
        return 3

    @property
    def computed(self) -> int:
        return 4

    async def Fine(self) -> None:  # noqa: N802
        return None


class AsyncBase(Hub):
    async def Send(self) -> str:  # noqa: N802
        return "base"


class PlainOverride(AsyncBase):
    def Send(self) -> str:  # noqa: N802  (hides the base's hub method behind a plain def)
        return "child"


class Renaming(AsyncBase):
    @hub_method(name="Send")
    async def send_v2(self) -> str:
        return "v2"


class RenamingChild(Renaming):
    async def Other(self) -> None:  # noqa: N802
        return None


class Left(Hub):
    async def Go(self) -> str:  # noqa: N802
        return "left"


class Right(Hub):
    @hub_method(name="Go")
    async def go_right(self) -> str:
        return "right"


class Both(Left, Right):
    pass


class CaseHub(Hub):
    async def send(self) -> None:
        return None

    async def Send(self) -> None:  # noqa: N802
        return None


class CaseChild(CaseHub):
    pass


class CleanHub(Hub):
    async def Send(self) -> None:  # noqa: N802
        return None

    @hub_method(name="Receive")
    def receive(self) -> None:
        return None


def test_w040_a_public_plain_def_is_reported_with_what_to_do():
    (warning,) = messages(PlainDefHub)
    assert warning.id == "realtime.W040"
    assert warning.level == checks.WARNING
    assert warning.msg == (
        "PlainDefHub.Send is a public plain def: clients cannot call it (they get \"Unknown hub method 'Send'\")."
    )
    assert "async def" in warning.hint and "@hub_method" in warning.hint and "_Send" in warning.hint


def test_w040_a_plain_def_that_hides_a_base_hub_method():
    assert ids(PlainOverride) == {"realtime.W040"}
    assert ids(AsyncBase) == set()


def test_w041_two_methods_under_one_wire_name_through_inheritance():
    (warning,) = messages(Renaming)
    assert warning.id == "realtime.W041"
    assert warning.msg == (
        "Renaming: AsyncBase.Send, Renaming.send_v2 are all exposed as 'Send'; clients reach only Renaming.send_v2."
    )
    assert ids(RenamingChild) == set()  # reported once, on the class where it appears


def test_w041_two_methods_under_one_wire_name_from_two_bases():
    (warning,) = messages(Both)
    assert warning.id == "realtime.W041"
    assert "Left.Go, Right.go_right are all exposed as 'Go'" in warning.msg
    assert ids(Left) == ids(Right) == set()


def test_w042_wire_names_that_differ_only_in_case():
    (warning,) = messages(CaseHub)
    assert warning.id == "realtime.W042"
    assert "'Send' and 'send', which collide: calls match names case-insensitively" in warning.msg
    assert ids(CaseChild) == set()


def test_a_hub_without_mistakes_has_no_messages():
    assert messages(CleanHub, deploy=True) == []


def test_the_conformance_hubs_pass_the_hub_checks():
    from tests.conformance import hubs

    served = [value for value in vars(hubs).values() if isinstance(value, type) and issubclass(value, Hub)]
    assert served
    for hub in served:
        assert ids(hub) == set(), hub


def test_hubs_modules_of_installed_apps_and_of_the_project_are_checked():
    """``manage.py check`` in a fresh process: nothing imports tests/checkapp/hubs.py (an installed app's) or
    tests/checkapp/site/hubs.py (the package of ASGI_APPLICATION, no app) but the checks."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.checkapp.settings"}
    result = subprocess.run(
        [sys.executable, "-m", "django", "check"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    reported = result.stderr
    assert "tests.checkapp.hubs.ForgottenHub'>: (realtime.W040) ForgottenHub.Send is a public plain def" in reported
    assert "tests.checkapp.site.hubs.SiteHub'>: (realtime.W042) SiteHub exposes 'Send' and 'send'" in reported


# -- configuration errors -----------------------------------------------------------------------------


def test_e010_redis_registry_without_redis_url():
    with override_settings(REALTIME={"REGISTRY_BACKEND": "realtime.registry.RedisRegistry"}):
        assert "realtime.E010" in ids()
    with override_settings(REALTIME={"REGISTRY_BACKEND": "realtime.registry.RedisRegistry", "REDIS_URL": "redis://x"}):
        assert "realtime.E010" not in ids()


# -- check --deploy -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("layers", "debug", "warned"),
    [(MEMORY, False, True), (MEMORY, True, False), (PUBSUB, False, False)],
)
def test_w031_in_memory_layer_outside_debug(layers, debug, warned):
    with override_settings(CHANNEL_LAYERS=layers, DEBUG=debug, REALTIME=REDIS_BACKENDS):
        assert ("realtime.W031" in ids(deploy=True)) is warned
        assert "realtime.W031" not in ids()  # a deployment check only


@pytest.mark.parametrize(
    ("layers", "config", "expected"),
    [
        (PUBSUB, {}, {"realtime.W032", "realtime.W021"}),
        (PUBSUB, {"TRACK_PRESENCE": True}, {"realtime.W032", "realtime.W033", "realtime.W021"}),
        (PUBSUB, {**REDIS_BACKENDS, "TRACK_PRESENCE": True}, set()),
        (PUBSUB, {"REGISTRY_BACKEND": "realtime.registry.RedisRegistry", "REDIS_URL": "redis://x"}, {"realtime.W021"}),
        (MEMORY, {"TRACK_PRESENCE": True}, set()),  # one process: in-process backends are right
    ],
)
def test_w032_w033_w021_in_process_backends_beside_a_shared_layer(layers, config, expected):
    shared = {"realtime.W032", "realtime.W033", "realtime.W021"}
    with override_settings(CHANNEL_LAYERS=layers, REALTIME=config):
        assert ids(deploy=True) & shared == expected
        assert ids() & shared == set()


class PresenceHub(Hub):
    track_presence = True


def test_w033_names_a_hub_that_tracks_presence():
    with override_settings(CHANNEL_LAYERS=PUBSUB, REALTIME={}):
        (warning,) = messages(PresenceHub, deploy=True)
        assert warning.id == "realtime.W033"
        assert warning.msg.startswith("PresenceHub tracks presence, and while the channel layer is shared")
    with override_settings(CHANNEL_LAYERS=PUBSUB, REALTIME={"PRESENCE_BACKEND": REDIS_BACKENDS["PRESENCE_BACKEND"]}):
        assert messages(PresenceHub, deploy=True) == []


class DetailedHub(Hub):
    detailed_errors = True


class QuietHub(DetailedHub):
    detailed_errors = False


def test_w034_detailed_errors_in_settings_or_on_a_hub():
    with override_settings(REALTIME={"DETAILED_ERRORS": True}):
        assert "realtime.W034" in ids(deploy=True)
        assert "realtime.W034" not in ids()
    assert "realtime.W034" not in ids(deploy=True)
    (warning,) = messages(DetailedHub, deploy=True)
    assert warning.id == "realtime.W034"
    assert warning.msg.startswith("DetailedHub.detailed_errors is on")
    assert "HubError" in warning.hint
    assert messages(QuietHub, deploy=True) == []
    assert messages(DetailedHub) == []  # a deployment check only


@pytest.mark.parametrize(
    ("origins", "hosts", "debug", "warned"),
    [
        ([], ["app.example.com"], True, True),
        (None, [], False, True),
        (None, [], True, False),  # DEBUG allows localhost
        (None, ["app.example.com"], False, False),
        (["https://app.example.com"], [], False, False),
    ],
)
def test_w035_an_origin_allow_list_that_refuses_every_browser(origins, hosts, debug, warned):
    with override_settings(REALTIME={"ALLOWED_ORIGINS": origins}, ALLOWED_HOSTS=hosts, DEBUG=debug):
        assert ("realtime.W035" in ids(deploy=True)) is warned
        assert "realtime.W035" not in ids()


def test_w035_says_which_setting_refuses():
    with override_settings(REALTIME={"ALLOWED_ORIGINS": []}):
        (warning,) = [m for m in messages(deploy=True) if m.id == "realtime.W035"]
    assert warning.msg.startswith('REALTIME["ALLOWED_ORIGINS"] is empty: ')
    with override_settings(ALLOWED_HOSTS=[], DEBUG=False):
        (warning,) = [m for m in messages(deploy=True) if m.id == "realtime.W035"]
    assert warning.msg.startswith('REALTIME["ALLOWED_ORIGINS"] is None and ALLOWED_HOSTS is empty: ')
    assert 'REALTIME["ALLOWED_ORIGINS"] = ["https://app.example.com"]' in warning.hint


def test_a_stateful_reconnect_buffer_below_one_byte_is_an_error():
    with override_settings(REALTIME={"STATEFUL_RECONNECT_BUFFER_SIZE": 0}):
        assert "realtime.E011" in ids()
    assert "realtime.E011" not in ids()


def test_a_redis_resume_store_without_redis_url_is_an_error():
    with override_settings(REALTIME={"STATEFUL_RECONNECT_STORE": "realtime.resume_store.RedisResumeStore"}):
        assert "realtime.E012" in ids()


def test_no_room_for_layer_calls_is_an_error():
    with override_settings(REALTIME={"LAYER_MAX_CONCURRENT_CALLS": 0}):
        assert "realtime.E013" in ids()
    assert "realtime.E013" not in ids()
