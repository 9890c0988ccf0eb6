"""How a process hands a batch of captured changes to its connections (``LocalTable.deliver_changes``): one frame
per connection with every change it may see, shared by the connections that see the same; a resumable
connection one frame per change; an event id delivered to a group once."""

from __future__ import annotations

from typing import Any

from realtime.connection import State
from realtime.local import LocalTable
from realtime.protocol import InvocationMessage, JsonHubProtocol, MessagePackHubProtocol

GROUP = "realtime.g.test"
PROTOCOLS = {p.name: p for p in (JsonHubProtocol(), MessagePackHubProtocol())}


class FakeConnection:
    """What ``deliver_changes`` reads of a connection, and the frames it queued."""

    def __init__(self, user: str | None, protocol: str = "json", *, resumable: bool = False) -> None:
        self.user_id = user
        self.protocol = PROTOCOLS[protocol]
        self.state = State.CONNECTED
        self.resume = object() if resumable else None
        self.connection_id = f"{user}-{protocol}-{resumable}"
        self.frames: list[Any] = []

    def enqueue_frame(self, frame: Any) -> None:
        self.frames.append(frame)

    def received(self) -> list[list[str]]:
        """The targets of each frame's messages."""
        return [[m.target for m in self.protocol.decoder().feed(frame)] for frame in self.frames]  # type: ignore[attr-defined]


def change(event_id: int, users: list[str] | None) -> list[Any]:
    message = InvocationMessage(target=f"c{event_id}", arguments=[event_id])
    return [event_id, users, {name: protocol.write(message) for name, protocol in PROTOCOLS.items()}]


def table_of(*connections: FakeConnection) -> LocalTable:
    table = LocalTable()
    table.members[GROUP] = set(connections)  # type: ignore[arg-type]
    return table


def test_each_connection_gets_one_frame_of_what_it_may_see_and_the_same_frame_is_shared():
    alice, bob, anonymous = FakeConnection("alice"), FakeConnection("bob"), FakeConnection(None)
    alice_too, packed = FakeConnection("alice"), FakeConnection("bob", "messagepack")
    table = table_of(alice, bob, anonymous, alice_too, packed)
    assert table.deliver_changes(GROUP, [change(1, None), change(2, ["alice"]), change(3, None)]) == 5
    assert alice.received() == [["c1", "c2", "c3"]]
    assert bob.received() == anonymous.received() == [["c1", "c3"]]
    assert packed.received() == [["c1", "c3"]]
    assert alice.frames[0] is alice_too.frames[0]  # joined once per protocol and user


def test_a_group_without_audience_shares_one_frame_per_protocol():
    members = [FakeConnection(user) for user in ("a", "b", None)]
    table_of(*members).deliver_changes(GROUP, [change(1, None), change(2, None)])
    assert len({id(member.frames[0]) for member in members}) == 1


def test_a_resumable_connection_gets_one_frame_per_change():
    resumable = FakeConnection("alice", resumable=True)
    table_of(resumable).deliver_changes(GROUP, [change(1, None), change(2, ["bob"]), change(3, ["alice"])])
    assert resumable.received() == [["c1"], ["c3"]]


def test_an_event_id_reaches_a_group_once():
    member = FakeConnection("alice")
    table = table_of(member)
    assert table.deliver_changes(GROUP, [change(1, None), change(2, None)]) == 1
    assert table.deliver_changes(GROUP, [change(1, None), change(2, None)]) == 0  # a new leader sends them again
    table.deliver_changes(GROUP, [change(2, None), change(3, None)])
    assert member.received() == [["c1", "c2"], ["c3"]]
