"""The OpenAPI document is an interface: a committed snapshot (docs/openapi.json) catches every change.

After an intended API change, refresh the snapshot and review its diff:

    COURIER_UPDATE_OPENAPI=1 .venv/bin/python -m pytest -q tests/service/api/test_openapi.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from courier_core.errors import ItemCode, RequestCode
from service.app import create_app
from tests.fixtures.service_app import app_settings

SNAPSHOT = Path(__file__).resolve().parents[3] / "docs" / "openapi.json"


@pytest.fixture(scope="module")
def spec() -> dict:
    return create_app(app_settings()).openapi()


def test_openapi_matches_the_committed_snapshot(spec: dict) -> None:
    text = json.dumps(spec, indent=2, sort_keys=True) + "\n"
    if os.environ.get("COURIER_UPDATE_OPENAPI") == "1":
        SNAPSHOT.write_text(text)
    assert SNAPSHOT.is_file(), f"no snapshot: run with COURIER_UPDATE_OPENAPI=1 to write {SNAPSHOT}"
    assert json.loads(SNAPSHOT.read_text()) == json.loads(text), (
        "the API changed: if intended, refresh docs/openapi.json (see this module's docstring)"
    )


def test_operations_have_stable_ids_for_generated_clients(spec: dict) -> None:
    ids = {
        (method, path): operation["operationId"]
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
    }
    assert ids == {
        ("post", "/embed"): "embed",
        ("post", "/embeddings:lookup"): "lookupEmbeddings",
        ("get", "/embeddings/{item_id}"): "getEmbedding",
        ("get", "/healthz"): "healthz",
        ("get", "/readyz"): "readyz",
        ("get", "/metrics"): "metrics",
    }


def test_api_keys_error_codes_readiness_and_metrics_are_declared(spec: dict) -> None:
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "an API key from COURIER_API_KEYS",
    }
    assert schemes["apiKeyAuth"]["in"] == "header" and schemes["apiKeyAuth"]["name"] == "X-API-Key"
    for path in ("/embed", "/embeddings:lookup", "/embeddings/{item_id}"):
        operation = next(iter(spec["paths"][path].values()))
        assert operation["security"] == [{"bearerAuth": []}, {"apiKeyAuth": []}]  # either one
    for path in ("/healthz", "/readyz", "/metrics"):
        assert "security" not in spec["paths"][path]["get"]

    schemas = spec["components"]["schemas"]
    assert schemas["ItemCode"]["enum"] == [code.value for code in ItemCode]
    assert schemas["RequestCode"]["enum"] == [code.value for code in RequestCode]
    assert schemas["ItemErrorDetail"]["properties"]["code"] == {"$ref": "#/components/schemas/ItemCode"}

    embed = spec["paths"]["/embed"]["post"]["responses"]
    assert set(embed) == {"200", "401", "413", "422", "429", "503"}
    assert "Retry-After" in embed["429"]["headers"]
    readyz = spec["paths"]["/readyz"]["get"]["responses"]
    assert readyz["503"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Readiness"
    }
    metrics = spec["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(metrics) == ["text/plain"]
