"""What each route of the push API does, through the hub context, and the table of routes (Azure SignalR Service's
data-plane REST API, version 2022-06-01). ``realtime.push_api.app`` serves the table, ``.openapi`` describes it.

Existence (a connection, a user's connections, a group's members) is read from presence, across processes;
sends, closes and group changes go through the hub context, so they reach every process and transport.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..context import HubContext
from ..exceptions import BroadcastError, GroupError
from ..presence import PresenceError
from ..protocol.base import Frame
from ..user_groups import YEAR
from .errors import ApiError, bad_request, not_found

MAX_GROUP_NAME = 1024
"""Characters a group name may have (Azure SignalR: more than 0, less than 1025)."""


@dataclass(slots=True)
class Call:
    """One request to an operation: the hub's context, the path parameters, the query and the encoded message."""

    context: HubContext
    params: dict[str, str]
    query: dict[str, list[str]]
    frames: dict[str, Frame] | None = None

    def value(self, name: str) -> str | None:
        """The last value of query parameter ``name``, or ``None``."""
        values = self.query.get(name)
        return values[-1] if values else None

    @property
    def reason(self) -> str | None:
        """The ``reason`` query parameter (``None`` when absent or empty): the error of the Close message."""
        return self.value("reason") or None

    @property
    def excluded(self) -> list[str]:
        """The connection ids of the ``excluded`` query parameter (repeated, as Azure's SDKs send it)."""
        return [value for value in self.query.get("excluded", []) if value]

    @property
    def group(self) -> str:
        """The ``{group}`` path parameter, checked (1 to 1024 characters)."""
        group = self.params["group"]
        if len(group) > MAX_GROUP_NAME:
            raise bad_request(f"Group names have at most {MAX_GROUP_NAME} characters.", target="group")
        return group


