"""Several hub messages in one frame (``realtime.protocol.batch``): what a batch of captured changes becomes."""

from __future__ import annotations

from realtime.protocol import InvocationMessage, JsonHubProtocol, MessagePackHubProtocol
from realtime.protocol.batch import FrameBatch, join_frames

PROTOCOLS = [JsonHubProtocol(), MessagePackHubProtocol()]


def encoded(target: str) -> dict[str, str | bytes]:
    message = InvocationMessage(target=target, arguments=[{"n": target}])
    return {protocol.name: protocol.write(message) for protocol in PROTOCOLS}


def targets(protocol_name: str, frame: str | bytes | None) -> list[str]:
    assert frame is not None
    protocol = next(p for p in PROTOCOLS if p.name == protocol_name)
    return [message.target for message in protocol.decoder().feed(frame)]  # type: ignore[attr-defined]


def test_joined_frames_decode_to_every_message_in_order_for_both_protocols():
    batch = FrameBatch([(None, encoded("a")), (None, encoded("b")), (None, encoded("c"))])
    for protocol in PROTOCOLS:
        assert targets(protocol.name, batch.joined(protocol.name, None)) == ["a", "b", "c"]
        assert batch.joined(protocol.name, "u1") is batch.joined(protocol.name, "u2")  # one frame for everyone


def test_restricted_messages_reach_only_their_users_and_each_user_gets_one_frame():
    batch = FrameBatch([(None, encoded("all")), (["u1"], encoded("one")), (["u2", "u3"], encoded("two"))])
    assert batch.restricted
    assert targets("json", batch.joined("json", "u1")) == ["all", "one"]
    assert targets("messagepack", batch.joined("messagepack", "u3")) == ["all", "two"]
    assert targets("json", batch.joined("json", None)) == ["all"]
    assert [len(batch.frames("json", user)) for user in ("u1", "u2", "nobody")] == [2, 2, 1]


def test_nothing_visible_is_no_frame_and_one_frame_joins_to_itself():
    batch = FrameBatch([(["u1"], encoded("one"))])
    assert batch.joined("json", "u2") is None
    frame = encoded("x")["json"]
    assert join_frames([frame]) is frame
