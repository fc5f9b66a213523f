"""`python -m training import logs|hm|amazon2023 ...`: turn a click log or a public data set into a dataset.

Every importer streams its input (any size), counts each row it skips under a reason, writes
items.parquet, events.parquet and dataset.json (how page views and negatives were built), and ends with
`check`'s summary of the result. Exit 0 on success, 1 if the result fails the contract check, 2 when the
input cannot be imported (the message names the file, the column and the row).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from courier_core.dataset import DatasetError, load_dataset
from courier_core.timeline import build_requests
from training.commands.check import summarise
from training.importers.amazon2023 import IMAGE_SIZES, AmazonConfig, import_amazon2023
from training.importers.downloads import DownloadConfig
from training.importers.finish import ImportResult
from training.importers.hm import HMConfig, import_hm
from training.importers.logs import (
    EVENT_FIELDS,
    ITEM_FIELDS,
    OPTIONAL_EVENT_FIELDS,
    OPTIONAL_ITEM_FIELDS,
    LogsConfig,
    import_logs,
)
from training.importers.parsing import TS_FORMATS, column_map
from training.importers.skips import SkipLedger, SourceError

EPILOG = """examples:
  python -m training import logs --events clicks.csv --items items.csv --out data/shop \\
      --map user_id=visitor,request_id=page_view,item_id=sku,clicked=click,ts=time
  python -m training import hm --src h-and-m-personalized-fashion-recommendations --out data/hm --max-users 20000
  python -m training import amazon2023 --src amazon23 --category Amazon_Fashion --out data/fashion --images download"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = __doc__
    parser.epilog = EPILOG
    sources = parser.add_subparsers(dest="source", metavar="SOURCE", required=True)
    _logs_arguments(sources.add_parser("logs", help="a generic impression or click log plus an items file"))
    _hm_arguments(sources.add_parser("hm", help="H&M Personalized Fashion Recommendations (Kaggle layout)"))
    _amazon_arguments(sources.add_parser("amazon2023", help="Amazon Reviews 2023 (<Category>.jsonl + meta)"))


def _common(parser: argparse.ArgumentParser, *, negatives_help: str) -> None:
    parser.add_argument(
        "--out", required=True, type=Path, help="dataset directory to write (empty, or an earlier import's)"
    )
    parser.add_argument("--negatives", type=int, default=10, help=negatives_help)
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the negative and user sampling (default 0)"
    )


def _users(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--min-user-events",
        type=int,
        default=2,
        help="clicks a user needs to be kept (default 2: fewer gives no history)",
    )
    parser.add_argument(
        "--max-users", type=int, help="keep a seeded random sample of this many eligible users"
    )
    parser.add_argument("--since", help="skip interactions before this UTC day (YYYY-MM-DD)")


_SYNTH = "sampled unclicked items per page view (default 10)"


def _logs_arguments(parser: argparse.ArgumentParser) -> None:
    fields = ",".join(
        f"{f}=COL"
        for f in EVENT_FIELDS[:1] + OPTIONAL_EVENT_FIELDS[:1] + EVENT_FIELDS[1:] + OPTIONAL_EVENT_FIELDS[1:]
    )
    parser.add_argument(
        "--events",
        required=True,
        type=Path,
        help="event log: .csv, .tsv, .jsonl or .parquet (.gz/.bz2/.zst ok)",
    )
    parser.add_argument("--items", required=True, type=Path, help="items file, same formats")
    parser.add_argument(
        "--map",
        required=True,
        help=f"event columns, {fields}; request_id and clicked are optional: without request_id, page views "
        "are time windows (--page-window); without clicked, every row is a click and impressions are sampled",
    )
    parser.add_argument(
        "--items-map",
        help="item columns, item_id=COL,image=COL[,title=COL,category=COL] (default: those names, title and "
        "category when the file has them)",
    )
    parser.add_argument(
        "--ts-format",
        default="auto",
        help=f"{', '.join(TS_FORMATS)} or a strftime pattern (default auto: numbers are epoch s/ms/us/ns by "
        "magnitude, text is ISO 8601; text without a zone is UTC)",
    )
    parser.add_argument(
        "--images-root",
        type=Path,
        help="local image paths are relative to this (default: the items file's directory)",
    )
    parser.add_argument(
        "--page-window", default="30min", help="page-view window without a request column (default 30min)"
    )
    _common(parser, negatives_help=f"without a clicked column: {_SYNTH}")


def _hm_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--src", required=True, type=Path, help="directory with articles.csv, transactions_train.csv, images/"
    )
    _common(parser, negatives_help=_SYNTH)
    _users(parser)