Handler = Callable[[Call], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Operation:
    """One route: its method and path template, what it answers, the query parameters and body it takes."""

    method: str
    path: str
    operation_id: str
    summary: str
    handler: Handler
    status: int
    query: tuple[str, ...] = ()
    body: bool = False
    not_found: bool = False
    """Whether it answers 404 for an unknown connection, user or group (besides an unknown hub)."""
    hub: bool = True
    """Whether it addresses a hub (and needs a token); only health does not."""


async def _connected(call: Call) -> str:
    """The ``{connectionId}``, or 404 unless it is connected to the hub now."""
    connection_id = call.params["connectionId"]
    if not await call.context.presence.is_connected(connection_id):
        raise not_found("ConnectionNotFound", f"No connection {connection_id!r} in this hub.", target="connectionId")
    return connection_id


def _frames(call: Call) -> dict[str, Frame]:
    assert call.frames is not None, "a send route reads its body"
    return call.frames


async def health(call: Call) -> None:
    """Nothing to do: the server answers (the app answers it without a call)."""


async def send_to_hub(call: Call) -> None:
    await call.context.clients.all.excluding(call.excluded).asend_frames(_frames(call))


async def send_to_user(call: Call) -> None:
    await call.context.clients.user(call.params["user"]).asend_frames(_frames(call))


async def send_to_group(call: Call) -> None:
    await call.context.clients.group(call.group).excluding(call.excluded).asend_frames(_frames(call))


async def send_to_connection(call: Call) -> None:
    await call.context.clients.clients([call.params["connectionId"]]).asend_frames(_frames(call))


async def connection_exists(call: Call) -> None:
    await _connected(call)


async def close_connection(call: Call) -> None:
    await call.context.clients.client(await _connected(call)).aclose(call.reason)


async def group_exists(call: Call) -> None:
    if await call.context.presence.count(call.group) == 0:
        raise not_found("GroupNotFound", f"No connection in group {call.group!r}.", target="group")


async def user_exists(call: Call) -> None:
    if not await call.context.presence.is_online(call.params["user"]):
        raise not_found("UserNotFound", f"No connection of user {call.params['user']!r}.", target="user")


async def add_to_group(call: Call) -> None:
    group = call.group
    await call.context.groups.add(await _connected(call), group)


async def remove_from_group(call: Call) -> None:
    group = call.group
    await call.context.groups.remove(await _connected(call), group)


async def remove_from_all_groups(call: Call) -> None:
    await call.context.groups.remove_from_all(await _connected(call))


async def user_in_group(call: Call) -> None:
    if call.group not in await call.context.groups.user_groups(call.params["user"]):
        raise not_found("UserNotInGroup", f"User {call.params['user']!r} is not in this group.", target="group")


async def add_user_to_group(call: Call) -> None:
    await call.context.groups.add_user(call.params["user"], call.group, ttl=_ttl(call.value("ttl")))


async def remove_user_from_group(call: Call) -> None:
    await call.context.groups.remove_user(call.params["user"], call.group)


async def remove_user_from_all_groups(call: Call) -> None:
    await call.context.groups.remove_user_from_all(call.params["user"])


async def close_hub_connections(call: Call) -> None:
    await call.context.clients.all.excluding(call.excluded).aclose(call.reason)


async def close_group_connections(call: Call) -> None:
    await call.context.clients.group(call.group).excluding(call.excluded).aclose(call.reason)


async def close_user_connections(call: Call) -> None:
    await call.context.clients.user(call.params["user"]).excluding(call.excluded).aclose(call.reason)


def _ttl(text: str | None) -> float | None:
    """The ``ttl`` query parameter: whole seconds, 0 or more; more than a year counts as a year."""
    if text is None:
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 100:
        raise bad_request(f"ttl must be a whole number of seconds (0 or more), not {text!r}.", target="ttl")
    return min(int(text), YEAR)


async def run(operation: Operation, call: Call) -> None:
    """Run ``operation``'s handler, turning the errors of the hub context into API errors."""
    try:
        await operation.handler(call)
    except (GroupError, PresenceError) as exc:
        raise bad_request(str(exc)) from None
    except LookupError as exc:
        if type(exc) is not LookupError:  # KeyError, IndexError: a failure, not a connection that went away
            raise
        raise not_found("ConnectionNotFound", str(exc), target="connectionId") from None
    except (BroadcastError, TimeoutError, ConnectionError) as exc:
        raise ApiError(503, "ServiceUnavailable", f"The channel layer or a store failed: {exc}") from None


HUB = "/api/hubs/{hub}"
SEND = ("excluded",)
CLOSE = ("excluded", "reason")
OPERATIONS: list[Operation] = [
    Operation("HEAD", "/api/health", "HealthApi_GetHealthStatus", "Get service health status.", health, 200,
              hub=False),
    Operation("POST", f"{HUB}/:closeConnections", "WebSocketConnectionApi_CloseConnections",
              "Close all of the connections in the hub.", close_hub_connections, 204, CLOSE),
    Operation("POST", f"{HUB}/:send", "WebSocketConnectionApi_Broadcast",
              "Broadcast a message to all clients connected to target hub.", send_to_hub, 202, SEND, body=True),
    Operation("HEAD", f"{HUB}/connections/{{connectionId}}", "WebSocketConnectionApi_CheckConnectionExistence",
              "Check if the connection with the given connectionId exists.", connection_exists, 200, not_found=True),
    Operation("DELETE", f"{HUB}/connections/{{connectionId}}", "WebSocketConnectionApi_CloseConnection",
              "Close the client connection.", close_connection, 200, ("reason",), not_found=True),
    Operation("POST", f"{HUB}/connections/{{connectionId}}/:send", "WebSocketConnectionApi_SendToConnection",
              "Send message to the specific connection.", send_to_connection, 202, body=True),
    Operation("HEAD", f"{HUB}/groups/{{group}}", "WebSocketConnectionApi_CheckGroupExistence",
              "Check if there are any client connections inside the given group.", group_exists, 200,
              not_found=True),
    Operation("POST", f"{HUB}/groups/{{group}}/:closeConnections", "WebSocketConnectionApi_CloseGroupConnections",
              "Close connections in the specific group.", close_group_connections, 204, CLOSE),
    Operation("POST", f"{HUB}/groups/{{group}}/:send", "WebSocketConnectionApi_GroupBroadcast",
              "Broadcast a message to all clients within the target group.", send_to_group, 202, SEND, body=True),
    Operation("PUT", f"{HUB}/groups/{{group}}/connections/{{connectionId}}",
              "WebSocketConnectionApi_AddConnectionToGroup", "Add a connection to the target group.", add_to_group,
              200, not_found=True),
    Operation("DELETE", f"{HUB}/groups/{{group}}/connections/{{connectionId}}",
              "WebSocketConnectionApi_RemoveConnectionFromGroup", "Remove a connection from the target group.",
              remove_from_group, 200, not_found=True),
    Operation("DELETE", f"{HUB}/connections/{{connectionId}}/groups",
              "WebSocketConnectionApi_RemoveConnectionFromAllGroups", "Remove a connection from all groups.",
              remove_from_all_groups, 200, not_found=True),
    Operation("HEAD", f"{HUB}/users/{{user}}", "WebSocketConnectionApi_CheckUserExistence",
              "Check if there are any client connections connected for the given user.", user_exists, 200,
              not_found=True),
    Operation("POST", f"{HUB}/users/{{user}}/:closeConnections", "WebSocketConnectionApi_CloseUserConnections",
              "Close connections for the specific user.", close_user_connections, 204, CLOSE),
    Operation("POST", f"{HUB}/users/{{user}}/:send", "WebSocketConnectionApi_SendToUser",
              "Broadcast a message to all clients belong to the target user.", send_to_user, 202, body=True),
    Operation("HEAD", f"{HUB}/users/{{user}}/groups/{{group}}", "WebSocketConnectionApi_CheckUserExistenceInGroup",
              "Check whether a user exists in the target group.", user_in_group, 200, not_found=True),
    Operation("PUT", f"{HUB}/users/{{user}}/groups/{{group}}", "WebSocketConnectionApi_AddUserToGroup",
              "Add a user to the target group.", add_user_to_group, 200, ("ttl",)),
    Operation("DELETE", f"{HUB}/users/{{user}}/groups/{{group}}", "WebSocketConnectionApi_RemoveUserFromGroup",
              "Remove a user from the target group.", remove_user_from_group, 204),
    Operation("DELETE", f"{HUB}/users/{{user}}/groups", "WebSocketConnectionApi_RemoveUserFromAllGroups",
              "Remove a user from all groups.", remove_user_from_all_groups, 204),
]  # fmt: skip
