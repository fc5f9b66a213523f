"""Request and response bodies of the API (DESIGN §6), with the examples shown at /docs."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

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


class ModelInfo(BaseModel):
    name: str
    version: str
    dim: int | None


class ErrorDetail(BaseModel):
    code: str = Field(examples=["image_decode_error"])
    message: str


class ItemEmbedding(BaseModel):
    item_id: str
    embedding: list[float] | str
    cached: bool


class ItemFailure(BaseModel):
    item_id: str
    error: ErrorDetail


class EmbedResponse(BaseModel):
    model: ModelInfo
    data: list[ItemEmbedding | ItemFailure]


class LookupRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"item_ids": ["sku-123", "sku-456"], "encoding": "float"}]},
    )

    item_ids: list[ItemId] = Field(min_length=1)
    encoding: Encoding = "float"


class LookupEmbedding(BaseModel):
    item_id: str
    embedding: list[float] | str


class LookupResponse(BaseModel):
    model: ModelInfo
    data: list[LookupEmbedding]
    missing: list[str]


class ErrorResponse(BaseModel):
    error: ErrorDetail
