"""The OpenAPI 3.0 document of the push API, built from the table of routes it serves (so the two cannot drift).

Served at ``GET /api/openapi.json``. Errors are Azure SignalR's ``ErrorDetail``; successes have no body (as the
service answers them); ``HEAD`` answers have no body at all.
"""

from __future__ import annotations

from typing import Any

from .operations import OPERATIONS, Operation

PARAMETERS: dict[str, dict[str, Any]] = {
    "connectionId": {"description": "The connection id.", "schema": {"type": "string", "minLength": 1}},
    "user": {"description": "The user id (the hub's USER_ID_PROVIDER identifier).",
             "schema": {"type": "string", "minLength": 1}},
    "group": {"description": "The group name: 1 to 1024 characters.",
              "schema": {"type": "string", "minLength": 1, "maxLength": 1024}},
    "excluded": {"description": "Connection ids to leave out (repeat the parameter).", "style": "form",
                 "explode": True, "schema": {"type": "array", "items": {"type": "string"}}},
    "reason": {"description": "The reason the connections are closed: the error of their Close message.",
               "schema": {"type": "string"}},
    "ttl": {"description": "Seconds the user stays in the group, with the connections they open meanwhile "
            "(a year when absent, and at most; 0: only the connections of now).",
            "schema": {"type": "integer", "minimum": 0}},
    "application": {"description": "Prefixes the hub name (`{application}_{hub}`), as in Azure SignalR.",
                    "schema": {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_]*$"}},
}  # fmt: skip

SCHEMAS: dict[str, Any] = {
    "ErrorDetail": {
        "type": "object",
        "description": "The error object.",
        "properties": {
            "code": {"type": "string", "description": "One of a server-defined set of error codes."},
            "message": {"type": "string", "description": "A human-readable representation of the error."},
            "target": {"type": "string", "description": "The target of the error."},
            "details": {"type": "array", "items": {"$ref": "#/components/schemas/ErrorDetail"}},
            "inner": {"$ref": "#/components/schemas/InnerError"},
        },
    },
    "InnerError": {
        "type": "object",
        "properties": {"code": {"type": "string"}, "inner": {"$ref": "#/components/schemas/InnerError"}},
    },
    "PayloadMessage": {
        "type": "object",
        "required": ["target"],
        "properties": {
            "target": {"type": "string", "minLength": 1, "description": "The client method to call."},
            "arguments": {"type": "array", "items": {}, "description": "Its arguments, as JSON values."},
        },
    },
}


def document(hubs: list[str]) -> dict[str, Any]:
    """The OpenAPI document of the push API serving ``hubs`` (their API names)."""
    paths: dict[str, dict[str, Any]] = {}
    for operation in OPERATIONS:
        paths.setdefault(operation.path, {})[operation.method.lower()] = _operation(operation, hubs)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "django-realtime-hubs push API",
            "version": "2022-06-01",
            "description": "Azure SignalR Service's data-plane REST API (version 2022-06-01), served by Django.",
        },
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "AccessKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "HS256 with an access key; aud: the request URL without its query; exp required.",
                }
            },
        },
    }


def _operation(operation: Operation, hubs: list[str]) -> dict[str, Any]:
    parameters = [_path_parameter(name, hubs) for name in _path_names(operation.path)]
    parameters.append(
        {"name": "api-version", "in": "query", "required": True, "description": "The version of the REST APIs.",
         "schema": {"type": "string", "enum": ["2022-06-01"]}}
    )  # fmt: skip
    if operation.hub:
        parameters.append({"name": "application", "in": "query", **PARAMETERS["application"]})
    parameters += [{"name": name, "in": "query", **PARAMETERS[name]} for name in operation.query]
    head = operation.method == "HEAD"
    error: dict[str, Any] = {"description": "Error response"}
    if not head:
        error["content"] = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorDetail"}}}
    responses: dict[str, Any] = {str(operation.status): {"description": "Success"}}
    if operation.not_found:
        responses["404"] = {**error, "description": "Not Found"}
    responses["default"] = error
    found: dict[str, Any] = {
        "operationId": operation.operation_id,
        "summary": operation.summary,
        "parameters": parameters,
        "responses": responses,
    }
    if operation.hub:
        found["security"] = [{"AccessKey": []}]
    if operation.body:
        found["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PayloadMessage"}}},
        }
    return found


def _path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def _path_parameter(name: str, hubs: list[str]) -> dict[str, Any]:
    if name == "hub":
        schema = {"type": "string", "enum": hubs} if hubs else {"type": "string"}
        return {"name": "hub", "in": "path", "required": True, "description": "Target hub name.", "schema": schema}
    return {"name": name, "in": "path", "required": True, **PARAMETERS[name]}
