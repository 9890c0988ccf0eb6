"""The durable side of stateful reconnect: what lets another process take a connection over when its owner died.

Off by default. With ``REALTIME["STATEFUL_RECONNECT_STORE"] = "realtime.resume_store.RedisResumeStore"`` (and
``REDIS_URL``), every process writes, in Redis:

* for each hub, a **log** of what was sent through the layer (``realtime:log:{hub}``, a stream kept
  ``log_retention`` seconds): the sender adds the entry before sending, so a message still in flight to a
  process that dies is not lost;
* for each stateful connection it owns, its **state** (identity, hub groups with the time it joined them,
  ``context.items``, the sequence ids sent, acknowledged and received), the **frames** it sent and the client
  did not acknowledge yet (each with its sequence id and the log entry it came from), and the **calls** still
  running. A frame is written before it goes to the socket, and what the client sent is recorded before it is
  handled, so a process taking over knows exactly what the client has and what it did.

Every write of an owner checks that it still owns the connection (a process that another one took over from
is told so, and lets the connection go). Writes are pipelined: the writes of one turn of the event loop (a
broadcast to many connections) share one round trip.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgpack

from . import loops
from .conf import realtime_settings
from .loops import PerLoop
from .protocol.base import Frame
from .redis_client import LoopClients

logger = logging.getLogger("realtime.resume")

PREFIX = "realtime:resume:"
LOG_PREFIX = "realtime:log:"

_KEEP = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
redis.call('XADD', KEYS[2], ARGV[2] .. '-1', 'f', ARGV[3], 'l', ARGV[4], 't', ARGV[6])
redis.call('HSET', KEYS[1], 'sent', ARGV[2])
if ARGV[5] ~= '' then redis.call('SREM', KEYS[3], ARGV[5]) end
return 1
"""
_RECEIVED = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'recv', ARGV[2])
if ARGV[3] ~= '' then redis.call('SADD', KEYS[2], ARGV[3]) end
return 1
"""
_SET = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
if ARGV[4] ~= '' then redis.call('XTRIM', KEYS[2], 'MINID', ARGV[4] .. '-0') end
return 1
"""
_TAKE = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return nil end
redis.call('HSET', KEYS[1], 'owner', ARGV[2])
return {redis.call('HGETALL', KEYS[1]), redis.call('XRANGE', KEYS[2], '-', '+'), redis.call('SMEMBERS', KEYS[3])}
"""


_SCRIPTS = {"keep": _KEEP, "received": _RECEIVED, "set": _SET, "take": _TAKE}


def _keys(token: str) -> list[str]:
    tag = f"{PREFIX}{{{token}}}"  # one hash slot per connection (Redis Cluster)
    return [tag, f"{tag}:frames", f"{tag}:calls"]


@dataclass
class Snapshot:
    """What the owner of a connection left in the store: enough to go on with it elsewhere."""

    connection_id: str
    hub: str
    user_id: str | None
    protocol: str
    sent: int
    """The sequence id of the last frame sent."""
    acked: int
    received: int
    """The sequence id of the last message of the client that was handled."""
    groups: dict[str, float]
    """The layer group of each hub group it was in, and when it joined (UNIX time)."""
    items: bytes
    since: float
    """When the connection began (UNIX time)."""
    frames: list[tuple[int, Frame, str]] = field(default_factory=list)
    """The frames kept: sequence id, frame, log entry id (``""`` for frames that did not come from the log)."""
    calls: list[str] = field(default_factory=list)
    """Invocation ids of the calls that were running."""


@dataclass(frozen=True)
class LogEntry:
    """One send through the layer: its layer groups, the connection ids it excluded, its frame per protocol."""

    id: str
    groups: list[str]
    exclude: list[str]
    frames: dict[str, Frame]

    @property
    def time(self) -> float:
        """When it was logged (UNIX time, the Redis clock)."""
        return int(self.id.split("-")[0]) / 1000


class _Pipeline:
    """Commands of one event-loop turn sent together; each caller awaits its own result."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.scripts = {name: client.register_script(text) for name, text in _SCRIPTS.items()}
        self._queued: list[tuple[Callable[[Any], Any], asyncio.Future[Any]]] = []
        self._flushing: set[asyncio.Task[None]] = set()

    def call(self, method: str, *args: Any, **kwargs: Any) -> asyncio.Future[Any]:
        """Queue ``method`` of the pipeline; its result (or exception) when the turn's pipeline ran."""
        return self.queue(lambda pipe: getattr(pipe, method)(*args, **kwargs))

    def script(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> asyncio.Future[Any]:
        """Queue script ``name`` (EVALSHA, loaded once)."""
        script = self.scripts[name]

        def add(pipe: Any) -> None:
            pipe.scripts.add(script)  # loaded at execute() if Redis does not know it (what Script.__call__ does)
            pipe.evalsha(script.sha, len(keys), *keys, *args)

        return self.queue(add)

    def queue(self, add: Callable[[Any], Any]) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if not self._queued:
            asyncio.get_running_loop().call_soon(self._start_flush)
        self._queued.append((add, future))
        return future

    def _start_flush(self) -> None:
        task = asyncio.ensure_future(self._flush())
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def _flush(self) -> None:
        queued, self._queued = self._queued, []
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for add, _ in queued:
                    add(pipe)
                results = await pipe.execute(raise_on_error=False)
        except Exception as exc:  # the connection to Redis failed: every caller of this turn fails
            results = [exc] * len(queued)
        if len(results) != len(queued):  # a command could not be queued: fail them all rather than pair them wrong
            results = [RuntimeError("the Redis pipeline of the resume store lost a command")] * len(queued)
        for (_, future), result in zip(queued, results, strict=True):
            if not future.done():
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)


