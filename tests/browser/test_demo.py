"""The demo project in Chromium: JWT sign-in, chat between two browser contexts, presence, a push from a view,
the model-broadcast list, the SSE activity feed, the Celery progress bar, fallback when WebSocket is blocked,
reconnect after a server restart, token refresh. The README's screenshots come from here (the ``screenshot``
fixture)."""

from __future__ import annotations

import json
import urllib.request

import pytest
from playwright.sync_api import expect
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from .conftest import demo_server

expect.set_options(timeout=15_000)  # waits on real events; generous for a loaded machine

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    with demo_server(tmp_path_factory.mktemp("demo")) as server:
        yield server


@pytest.fixture
def sign_in(browser):
    contexts = []

    def sign_in_(url: str, user: str, password: str = "demo", *, blocked: tuple[str, ...] = ()):
        """A new browser context signed in as ``user``; ``blocked`` globals (``WebSocket``...) are removed."""
        context = browser.new_context(viewport={"width": 1180, "height": 860})
        contexts.append(context)
        if blocked:
            context.add_init_script("".join(f"window.{name} = undefined;" for name in blocked))
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.goto(url)
        page.get_by_label("username").fill(user)
        page.get_by_label("password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#status")).to_have_text("connected")
        return page

    yield sign_in_
    for context in contexts:
        context.close()


def say(page, text: str) -> None:
    page.get_by_label("message").fill(text)
    page.get_by_role("button", name="Send").click()


def add_item(page, title: str) -> None:
    """Add an item and wait for the view's answer: adds in flight together may reach the server in any order."""
    page.get_by_label("new item").fill(title)
    page.get_by_role("button", name="Add").click()
    expect(page.locator("#items li", has_text=title)).to_have_count(1)


def joined_count_at_least(page, user: str, count: int) -> None:
    """Wait until the page's log shows ``count`` notices of ``user`` joining #lobby. The notice is a message
    to the room, so its arrival proves that the page's connection is in the room again after a reconnect
    (its room list may still show the state from before: it is not cleared on a disconnect)."""
    page.wait_for_function(
        """([text, count]) => [...document.querySelectorAll("#log li")].filter((li) => li.textContent === text)
             .length >= count""",
        arg=[f"{user} joined #lobby", count],
    )


def test_sign_in_page(browser, demo, screenshot):
    page = browser.new_page(viewport={"width": 1180, "height": 400})
    try:
        page.goto(demo.url)
        page.get_by_label("username").fill("alice")
        page.get_by_label("password").fill("wrong")
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#login-error")).to_contain_text("No active account")
        page.get_by_label("password").fill("")
        page.locator("#login-error").evaluate("node => node.textContent = ''")
        screenshot(page, "demo-sign-in")
    finally:
        page.close()


def test_two_users_chat_with_presence(demo, sign_in, screenshot):
    alice = sign_in(demo.url, "alice")
    bob = sign_in(demo.url, "bob")
    expect(alice.locator("#transport")).to_have_text("WebSockets")
    online = alice.locator("#online li")
    expect(online).to_have_text(["alice", "bob"])
    expect(alice.locator("#log")).to_contain_text("bob joined #lobby")

    say(bob, "Hi Alice! Is the release ready?")
    expect(alice.locator("#log li").last).to_have_text("bob Hi Alice! Is the release ready?")
    say(alice, "Almost: the browser tests just passed.")
    expect(bob.locator("#log li").last).to_have_text("alice Almost: the browser tests just passed.")

    bob.get_by_label("announcement").fill("Deploying at 5 pm")
    bob.get_by_role("button", name="Announce").click()
    expect(alice.locator("#log li").last).to_have_text("announcement: Deploying at 5 pm")

    # The shared list: views save Items; broadcast_model updates the other page, the sender uses the answer.
    for title in ("Write the docs", "Tag 0.1", "Ship it"):
        add_item(alice, title)
    expect(bob.locator("#items li")).to_have_text(["Write the docs×", "Tag 0.1×", "Ship it×"])
    expect(alice.locator("#items li")).to_have_count(3)  # no echo of its own change
    bob.locator("#items li", has_text="Write the docs").get_by_role("checkbox").check()
    expect(alice.locator("#items li.done")).to_have_text(["Write the docs×"])
    bob.locator("#items li", has_text="Tag 0.1").get_by_title("delete").click()
    expect(alice.locator("#items li")).to_have_text(["Write the docs×", "Ship it×"])
    # The views also publish to the activity feed, an SSE topic every page reads with EventSource.
    expect(alice.locator("#activity li").first).to_contain_text("Deleted “Tag 0.1”")
    expect(alice.locator("#feed-status")).to_have_text("open")

    # The Celery task (run in a thread: no broker) reports to the page that started it.
    alice.get_by_role("button", name="Build a report").click()
    expect(alice.locator("#progress-text")).to_have_text("100%: report ready", timeout=15_000)
    expect(bob.locator("#progress-text")).to_have_text("Not started.")
    screenshot(alice, "demo")

    bob.get_by_role("button", name="#random").click()
    expect(online).to_have_text(["alice"])
    say(bob, "anyone in random?")
    expect(bob.locator("#log li").last).to_have_text("bob anyone in random?")
    bob.get_by_role("button", name="#lobby").click()
    expect(online).to_have_text(["alice", "bob"])

    bob.close()  # the tab closes: its connection ends and presence announces it
    expect(online).to_have_text(["alice"])
    expect(alice.locator("#log")).to_contain_text("bob left")


