"""A catalogue's images as the decode pool takes them: local files as paths, URLs fetched into bytes
through the service's fetcher, with its rules (https only unless allow-listed, no private addresses,
checked redirects, size and time caps), so the backfill reaches exactly what the service would."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from courier_core.errors import ItemError
from service.runtime.decoding import DEFAULT_MAX_IMAGE_BYTES, Decoded, Source
from service.runtime.fetch import Fetcher, FetchPolicy

CatalogueImage = str | Path  # an http(s) URL (str) or a local file


def open_fetcher(allow_hosts: Sequence[str] = (), allow_http: Sequence[str] = ()) -> Fetcher:
    """The service's fetcher with its default timeouts and the service's per-image byte limit."""
    return Fetcher(FetchPolicy(allow_hosts, allow_http, max_bytes=DEFAULT_MAX_IMAGE_BYTES))


async def load_sources(
    fetcher: Fetcher, item_ids: Sequence[str], images: Sequence[CatalogueImage]
) -> tuple[dict[str, Source], dict[str, ItemError]]:
    """Each item's decodable source (its file, or its URL's bytes), or the error its fetch ended with."""
    urls = [
        (item_id, image) for item_id, image in zip(item_ids, images, strict=True) if isinstance(image, str)
    ]
    fetched = await fetcher.fetch_many(url for _, url in urls)
    by_id = {item_id: result for (item_id, _), result in zip(urls, fetched, strict=True)}
    sources: dict[str, Source] = {}
    failures: dict[str, ItemError] = {}
    for item_id, image in zip(item_ids, images, strict=True):
        result = by_id.get(item_id, image)
        if isinstance(result, ItemError):
            failures[item_id] = result
        else:
            sources[item_id] = result
    return sources, failures


def split_decoded(
    item_ids: Iterable[str], decoded: Iterable[Decoded]
) -> tuple[dict[str, np.ndarray], dict[str, ItemError]]:
    """The decode pool's answers split into images and errors, by item id."""
    images: dict[str, np.ndarray] = {}
    failures: dict[str, ItemError] = {}
    for item_id, result in zip(item_ids, decoded, strict=True):
        if isinstance(result, ItemError):
            failures[item_id] = result
        else:
            images[item_id] = result
    return images, failures
