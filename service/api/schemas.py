"""Request and response bodies of the API, with the examples shown at /docs. Routes declare them as
`response_model`s, so every response is checked against them and the OpenAPI schema is exact."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from courier_core.errors import ItemCode, RequestCode

_PNG_1X1 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"

Encoding = Literal["float", "base64"]
ItemId = str


class EmbedItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_id: ItemId = Field(min_length=1, max_length=512, examples=["sku-123"])
    image_b64: str | None = Field(None, description="image bytes (JPEG, PNG, WebP, ...) in base64")
    image_url: str | None = Field(None, description="https URL the service downloads (SSRF-checked)")

    @model_validator(mode="after")
    def _one_source(self) -> EmbedItem:
        if (self.image_b64 is None) == (self.image_url is None):
            raise ValueError("give exactly one of image_b64 or image_url")
        return self


class EmbedRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {"item_id": "sku-123", "image_b64": _PNG_1X1},
                        {"item_id": "sku-456", "image_url": "https://example.com/sku-456.jpg"},
                    ],
                    "refresh": False,
                    "encoding": "float",
                }
            ]
        },
    )

    items: list[EmbedItem] = Field(min_length=1)
    refresh: bool = Field(False, description="recompute and overwrite cached vectors")
    encoding: Encoding = Field("float", description="base64: little-endian float32 bytes, as in the cache")


Embedding = list[float] | str  # float: the vector; base64: its little-endian float32 bytes


class ModelInfo(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    version: str
    dim: int | None = Field(description="null for another version when no vector of it was found")


class ItemErrorDetail(BaseModel):
    code: ItemCode
    message: str


class EmbeddedItem(BaseModel):
    item_id: str
    embedding: Embedding
    cached: bool


class FailedItem(BaseModel):
    item_id: str
    error: ItemErrorDetail


class EmbedResponse(BaseModel):
    model: ModelInfo
    data: list[EmbeddedItem | FailedItem] = Field(
        description="one entry per requested item, in request order"
    )


class LookupRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"item_ids": ["sku-123", "sku-456"], "encoding": "float"}]},
    )

    item_ids: list[ItemId] = Field(min_length=1)
    encoding: Encoding = "float"


class LookupEmbedding(BaseModel):
    item_id: str
    embedding: Embedding


class LookupResponse(BaseModel):
    model: ModelInfo
    data: list[LookupEmbedding]
    missing: list[str]


class ItemEmbeddingResponse(BaseModel):
    item_id: str
    embedding: Embedding
    model: ModelInfo


class CacheStatus(BaseModel):
    kind: str | None = Field(examples=["redis"], description="memory or redis; null before start-up")
    available: bool


class Readiness(BaseModel):
    status: Literal["ready", "degraded", "not_ready", "draining"]
    checks: dict[str, bool]
    cache: CacheStatus
    provider: str | None
    model: ModelInfo | None
    queue_items: int
    detail: str | None = None


class Liveness(BaseModel):
    status: Literal["ok"] = "ok"


class RequestErrorDetail(BaseModel):
    code: RequestCode
    message: str


class ErrorResponse(BaseModel):
    error: RequestErrorDetail
