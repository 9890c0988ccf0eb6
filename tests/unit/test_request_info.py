"""RequestInfo: one parsed view per request, and a query parse that agrees with ``parse_qsl``."""

from __future__ import annotations

from urllib.parse import parse_qsl

from hypothesis import given
from hypothesis import strategies as st

from realtime.request import SCOPE_KEY, RequestInfo


def scope(**extra):
    return {"type": "websocket", "path": "/hubs/chat", "query_string": b"id=abc&x=1",
            "headers": [(b"origin", b"http://a.example"), (b"X-Thing", b"1"), (b"x-thing", b"2")], **extra}  # fmt: skip


def test_every_reader_of_one_request_shares_one_view() -> None:
    request = scope()
    first = RequestInfo.of(request)
    assert request[SCOPE_KEY] is first
    assert RequestInfo.of(dict(request)) is first  # a middleware's copy carries it along
    assert first.header("x-thing") == "1, 2" and first.query_value("ID") == "abc"


def test_a_scope_whose_request_parts_were_replaced_gets_a_new_view() -> None:
    request = scope()
    first = RequestInfo.of(request)
    for replaced in ({"headers": [(b"origin", b"http://b.example")]}, {"path": "/other"}, {"query_string": b"id=z"}):
        view = RequestInfo.of({**request, **replaced})
        assert view is not first
    assert (
        RequestInfo.of({**request, "headers": [(b"origin", b"http://b.example")]}).header("origin")
        == "http://b.example"
    )


def test_a_str_query_string_from_a_test_client_is_read_too() -> None:
    assert RequestInfo.of(scope(query_string="id=q")).query_value("id") == "q"


@given(st.text(alphabet="ab=&;%+2Fé ", max_size=30))
def test_the_query_is_parse_qsl_first_values(text: str) -> None:
    expected: dict[str, str] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        expected.setdefault(key, value)
    assert RequestInfo(query_string=text.encode("latin-1")).query == expected
