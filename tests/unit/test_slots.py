"""Invocation slots: taken at once while free, else in arrival order; a cancelled wait neither keeps nor loses one."""

from __future__ import annotations

import asyncio

from realtime.slots import InvocationSlots, released_slot


async def held(slots: InvocationSlots, log: list[str], name: str, gate: asyncio.Event) -> None:
    await slots.admit().run(hold(log, name, gate))


async def hold(log: list[str], name: str, gate: asyncio.Event) -> None:
    log.append(f"{name} runs")
    await gate.wait()
    log.append(f"{name} ends")


async def settle() -> None:
    for _ in range(5):  # a handed-over slot wakes its waiter within a few loop turns
        await asyncio.sleep(0)


async def test_free_slots_are_taken_at_once_and_then_in_arrival_order():
    slots, log, gates = InvocationSlots(1, 10), [], {name: asyncio.Event() for name in "abc"}
    tasks = [asyncio.create_task(held(slots, log, name, gates[name])) for name in "abc"]
    await settle()
    assert (log, slots.free, slots.waiting) == (["a runs"], 0, 2)
    gates["c"].set()
    gates["a"].set()
    await settle()
    assert log == ["a runs", "a ends", "b runs"]  # b came before c
    gates["b"].set()
    await asyncio.gather(*tasks)
    assert log[-3:] == ["b ends", "c runs", "c ends"] and (slots.free, slots.waiting) == (1, 0)


async def test_a_cancelled_wait_leaves_the_queue_and_the_next_call_finds_the_slot():
    slots, log, gate = InvocationSlots(1, 10), [], asyncio.Event()
    first = asyncio.create_task(held(slots, log, "a", gate))
    await settle()
    waiting = asyncio.create_task(held(slots, log, "b", asyncio.Event()))
    await settle()
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    gate.set()
    await first
    assert (slots.free, slots.waiting) == (1, 0)
    await asyncio.wait_for(held(slots, log, "c", gate), 1)  # the cancelled turn does not stand in its way
    assert "b runs" not in log and log[-1] == "c ends"


async def test_a_slot_handed_to_a_wait_cancelled_meanwhile_goes_to_the_next():
    slots = InvocationSlots(1, 10)
    await slots.acquire()
    second, third = asyncio.create_task(slots.acquire()), asyncio.create_task(slots.acquire())
    await settle()
    slots.release()  # handed to the second, whose task has not resumed yet...
    second.cancel()  # ...and is cancelled before it does
    await asyncio.gather(second, return_exceptions=True)
    await asyncio.wait_for(third, 1)  # the third got it
    assert slots.free == 0
    slots.release()
    assert slots.free == 1


async def test_a_call_waiting_for_a_client_result_lends_its_slot():
    slots, log, gate = InvocationSlots(1, 10), [], asyncio.Event()

    async def waits_for_a_client() -> None:
        async with released_slot():
            await gate.wait()
        log.append("a ends")

    first = asyncio.create_task(slots.admit().run(waits_for_a_client()))
    await settle()
    await asyncio.wait_for(held(slots, log, "b", _set()), 1)  # runs while a waits
    gate.set()
    await first
    assert log == ["b runs", "b ends", "a ends"] and slots.free == 1


def _set() -> asyncio.Event:
    event = asyncio.Event()
    event.set()
    return event
