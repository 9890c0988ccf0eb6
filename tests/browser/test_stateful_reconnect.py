"""Stateful reconnect in Chromium: the page's client reaches the hub through a TCP proxy of the test
(:class:`~tests.proxy.CuttingProxy`) that cuts its socket, as a network failure would, while another
connection of the page pushes group messages to it and a server stream runs. With ``withStatefulReconnect()``
the client opens one new socket for the same connection after each cut and everything arrives exactly once, in
order, with the same connection id and no reconnect events.
"""

from __future__ import annotations

import uuid

import pytest

pytestmark = pytest.mark.timeout(90)

MESSAGES = 60
CUT_EVERY = 12  # so 5 cuts: before m6, m18, m30, m42 and m54
STREAM_ITEMS = 30


@pytest.mark.parametrize(
    ("client", "protocol"),
    [("realtime", "json"), ("realtime", "messagepack"), ("official", "json")],
)
def test_cut_sockets_resume_without_loss(open_page, cutting_proxy, client, protocol):
    page = open_page(client)
    page.expose_function("cutProxy", cutting_proxy.cut)
    result = page.evaluate(
        """async ({ proxy, group, protocol, messages, cutEvery, streamItems }) => {
          const receiver = T.build(`${proxy}/chathub`, { protocol, stateful: true });
          const sender = await T.connect("/chathub");
          const events = [];
          receiver.onreconnecting(() => events.push("reconnecting"));
          receiver.onreconnected(() => events.push("reconnected"));
          receiver.onclose(() => events.push("close"));
          const got = [];
          const streamed = [];
          let wake = () => {};
          /** Resolves once `ready()` holds; `ready` is checked again each time something arrives. */
          const until = (ready, what) => T.within(new Promise((resolve) => {
            (wake = () => ready() && resolve())();
          }), what);
          receiver.on("ReceiveMessage", (_from, message) => {
            got.push(message);
            wake();
          });
          await receiver.start();
          const id = receiver.connectionId;
          await receiver.invoke("JoinGroup", group);

          // a server stream (an item every 50 ms), cut in the middle
          const stream = new Promise((resolve, reject) => receiver.stream("Counter", streamItems, 50).subscribe({
            next: (item) => {
              streamed.push(item);
              wake();
            },
            complete: resolve,
            error: reject,
          }));
          await until(() => streamed.length >= 5, "5 stream items");
          await window.cutProxy();
          for (let n = 0; n < messages; n++) {
            if (n % cutEvery === cutEvery / 2) {
              // one reconnect attempt per loss: cut again once everything sent so far came
              await until(() => got.length >= n, `${n} group messages (got ${got.length})`);
              await window.cutProxy();
            }
            await sender.invoke("SendToGroup", group, `m${n}`);
          }
          await until(() => got.length >= messages, `${messages} group messages (got ${got.length})`);
          await T.within(stream, "the end of the stream");
          return {
            got, streamed, events,
            whoAmI: await receiver.invoke("WhoAmI"),
            sameId: receiver.connectionId === id,
            state: receiver.state,
          };
        }""",
        {
            "proxy": cutting_proxy.url,
            "group": f"resume-{client}-{protocol}-{uuid.uuid4().hex[:8]}",
            "protocol": protocol,
            "messages": MESSAGES,
            "cutEvery": CUT_EVERY,
            "streamItems": STREAM_ITEMS,
        },
    )
    assert result == {
        "got": [f"m{n}" for n in range(MESSAGES)],
        "streamed": list(range(STREAM_ITEMS)),
        "events": [],
        "whoAmI": None,
        "sameId": True,
        "state": "Connected",
    }
    # the first socket and one more per cut (the negotiate requests are counted too, when not kept alive)
    assert cutting_proxy.connections >= 1 + 1 + MESSAGES // CUT_EVERY
