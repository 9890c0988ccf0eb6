"""The system checks of change capture (``realtime.E06x``): what a misconfigured project is told."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import override_settings

from realtime.capture import capture_model
from realtime.capture.registration import forget
from realtime.checks.capture import check_capture
from tests.pushapp.models import Item

ON_POSTGRES = {"CAPTURE_DATABASE": "postgres"}
"""tests.settings has a PostgreSQL alias ``postgres`` beside the SQLite default (no query is made)."""


@pytest.fixture
def captured() -> Iterator[None]:
    capture = capture_model(Item, hub="tests.conformance.hubs.ChatHub", groups=["items"])
    yield
    forget(capture)


def test_nothing_to_say_without_captured_models() -> None:
    assert check_capture() == []


def test_a_captured_model_on_sqlite_is_an_error_that_says_what_to_do(captured: None) -> None:
    (error,) = check_capture()  # tests.settings: the default database is SQLite
    assert error.id == "realtime.E061" and "pushapp.Item" in error.msg and "broadcast_model" in error.hint


def test_postgresql_and_a_known_listener_pass(captured: None) -> None:
    with override_settings(REALTIME=ON_POSTGRES):
        assert check_capture() == []


def test_an_unknown_alias_or_listener_is_an_error(captured: None) -> None:
    with override_settings(REALTIME={"CAPTURE_DATABASE": "nope"}):
        assert [e.id for e in check_capture()] == ["realtime.E060"]
    with override_settings(REALTIME={**ON_POSTGRES, "CAPTURE_LISTENER": "thread"}):
        assert [e.id for e in check_capture()] == ["realtime.E063"]
