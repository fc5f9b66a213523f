"""All service settings in one class, read from `COURIER_*` environment variables (plus plain REDIS_URL).

Validated at start-up so that a bad value stops the process with a message naming the variable
(`problems`); `settings_table` lists every variable with its default for `python -m service --help`.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from courier_core.cache_keys import DEFAULT_TTL_SECONDS
from courier_core.images import DEFAULT_MAX_PIXELS

CommaList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    """Every knob of the service; the defaults are those of docs/design.md, "Service API"."""

    model_config = SettingsConfigDict(env_prefix="COURIER_", extra="ignore", protected_namespaces=())

    model_repository: Path = Field(description="model repository root (or a model/version directory)")
    model_name: str | None = Field(None, description="model name inside the repository")
    model_version: str | None = Field(None, description="pinned version; unset serves `latest`")
    host: str = Field("127.0.0.1", description="address to listen on (0.0.0.0: every interface)")
    port: int = Field(8000, ge=0, le=65535, description="TCP port to listen on")
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="debug also prints the traceback of a start-up error"
    )

    redis_url: str | None = Field(
        None,
        validation_alias=AliasChoices("REDIS_URL", "COURIER_REDIS_URL"),
        description="unset: in-process LRU cache; set: Redis",
    )
    redis_mode: Literal["standalone", "cluster"] = Field(
        "standalone", description="cluster: REDIS_URL names any one node of a Redis Cluster"
    )
    cache_ttl_s: int = Field(DEFAULT_TTL_SECONDS, gt=0, description="cache TTL in seconds, reset on write")
    cache_max_items: int = Field(100_000, gt=0, description="bound of the in-process LRU cache")
    cache_timeout_ms: float = Field(250, gt=0, description="Redis connect/read timeout")
    cache_retry_interval_s: float = Field(
        1.0, gt=0, description="reconnect attempt interval while Redis is down"
    )

    max_batch_size: int = Field(32, gt=0, description="a batch closes at this many items")
    max_batch_delay_ms: float = Field(5.0, ge=0, description="a batch closes after this delay when not full")
    batch_buckets: CommaList = Field(
        default_factory=lambda: ["1", "2", "4", "8", "16", "32"],
        description="batch shapes warmed up before ready (padded to on CUDA only)",
    )
    max_queue_items: int = Field(256, gt=0, description="admitted, unanswered items; beyond it 429")
    queue_deadline_ms: float = Field(2000, gt=0, description="items queued longer are dropped (`deadline`)")
    request_timeout_s: float = Field(30.0, gt=0, description="an /embed request fails after this long")
    max_items_per_request: int = Field(128, gt=0, description="items per POST /embed; beyond it 422")
    max_lookup_ids: int = Field(1024, gt=0, description="ids per POST /embeddings:lookup")
    max_body_bytes: int = Field(32 * 1024 * 1024, gt=0, description="request body bytes; beyond it 413")
    max_image_bytes: int = Field(
        10 * 1024 * 1024, gt=0, description="bytes per image; beyond it image_too_large"
    )
    max_image_pixels: int = Field(
        DEFAULT_MAX_PIXELS, gt=0, description="pixels per image; beyond it image_too_large"
    )

    max_body_bytes_in_flight: int = Field(
        128 * 1024 * 1024, gt=0, description="request bodies being read or served at once; beyond it 429"
    )
    max_queue_pixels: int = Field(
        160_000_000, gt=0, description="decode cost (pixels) of admitted, unanswered items; beyond it 429"
    )

    api_keys: CommaList = Field(
        default_factory=list, description="comma-separated; unset disables auth (set but blank: an error)"
    )
    auth_metrics_and_docs: bool = Field(
        False, description="require the API key on /metrics, /docs, /redoc and /openapi.json too"
    )

    fetch_allow_hosts: CommaList = Field(
        default_factory=list, description="hosts/IPs/CIDRs exempt from the private-address refusal"
    )
    fetch_allow_http: CommaList = Field(default_factory=list, description="hosts/IPs/CIDRs allowed over http")
    fetch_connect_timeout_s: float = Field(2.0, gt=0, description="image URL connect timeout")
    fetch_timeout_s: float = Field(5.0, gt=0, description="image URL total timeout")
    fetch_max_redirects: int = Field(3, ge=0, description="redirects followed, each one checked")

    providers: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="onnxruntime providers; cuda refuses to start without CUDA"
    )
    decode_workers: int = Field(0, ge=0, description="decode workers; 0: min(8, CPU count)")
    decode_pool: Literal["process", "thread"] = Field(
        "process", description="process: decoding leaves the event loop's GIL alone; thread: no spawn"
    )
    intra_op_threads: int = Field(
        0, ge=0, description="onnxruntime intra-op threads; 0: the cores the decode workers leave, at least 1"
    )
    inter_op_threads: int = Field(1, ge=0, description="onnxruntime inter-op threads")
    unready_after_failed_batches: int = Field(
        3, gt=0, description="consecutive failed batches that turn /readyz to 503"
    )
    drain_timeout_s: float = Field(
        30.0, gt=0, description="after SIGTERM, the whole drain takes at most this long"
    )
    drain_min_s: float = Field(
        5.0,
        ge=0,
        description="after SIGTERM, keep serving (readiness 503) this long so load balancers move away",
    )

    @field_validator("batch_buckets", "api_keys", "fetch_allow_hosts", "fetch_allow_http", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("api_keys", mode="before")
    @classmethod
    def _no_blank_key_list(cls, value: object) -> object:
        """A set but blank variable (" ", ",") must not silently mean "no authentication"."""
        if isinstance(value, str) and not any(part.strip() for part in value.split(",")):
            raise ValueError("holds no key; unset COURIER_API_KEYS to run without authentication")
        return value

    @field_validator("batch_buckets")
    @classmethod
    def _check_buckets(cls, value: list[str]) -> list[str]:
        try:
            sizes = sorted({int(v) for v in value})
        except ValueError:
            raise ValueError(f"batch buckets must be integers, got {value}") from None
        if not sizes or sizes[0] < 1:
            raise ValueError(f"batch buckets must be positive, got {value}")
        return [str(s) for s in sizes]

    @field_validator("fetch_allow_hosts", "fetch_allow_http")
    @classmethod
    def _check_hosts(cls, value: list[str]) -> list[str]:
        for entry in value:
            if "/" in entry:
                ipaddress.ip_network(entry, strict=False)
        return [v.lower() for v in value]

    @model_validator(mode="after")
    def _check_consistency(self) -> Settings:
        if self.max_batch_size > self.buckets[-1]:
            raise ValueError(
                f"COURIER_MAX_BATCH_SIZE={self.max_batch_size} exceeds the largest batch bucket {self.buckets[-1]}"
            )
        if self.auth_metrics_and_docs and not self.api_keys:
            raise ValueError("COURIER_AUTH_METRICS_AND_DOCS=true needs keys in COURIER_API_KEYS")
        if self.max_body_bytes > self.max_body_bytes_in_flight:
            raise ValueError(
                f"COURIER_MAX_BODY_BYTES={self.max_body_bytes} exceeds COURIER_MAX_BODY_BYTES_IN_FLIGHT="
                f"{self.max_body_bytes_in_flight}: such a body could never be read"
            )
        if self.max_image_pixels > self.max_queue_pixels:
            raise ValueError(
                f"COURIER_MAX_IMAGE_PIXELS={self.max_image_pixels} exceeds COURIER_MAX_QUEUE_PIXELS="
                f"{self.max_queue_pixels}: such an image could never be admitted"
            )
        if self.drain_min_s > self.drain_timeout_s:
            raise ValueError(
                f"COURIER_DRAIN_MIN_S={self.drain_min_s} exceeds COURIER_DRAIN_TIMEOUT_S={self.drain_timeout_s}"
            )
        if self.max_items_per_request > self.max_queue_items:
            raise ValueError(
                f"COURIER_MAX_ITEMS_PER_REQUEST={self.max_items_per_request} exceeds "
                f"COURIER_MAX_QUEUE_ITEMS={self.max_queue_items}: such a request could never be admitted"
            )
        return self

    @property
    def buckets(self) -> list[int]:
        return [int(b) for b in self.batch_buckets]

    @property
    def decode_pool_workers(self) -> int:
        return self.decode_workers or min(8, os.cpu_count() or 1)

    @property
    def onnx_intra_op_threads(self) -> int:
        """Decode workers and onnxruntime share the CPU: by default onnxruntime gets the cores the decode
        pool leaves (benchmarks/RESULTS.md, "Service", measures the alternative)."""
        if self.intra_op_threads:
            return self.intra_op_threads
        return max(1, (os.cpu_count() or 1) - self.decode_pool_workers)


def variable(field: str) -> str:
    """The environment variable that sets a Settings field (`port` → `COURIER_PORT`)."""
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return f"{Settings.model_config['env_prefix']}{field.upper()}"


def settings_table() -> list[tuple[str, str, str]]:
    """(variable, default, meaning) for every setting, in declaration order."""
    rows = []
    for name, field in Settings.model_fields.items():
        if field.is_required():
            default = "(required)"
        else:
            value = field.get_default(call_default_factory=True)
            default = ",".join(value) if isinstance(value, list) else "unset" if value is None else str(value)
        rows.append((variable(name), default or "empty", field.description or ""))
    return rows


def problems(error: ValidationError) -> list[str]:
    """One line per invalid setting, naming its environment variable rather than the field."""
    lines = []
    for problem in error.errors():
        message = problem["msg"].removeprefix("Value error, ")
        if not problem["loc"]:  # a check across settings: its message names the variables
            lines.append(message)
            continue
        field = str(problem["loc"][0])
        name = variable(field) if field in Settings.model_fields else field
        if problem["type"] == "missing":
            meaning = Settings.model_fields[field].description if field in Settings.model_fields else None
            lines.append(f"{name} is not set" + (f": {meaning}" if meaning else ""))
        else:
            lines.append(f"{name}={problem['input']!r}: {message}")
    return lines
