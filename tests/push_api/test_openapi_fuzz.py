"""Schemathesis fuzzes every route of the push API's own OpenAPI document against a real server (the conformance
server under uvicorn): no answer is a server error, and every answer matches the document (status, content
type, ErrorDetail body). Each request is signed for the URL it is sent to, as an SDK signs it."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation import GenerationMode

from realtime.push_api import sign_token
from realtime.push_api.operations import OPERATIONS
from tests.servers import Server, conformance_server

pytestmark = pytest.mark.timeout(600)

ACCESS_KEY = "conformance-access-key-0123456789abcdef0123456789"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


class SignedForItsUrl(requests.auth.AuthBase):
    """``Authorization: Bearer`` with ``aud`` the prepared request's URL without its query."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        parts = urlsplit(str(request.url))
        request.headers["Authorization"] = "Bearer " + sign_token(
            ACCESS_KEY, f"{parts.scheme}://{parts.netloc}{parts.path}"
        )
        return request


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with conformance_server("uvicorn") as running:
        yield running


@pytest.fixture(scope="module")
def api_schema(server: Server) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{server.url}/api/openapi.json")


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda mode: mode.value)
@pytest.mark.parametrize("operation_id", [operation.operation_id for operation in OPERATIONS])
def test_every_route_answers_as_documented(
    api_schema: schemathesis.BaseSchema, server: Server, operation_id: str, mode: GenerationMode
) -> None:
    operation = api_schema.find_operation_by_id(operation_id)

    @given(operation.as_strategy(generation_mode=mode))
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    def answers_as_documented(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=server.url, checks=CHECKS, auth=SignedForItsUrl(), timeout=10)

    answers_as_documented()


def test_the_document_lists_every_route_of_the_api(api_schema: schemathesis.BaseSchema) -> None:
    operations = {(result.ok().method.upper(), result.ok().path) for result in api_schema.get_all_operations()}
    assert operations == {(operation.method, operation.path) for operation in OPERATIONS}
