"""A real Chromium ``EventSource`` on the conformance ``/sse/{topic}`` routes, across two processes.

The browser reconnects by itself (``Last-Event-ID`` header) to a restarted process after events were
published on the other one, gets the ``stream-reset`` event for an id the history does not know, and
replays with ``?lastEventId=`` from a second origin (the other process).
"""

from __future__ import annotations

import pytest

from tests.servers import CHROMIUM_ARGS, chromium_path, free_port, stop
from tests.sse.client import publish
from tests.sse.conftest import CONFORMANCE_APP, sse_server

pytestmark = pytest.mark.timeout(180)

WAIT_MS = 30_000

LISTEN = """([url, types]) => {
    window.got = []; window.opens = 0; window.errors = 0;
    const source = new EventSource(url);
    window.source = source;
    source.onopen = () => { window.opens += 1; };
    source.onerror = () => { window.errors += 1; };
    for (const type of types) {
        source.addEventListener(type, (e) => window.got.push([e.type, e.lastEventId, JSON.parse(e.data)]));
    }
}"""


@pytest.fixture
async def chromium():
    from playwright import async_api  # pip install -e .[dev] installs it (bash scripts/test does)

    async with async_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def test_event_source_reconnects_across_processes_with_replay(redis_url, tmp_path, chromium):
    env = {
        "REDIS_URL": redis_url.replace("/0", "/3"),
        "CONFORMANCE_DB": str(tmp_path / "db.sqlite3"),
        "SSE_RETRY_MS": "300",
        "SSE_HEARTBEAT_INTERVAL": "2",
    }
    port = free_port()
    with sse_server("uvicorn", env, app=CONFORMANCE_APP) as other:
        with sse_server("daphne", env, port=port, app=CONFORMANCE_APP) as first:
            page = await (await chromium.new_context()).new_page()
            page.set_default_timeout(WAIT_MS)
            await page.goto(f"{first.url}/generateJwtToken")  # any page of this origin
            await page.evaluate(LISTEN, ["/sse/browser", ["message", "tick", "stream-reset"]])
            await page.wait_for_function("window.opens === 1")
            ids = [await publish(first.url, "browser", {"n": 1}, "tick"), await publish(first.url, "browser", "é\n2")]
            await page.wait_for_function("window.got.length === 2")
            stop(first.process)  # the process goes away under the open stream
        await page.wait_for_function("window.errors >= 1")
        ids += [await publish(other.url, "browser", 3), await publish(other.url, "browser", 4, "tick")]
        with sse_server("daphne", env, port=port, app=CONFORMANCE_APP):
            # EventSource retries every 300 ms (SSE_RETRY_MS) and sends Last-Event-ID itself
            await page.wait_for_function("window.got.length === 4")
            ids.append(await publish(other.url, "browser", 5))  # live, from the other process
            await page.wait_for_function("window.got.length === 5")
            got = await page.evaluate("window.got")
            assert got == [
                ["tick", ids[0], {"n": 1}],
                ["message", ids[1], "é\n2"],
                ["message", ids[2], 3],
                ["tick", ids[3], 4],
                ["message", ids[4], 5],
            ]
            assert await page.evaluate("window.opens") == 2

            # an id from before the history's epoch: the documented event at the epoch's start, then all it keeps
            await page.evaluate("window.source.close()")
            await page.evaluate(LISTEN, ["/sse/browser?lastEventId=1", ["message", "stream-reset"]])
            await page.wait_for_function("window.got.length === 4")
            assert await page.evaluate("window.got") == [
                ["stream-reset", str(int(ids[0]) - 1), {"lastEventId": "1"}],
                ["message", ids[1], "é\n2"],
                ["message", ids[2], 3],
                ["message", ids[4], 5],
            ]

            # a manual replay from the other origin (process): ?lastEventId=
            await page.evaluate("window.source.close()")
            await page.evaluate(LISTEN, [f"{other.url}/sse/browser?lastEventId={ids[2]}", ["message", "tick"]])
            await page.wait_for_function("window.got.length === 2")
            assert await page.evaluate("window.got") == [["tick", ids[3], 4], ["message", ids[4], 5]]
            await page.evaluate("window.source.close()")
