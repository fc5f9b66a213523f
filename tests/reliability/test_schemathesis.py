"""A bounded schemathesis run against the live OpenAPI of a real service process: generated valid and
invalid requests for every operation get no server error, and every answer matches the schema (status
codes, content types, headers, bodies).

Bounded by `MAX_EXAMPLES` per operation and generation mode, derandomised so a failure reproduces;
`-m soak` runs `SOAK_EXAMPLES`. (Hypothesis is driven directly: schemathesis's pytest plugin does not
run under this pytest.)"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from harness.models import ModelRepo
from harness.service import ServiceProcess, start_service
from tests.reliability.load import fault_line

MAX_EXAMPLES = 100
SOAK_EXAMPLES = 1000
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def service(onnx_model_repo: ModelRepo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    env = {
        "COURIER_MODEL_REPOSITORY": onnx_model_repo.root,
        "COURIER_MODEL_NAME": onnx_model_repo.name,
        "COURIER_DECODE_WORKERS": 1,
        "COURIER_FETCH_CONNECT_TIMEOUT_S": 0.3,  # generated image_url hosts lead nowhere: fail fast
        "COURIER_FETCH_TIMEOUT_S": 0.5,
    }
    server = start_service(env, tmp_path_factory.mktemp("schemathesis") / "service.log")
    yield server
    server.stop()


def fuzz(service: ServiceProcess, examples: int, name: str) -> None:
    schema = schemathesis.openapi.from_url(f"{service.url}/openapi.json")
    statuses: Counter[int] = Counter()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.definition.raw["operationId"] for op in operations} >= {
        "embed",
        "lookupEmbeddings",
        "getEmbedding",
    }
    for operation in operations:
        for mode in GenerationMode:

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=examples,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
            )
            def check(case: schemathesis.Case) -> None:
                response = case.call_and_validate(checks=CHECKS)
                statuses[response.status_code] += 1

            try:
                check()
            except Unsatisfiable:  # nothing to make invalid (an operation without parameters or body)
                assert mode is GenerationMode.NEGATIVE, operation.label
    print(
        "\n"
        + fault_line(
            name,
            requests=sum(statuses.values()),
            server_errors=sum(n for s, n in statuses.items() if s >= 500),
            statuses=dict(sorted(statuses.items())),
        )
    )
    assert not [s for s in statuses if s >= 500]


def test_bounded_schemathesis_run(service: ServiceProcess) -> None:
    fuzz(service, MAX_EXAMPLES, "schemathesis")


@pytest.mark.soak
def test_long_schemathesis_run(service: ServiceProcess) -> None:
    fuzz(service, SOAK_EXAMPLES, "schemathesis_long")