def test_clients_without_origin_connect(demo):
    """Programs (Node, Python) send no Origin: the demo's asgi.py lets their WebSockets in, while realtime's own
    allow-list (ALLOWED_HOSTS) still refuses a foreign page's. No Chromium: a plain WebSocket client."""
    login = urllib.request.Request(
        f"{demo.url}/api/token",
        data=json.dumps({"username": "alice", "password": "demo"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(login, timeout=10) as response:
        access = json.load(response)["access"]
    url = f"{demo.url.replace('http', 'ws', 1)}/hubs/chat?access_token={access}"
    with connect(url, open_timeout=10) as socket:
        socket.send('{"protocol":"json","version":1}\x1e')
        assert socket.recv(timeout=10).startswith("{}\x1e")
    with pytest.raises(InvalidStatus) as refused:
        connect(url, origin="https://elsewhere.example", open_timeout=10)
    assert refused.value.response.status_code == 403


def test_expired_token_is_refreshed(tmp_path, sign_in):
    """Access tokens of 3 s: the hub closes the connection when one expires (allowReconnect); the page's
    accessTokenFactory refreshes it with the refresh token, reconnects and rejoins its room.

    Every refreshed token lives 3 s too, so the page keeps cycling: the test waits for states that stay
    once reached (counters, notices in the log) rather than chatting, which an expiry can interrupt."""
    with demo_server(tmp_path, DEMO_ACCESS_TOKEN_SECONDS="3") as server:
        alice = sign_in(server.url, "alice")
        joined_count_at_least(alice, "alice", 1)
        alice.wait_for_function("window.demo.refreshes >= 1 && window.demo.reconnects >= 1", timeout=15_000)
        joined_count_at_least(alice, "alice", 2)  # the reconnected connection joined the room again
        expect(alice.locator("#online li")).to_have_text(["alice"])


@pytest.mark.parametrize(
    ("blocked", "transport"),
    [(("WebSocket",), "ServerSentEvents"), (("WebSocket", "EventSource"), "LongPolling")],
    ids=["sse", "long-polling"],
)
def test_fallback_when_websocket_is_blocked(demo, sign_in, blocked, transport):
    carol = sign_in(demo.url, "carol", blocked=blocked)
    alice = sign_in(demo.url, "alice")
    expect(carol.locator("#transport")).to_have_text(transport)
    expect(alice.locator("#transport")).to_have_text("WebSockets")
    say(carol, f"hello over {transport}")
    expect(alice.locator("#log li").last).to_have_text(f"carol hello over {transport}")
    say(alice, "hello back")
    expect(carol.locator("#log li").last).to_have_text("alice hello back")
    carol.get_by_role("button", name="Sign out").click()  # connection.stop(): a long poll has no socket to lose
    expect(alice.locator("#online li")).not_to_contain_text(["carol"])


def test_reconnect_after_server_restart(demo, sign_in):
    """Both pages reconnect (withAutomaticReconnect), rejoin their room and chat again."""
    alice = sign_in(demo.url, "alice")
    bob = sign_in(demo.url, "bob")
    expect(alice.locator("#online li")).to_have_text(["alice", "bob"])
    joined_count_at_least(alice, "alice", 1)
    demo.restart()
    for page in (alice, bob):
        page.wait_for_function("window.demo.reconnects >= 1", timeout=30_000)
        expect(page.locator("#status")).to_have_text("connected", timeout=30_000)
    joined_count_at_least(alice, "alice", 2)  # alice is in the room again, so bob's message will reach her
    expect(alice.locator("#online li")).to_have_text(["alice", "bob"])
    say(bob, "back after the restart")
    expect(alice.locator("#log li").last).to_have_text("bob back after the restart")


def test_dropped_socket_loses_nothing(demo, sign_in, screenshot):
    """ "Drop the connection" closes the page's WebSocket (code 4000, not a clean close) three times while the hub
    streams 1..300: the client resumes the same connection each time (withStatefulReconnect), so every number
    arrives once and in order, with no reconnect (the room is not joined again)."""
    page = sign_in(demo.url, "alice")
    expect(page.locator("#transport")).to_have_text("WebSockets")
    joined_count_at_least(page, "alice", 1)
    connection_id = page.evaluate("demo.connection.connectionId")
    page.get_by_role("button", name="Count to 300").click()
    for drops in (1, 2, 3):
        # numbers arrived since the last drop: the connection is back
        page.wait_for_function("count => demo.counted.length >= count", arg=70 * drops)
        page.get_by_role("button", name="Drop the connection").click()
    expect(page.locator("#count-text")).to_have_text("300 of 300 received: none missing, none twice; dropped 3 times")
    state = page.evaluate(
        "({ counted: demo.counted, id: demo.connection.connectionId, reconnects: demo.reconnects, drops: demo.drops })"
    )
    assert state == {"counted": list(range(1, 301)), "id": connection_id, "reconnects": 0, "drops": 3}
    expect(page.locator("#status")).to_have_text("connected")
    joined_count_at_least(page, "alice", 1)
    assert page.locator("#log li", has_text="alice joined #lobby").count() == 1  # no new connection joined
    screenshot(page, "demo-stateful-reconnect")


def test_activity_feed_replays_after_a_reload(demo, sign_in):
    """The feed opens with ``?lastEventId=0``: a page that comes (back) gets what the topic keeps."""
    page = sign_in(demo.url, "carol")
    for title in ("Read the feed", "Reload"):
        add_item(page, title)
    events = page.locator("#activity li")
    expect(events.first).to_contain_text("Added “Reload” to the list")
    expect(events.nth(1)).to_contain_text("Added “Read the feed” to the list")
    seen = events.all_text_contents()
    page.reload()
    expect(page.locator("#feed-status")).to_have_text("open")
    expect(events).to_have_text(seen)


def test_the_demo_views_that_change_things_need_the_pages_jwt(demo):
    """No token: 401 (CSRF passed); the page's access token: the change is made."""
    import http.cookiejar
    import json
    import urllib.error
    import urllib.request

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(f"{demo.url}/", timeout=20).read()  # the page sets Django's csrftoken cookie
    csrf = next(cookie.value for cookie in jar if cookie.name == "csrftoken")

    def add(title: str, token: str | None = None) -> int:
        headers = {"X-CSRFToken": csrf, "Content-Type": "application/x-www-form-urlencoded"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(f"{demo.url}/items/add", f"title={title}".encode(), headers, method="POST")
        try:
            return opener.open(request, timeout=20).status
        except urllib.error.HTTPError as error:
            return error.code

    assert add("anonymous") == 401
    login = urllib.request.Request(
        f"{demo.url}/api/token",
        json.dumps({"username": "alice", "password": "demo"}).encode(),
        {"Content-Type": "application/json"},
        method="POST",
    )
    token = json.loads(opener.open(login, timeout=20).read())["access"]
    assert add("signed-in", token) == 201
