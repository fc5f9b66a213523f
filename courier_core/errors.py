"""The one error vocabulary: per-item codes and whole-request codes, shared by the service, the backfill,
the client and the API schema (where `code` is an enum).

An item code says why one item has no vector while the others in its request do; a request code says
why a whole request was refused. Both are strings on the wire, so new codes are additive for clients.
"""

from __future__ import annotations

from enum import StrEnum


class ItemCode(StrEnum):
    """Why one item got no vector."""

    IMAGE_DECODE_ERROR = "image_decode_error"
    IMAGE_TOO_LARGE = "image_too_large"
    IMAGE_NOT_FOUND = "image_not_found"
    FETCH_ERROR = "fetch_error"
    FETCH_TIMEOUT = "fetch_timeout"
    FETCH_REFUSED = "fetch_refused"
    DEADLINE = "deadline"
    INFERENCE_ERROR = "inference_error"
    DUPLICATE_ITEM_ID = "duplicate_item_id"


class RequestCode(StrEnum):
    """Why a whole request was refused (the HTTP status says how to react; the code says what happened)."""

    INVALID_REQUEST = "invalid_request"
    TOO_MANY_ITEMS = "too_many_items"
    BODY_TOO_LARGE = "body_too_large"
    TOO_MANY_PIXELS = "too_many_pixels"
    UNAUTHORIZED = "unauthorized"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    QUEUE_FULL = "queue_full"
    NOT_READY = "not_ready"
    CACHE_UNAVAILABLE = "cache_unavailable"
    DRAINING = "draining"
    HTTP_ERROR = "http_error"


class ItemError(Exception):
    """One item's failure: a code and a message for a person.

    Raised by the per-item steps (decode, fetch) and carried as a value in per-item outcomes and client
    results. It pickles (its arguments are its fields), so decode worker processes can return it. A code
    this version does not know (from a newer peer) is kept as the plain string.
    """

    def __init__(self, code: ItemCode | str, message: str) -> None:
        super().__init__(code, message)
        self.code: ItemCode | str = _known(code)
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def _known(code: ItemCode | str) -> ItemCode | str:
    try:
        return ItemCode(code)
    except ValueError:
        return code
