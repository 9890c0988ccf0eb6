"""The sans-IO bookkeeping of stateful reconnect: sequence ids, the bounded buffer, Ack and Sequence checks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from realtime.exceptions import RemoteProtocolError
from realtime.protocol.stateful import ReceivedSequence, SentFrames


def test_sent_frames_are_numbered_from_1_and_bounded_in_bytes():
    sent = SentFrames(limit=10)
    assert sent.first_unacked_id() == 1 and sent.frame(1) is None
    assert [sent.add(frame) for frame in ("aaaa", b"bbbb")] == [1, 2]
    assert not sent.full and sent.size == 8
    assert sent.add("cc") == 3 and sent.full  # as MessageBuffer: full once the count reaches the limit
    assert [sent.frame(i) for i in (1, 2, 3, 4)] == ["aaaa", b"bbbb", "cc", None]
    sent.ack(2)
    assert sent.size == 2 and not sent.full and sent.first_unacked_id() == 3
    assert sent.frame(2) is None and sent.frame(3) == "cc"
    sent.ack(3)
    assert sent.first_unacked_id() == 4 and sent.size == 0
    sent.ack(1)  # an old Ack after a newer one changes nothing
    assert sent.first_unacked_id() == 4


@pytest.mark.parametrize("sequence_id", [-1, 3])
def test_an_ack_outside_what_was_sent_is_a_protocol_error(sequence_id):
    sent = SentFrames(limit=100)
    sent.add("a")
    sent.add("b")
    with pytest.raises(RemoteProtocolError, match=f"Ack of sequence id {sequence_id}"):
        sent.ack(sequence_id)


def test_received_messages_replayed_after_a_sequence_are_dropped_once_processed():
    received = ReceivedSequence()
    assert [received.accept() for _ in range(3)] == [True, True, True]
    assert received.ack_due and received.latest == 3
    received.acked = 3
    assert not received.ack_due
    received.reset(2)  # the peer replays from 2: 2 and 3 are duplicates, 4 is new
    assert [received.accept() for _ in range(3)] == [False, False, True]
    assert received.latest == 4 and received.ack_due


@pytest.mark.parametrize("sequence_id", [0, 5])
def test_a_sequence_that_would_leave_a_gap_is_a_protocol_error(sequence_id):
    received = ReceivedSequence()
    for _ in range(3):
        received.accept()
    with pytest.raises(RemoteProtocolError, match=f"Sequence id {sequence_id} out of range"):
        received.reset(sequence_id)
    received.reset(4)  # nothing to replay: the next new one


@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=30), st.data())
def test_any_replay_from_an_acked_point_delivers_each_message_exactly_once(batches, data):
    """Sender and receiver as the two ends of a link that drops after each batch: whatever the Acks, the receiver
    processes every message exactly once and in order."""
    sent, received, processed = SentFrames(limit=10**9), ReceivedSequence(), []
    next_message = 0
    for batch in batches:
        for _ in range(batch):
            sent.add(str(next_message))
            next_message += 1
        # the link carries a prefix of the unacknowledged frames, then drops
        first = sent.first_unacked_id()
        delivered = data.draw(st.integers(min_value=0, max_value=sent.last_id - first + 1))
        received.reset(first)
        for sequence_id in range(first, first + delivered):
            if received.accept():
                processed.append(sent.frame(sequence_id))
        if data.draw(st.booleans()):
            sent.ack(received.latest)
    received.reset(sent.first_unacked_id())  # the final reconnect replays the rest
    for sequence_id in range(sent.first_unacked_id(), sent.last_id + 1):
        if received.accept():
            processed.append(sent.frame(sequence_id))
    assert processed == [str(n) for n in range(next_message)]
