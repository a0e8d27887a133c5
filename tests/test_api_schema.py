"""Schemathesis against the API's own OpenAPI document, through WSGI, with a valid key:
no 5xx for anything it generates, and every answer matches the document."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from leadform.core import apikeys, audit

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Bounded so the whole run stays well under 30 s (about 10 s on SQLite on a quiet machine).
EXAMPLES = {GenerationMode.POSITIVE: 40, GenerationMode.NEGATIVE: 40}


@pytest.fixture
def api_key(db) -> str:
    _key, presented = apikeys.create_key(db, "schemathesis", [], audit.Actor(via="cli"))
    db.commit()
    return presented


def test_generated_requests_get_no_5xx_and_answers_match_the_document(app, api_key):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    headers = {"Authorization": f"Bearer {api_key}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.label for op in operations} >= {"POST /leads", "GET /programs"}
    statuses: set[int] = set()
    for operation in operations:
        for mode, examples in EXAMPLES.items():
            if mode is GenerationMode.NEGATIVE and not operation.body:
                continue  # nothing to make invalid in a GET without parameters

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=examples,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def check(case) -> None:
                response = case.call(headers=headers)
                statuses.add(response.status_code)
                case.validate_response(response, checks=CHECKS, headers=headers)

            check()
        # The document's own examples: a valid lead (201, then 200 merged) among them.
        for strategy in schema.get_strategies_from_examples(operation):

            @given(case=strategy)
            @settings(
                max_examples=5,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def example(case) -> None:
                response = case.call(headers=headers)
                statuses.add(response.status_code)
                case.validate_response(response, checks=CHECKS, headers=headers)

            example()
    assert {200, 201, 422} <= statuses