class RedisResumeStore:
    """Stateful-reconnect state in the Redis every process shares (``REDIS_URL``)."""

    def __init__(self) -> None:
        self._clients = LoopClients("RedisResumeStore", decode=False)
        self._pipelines: dict[Any, _Pipeline] = {}

    @property
    def retention(self) -> float:
        """Seconds a connection's state and the log outlive their last write: the client's silence before it
        notices the loss, its reconnect window, and a margin."""
        return float(realtime_settings.CLIENT_TIMEOUT) + float(realtime_settings.DISCONNECT_TIMEOUT) + 30.0

    def _pipe(self) -> _Pipeline:
        client = self._clients.get()
        found = self._pipelines.get(client)
        if found is None:
            found = self._pipelines[client] = _Pipeline(client)
        return found

    async def _eval(self, script: str, keys: Sequence[str], *args: Any) -> Any:
        return await self._pipe().script(script, keys, args)

    # -- the owner ----------------------------------------------------------------------------------

    async def grant(self, token: str, owner: str, fields: Mapping[str, Any]) -> None:
        """Start the state of a connection granted stateful reconnect, owned by process channel ``owner``."""
        state, frames, calls = _keys(token)
        ttl = int(self.retention * 1000)
        mapping = {"owner": owner, "sent": 0, "acked": 0, "recv": 0, "groups": "{}", "items": b"", "since": time.time()}
        mapping.update(fields)
        await asyncio.gather(
            self._pipe().call("delete", state, frames, calls),
            self._pipe().call("hset", state, mapping=mapping),
            self._pipe().call("pexpire", state, ttl),
        )

    async def keep(self, token: str, owner: str, sequence_id: int, frame: Frame, log: str, done_call: str) -> bool:
        """Keep a frame about to be sent (and forget ``done_call``, a call its Completion ends); ``False`` when
        ``owner`` no longer owns the connection."""
        now = str(int(time.time() * 1000))
        return bool(await self._eval("keep", _keys(token), owner, sequence_id, frame, log, done_call, now))

    async def received(self, token: str, owner: str, sequence_id: int, call: str) -> bool:
        """Record that the client's message ``sequence_id`` is handled now (``call``: the invocation it starts)."""
        state, _, calls = _keys(token)
        return bool(await self._eval("received", [state, calls], owner, sequence_id, call))

    async def acked(self, token: str, owner: str, sequence_id: int, trim_below: int) -> bool:
        """The client acknowledged ``sequence_id``; frames below ``trim_below`` (0: none) may go."""
        state, frames, _ = _keys(token)
        trim = str(trim_below) if trim_below > 0 else ""
        return bool(await self._eval("set", [state, frames], owner, "acked", sequence_id, trim))

    async def set(self, token: str, owner: str, name: str, value: str | bytes) -> bool:
        """Set field ``groups`` (JSON) or ``items`` (pickled) of the state."""
        state, frames, _ = _keys(token)
        return bool(await self._eval("set", [state, frames], owner, name, value, ""))

    async def refresh(self, tokens: Sequence[str]) -> None:
        """Keep the state of the connections this process owns for another :attr:`retention` seconds."""
        ttl = int(self.retention * 1000)
        await asyncio.gather(*(self._pipe().call("pexpire", key, ttl) for token in tokens for key in _keys(token)))

    async def forget(self, token: str) -> None:
        """The connection ended: drop its state."""
        await self._pipe().call("delete", *_keys(token))

    # -- taking over --------------------------------------------------------------------------------

    async def take(self, token: str, old_owner: str, new_owner: str) -> Snapshot | None:
        """Become the owner of ``token``'s connection if ``old_owner`` still is; its snapshot, else ``None``."""
        found = await self._eval("take", _keys(token), old_owner, new_owner)
        if not found:
            return None
        flat, frames, calls = found
        state = {key.decode(): value for key, value in zip(flat[::2], flat[1::2], strict=True)}
        binary = state["proto"] != b"json"
        return Snapshot(
            connection_id=state["cid"].decode(),
            hub=state["hub"].decode(),
            user_id=state["uid"].decode() or None,
            protocol=state["proto"].decode(),
            sent=int(state["sent"]),
            acked=int(state["acked"]),
            received=int(state["recv"]),
            groups=json.loads(state["groups"]),
            items=state["items"],
            since=float(state["since"]),
            frames=[_kept(entry_id, dict(zip(raw[::2], raw[1::2], strict=True)), binary) for entry_id, raw in frames],
            calls=sorted(call.decode() for call in calls),
        )

    # -- the log ------------------------------------------------------------------------------------

    async def log(self, hub: str, groups: Sequence[str], exclude: Sequence[str], frames: Mapping[str, Frame]) -> str:
        """Add a send to ``hub``'s log (before it goes through the layer); its entry id."""
        horizon = f"{int((time.time() - self.retention) * 1000)}-0"
        fields = {"g": json.dumps(list(groups)), "x": json.dumps(list(exclude)), "f": msgpack.packb(dict(frames))}
        entry_id = await self._pipe().call("xadd", LOG_PREFIX + hub, fields, minid=horizon, approximate=True)
        return entry_id.decode()

    async def log_since(self, hub: str, since: float) -> list[LogEntry]:
        """``hub``'s log entries from UNIX time ``since`` on, oldest first."""
        entries = await self._pipe().call("xrange", LOG_PREFIX + hub, f"{int(since * 1000)}-0", "+")
        return [
            LogEntry(
                entry_id.decode(),
                json.loads(fields[b"g"]),
                json.loads(fields[b"x"]),
                msgpack.unpackb(fields[b"f"], raw=False),
            )
            for entry_id, fields in entries
        ]