def _amazon_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--src", required=True, type=Path, help="directory with <Category>.jsonl and meta_<Category>.jsonl"
    )
    parser.add_argument("--category", required=True, help="file name stem, e.g. Amazon_Fashion")
    _common(parser, negatives_help=_SYNTH)
    _users(parser)
    parser.add_argument(
        "--page-window", default="1d", help="a user's reviews in one window form a page view (default 1d)"
    )
    parser.add_argument(
        "--images",
        choices=("url", "download"),
        default="url",
        help="keep image URLs (training then needs them fetched) or download them into OUT/images (default url)",
    )
    parser.add_argument(
        "--image-size", choices=IMAGE_SIZES, default="large", help="which image URL to take (default large)"
    )
    parser.add_argument(
        "--category-depth", type=int, default=3, help="levels of `categories` in the category (default 3)"
    )
    download = parser.add_argument_group("download (--images download)")
    download.add_argument(
        "--allow-host",
        action="append",
        default=[],
        help="host, IP or CIDR exempt from the public-address rule (repeatable)",
    )
    download.add_argument(
        "--allow-http",
        action="append",
        default=[],
        help="host that may be fetched over plain http (repeatable)",
    )
    download.add_argument("--download-workers", type=int, default=8, help="parallel downloads (default 8)")
    download.add_argument(
        "--max-image-bytes", type=int, default=10 << 20, help="size cap per image (default 10 MiB)"
    )
    download.add_argument(
        "--image-timeout", type=float, default=20.0, help="seconds per attempt (default 20)"
    )
    download.add_argument(
        "--retries", type=int, default=3, help="retries after a transient failure (default 3)"
    )


def run(args: argparse.Namespace) -> int:
    ledger = SkipLedger()
    try:
        result = _import(args, ledger)
    except (SourceError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        if ledger.rows():
            print(ledger.report(), file=sys.stderr)
        return 2
    print(ledger.report())
    for note in result.notes:
        print(note)
    w = result.written
    print(
        f"wrote {result.out}: {w.items:,} items, {w.events:,} events, {w.requests:,} page views, "
        f"{w.clicks:,} clicks; how they were built: {result.out / 'dataset.json'}"
    )
    if result.negatives is not None:
        n = result.negatives
        print(
            f"impressions synthesised: {args.negatives} per page view; {n.same_category:,} from the clicked "
            f"item's category, {n.week_fallback:,} from the whole week, {n.missing:,} slots left empty "
            f"({n.short_pages:,} page views short)"
        )
    try:
        dataset = load_dataset(result.out)
    except DatasetError as exc:
        print(f"INVALID dataset {result.out} (an importer bug; please report it)\n{exc}")
        return 1
    print(summarise(dataset, build_requests(dataset.events), full=False))
    return 0


def _import(args: argparse.Namespace, ledger: SkipLedger) -> ImportResult:
    if args.source == "logs":
        events_map = column_map(args.map, required=EVENT_FIELDS, optional=OPTIONAL_EVENT_FIELDS, flag="--map")
        if "clicked" not in events_map and args.negatives < 1:
            raise ValueError(
                "a log without a clicked column has no impressions: --negatives must be at least 1"
            )
        items_map = None
        if args.items_map:
            items_map = column_map(
                args.items_map, required=ITEM_FIELDS, optional=OPTIONAL_ITEM_FIELDS, flag="--items-map"
            )
        config = LogsConfig(
            args.events, args.items, args.out, events_map, items_map, args.ts_format, args.images_root,
            args.page_window, args.negatives, args.seed,
        )  # fmt: skip
        return import_logs(config, ledger)
    if args.negatives < 1:
        raise ValueError(f"{args.source} holds clicks only: --negatives must be at least 1")
    if args.min_user_events < 1 or (args.max_users is not None and args.max_users < 1):
        raise ValueError("--min-user-events and --max-users must be at least 1")
    if args.source == "hm":
        config = HMConfig(
            args.src, args.out, args.negatives, args.min_user_events, args.max_users, args.since, args.seed
        )
        return import_hm(config, ledger)
    download = DownloadConfig(
        allow_hosts=tuple(args.allow_host),
        allow_http=tuple(args.allow_http),
        workers=args.download_workers,
        total_timeout_s=args.image_timeout,
        max_bytes=args.max_image_bytes,
        retries=args.retries,
    )
    config = AmazonConfig(
        args.src, args.category, args.out, args.negatives, args.min_user_events, args.max_users, args.since,
        args.seed, args.page_window, args.images, args.image_size, args.category_depth, download,
    )  # fmt: skip
    return import_amazon2023(config, ledger)
