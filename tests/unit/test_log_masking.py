"""``MaskTokensFilter`` edge cases: it masks inside the message and its arguments and keeps their shape, so
formatters that read ``record.args`` themselves (uvicorn's ``AccessFormatter``) keep working."""

from __future__ import annotations

import logging
from typing import Any

from uvicorn.logging import AccessFormatter

from realtime.logging import MASK, MaskTokensFilter, mask


def masked(msg: Any, *args: Any) -> logging.LogRecord:
    """A record of ``msg % args`` after the filter ran on it."""
    record = logging.LogRecord("test", logging.INFO, __file__, 1, msg, args, None)
    assert MaskTokensFilter().filter(record) is True
    return record


def test_uvicorn_access_record_keeps_its_five_args_and_formats():
    record = masked(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/hub?id=TOKEN&access_token=a.b.c&x=1", "1.1", 200
    )
    assert record.args == ("127.0.0.1:5000", "GET", "/hub?id=***&access_token=***&x=1", "1.1", 200)
    line = AccessFormatter(fmt='%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False).format(record)
    assert line == '127.0.0.1:5000 - "GET /hub?id=***&access_token=***&x=1 HTTP/1.1" 200 OK'


def test_plain_formatter_and_message_text():
    record = masked("GET /hub?access_token=a.b.c then %s", "/other?id=TOKEN")
    assert record.msg == "GET /hub?access_token=*** then %s"
    assert (
        logging.Formatter("%(levelname)s %(message)s").format(record)
        == "INFO GET /hub?access_token=*** then /other?id=***"
    )


def test_argument_that_continues_a_secret_in_the_format_string():
    record = masked("GET /hub?id=%s&access_token=%r&n=%d", "TOKEN", "a.b.c", 7)
    assert record.args == (MASK, MASK, 7)
    assert record.getMessage() == "GET /hub?id=***&access_token='***'&n=7"
    record = masked("GET /hub?id=pre%s", "fix")  # the secret starts in the text and ends in the argument
    assert record.getMessage() == "GET /hub?id=******"


def test_positions_count_star_widths_and_skip_literal_percents():
    record = masked("100%% %*d then ?id=%s", 4, 2, "TOKEN")
    assert record.args == (4, 2, MASK)
    assert record.getMessage() == "100%    2 then ?id=***"


def test_mapping_args_stay_a_mapping():
    record = masked(
        "GET %(path)s?id=%(token)s (%(count)d)", {"path": "/hub?access_token=a.b.c", "token": "T", "count": 3}
    )
    assert record.args == {"path": "/hub?access_token=***", "token": MASK, "count": 3}
    assert record.getMessage() == "GET /hub?access_token=***?id=*** (3)"


def test_bytes_args_stay_bytes():
    record = masked("raw %r", b"/hub?id=TOKEN&x=1")
    assert record.args == (b"/hub?id=***&x=1",)


def test_other_objects_are_passed_through_untouched():
    class Loud:
        def __str__(self) -> str:
            raise AssertionError("the filter must not format arguments")

    loud = Loud()
    record = masked("user %s id=%d", loud, 1234)
    assert record.args[0] is loud and record.args[1] == 1234  # a number behind %d is left: "***" would break %d


def test_message_without_args_is_text_not_a_format():
    record = masked("100% of /hub?id=TOKEN%2F")
    assert record.args == () and record.getMessage() == "100% of /hub?id=***"
    record = masked(ValueError("not a string"))
    assert isinstance(record.msg, ValueError)


def test_masking_twice_changes_nothing_more():
    record = masked("GET /hub?id=%s %s", "TOKEN", "/x?access_token=a.b.c")
    first = (record.msg, record.args)
    MaskTokensFilter().filter(record)
    assert (record.msg, record.args) == first


def test_mask_keeps_other_parameters_and_quotes():
    assert mask('"GET /chathub?access_token=a.b.c HTTP/1.1"') == '"GET /chathub?access_token=*** HTTP/1.1"'
    assert mask("/hub?userid=5&ID=T&xid=1") == "/hub?userid=5&ID=***&xid=1"