class _Owned:
    """The durable connections this process owns: their state is refreshed before it would expire."""

    def __init__(self) -> None:
        self._tokens: PerLoop[set[str]] = PerLoop(set)

    def own(self, token: str) -> None:
        self._tokens.get().add(token)
        loops.services().start("resume-refresh", self._refresh)

    def disown(self, token: str) -> None:
        tokens = self._tokens.current()
        if tokens is not None:
            tokens.discard(token)

    async def _refresh(self) -> None:
        while True:
            store = resume_store()
            await asyncio.sleep(store.retention / 3 if store is not None else 10.0)
            tokens = self._tokens.get()
            if store is not None and tokens:
                try:
                    await store.refresh(list(tokens))
                except Exception:
                    logger.exception("realtime: refreshing the durable stateful-reconnect state failed; will retry")


durable = _Owned()
"""The durable connections of this process (:meth:`_Owned.own` at the grant, :meth:`_Owned.disown` at the end)."""


def _kept(entry_id: bytes, fields: dict[bytes, bytes], binary: bool) -> tuple[int, Frame, str]:
    """A frame of a connection's stream (XRANGE through a script: fields as a flat list): id, frame, log entry."""
    frame = fields[b"f"] if binary else fields[b"f"].decode()
    return int(entry_id.split(b"-")[0]), frame, fields[b"l"].decode()


def resume_store() -> RedisResumeStore | None:
    """The configured store (``STATEFUL_RECONNECT_STORE``), or ``None`` when connections cannot outlive their owner."""
    backend = realtime_settings.STATEFUL_RECONNECT_STORE
    if backend is None:
        return None
    global _store
    if not isinstance(_store, backend):
        _store = backend()
    return _store


_store: Any = None
