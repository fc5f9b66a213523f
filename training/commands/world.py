"""`python -m training world --out DIR`: generate a synthetic world (items, images, events, oracle).

Its summary counts cold items as `check` and the evaluation do (`courier_core.timeline.cold_items`:
shown in the test period, in no train request); items never shown at all are counted apart.
"""

from __future__ import annotations

import argparse

import pandas as pd

from courier_core.timeline import build_requests, cold_items
from training.world import PRESETS, generate_world, preset
from training.world.writer import WorldExistsError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="dataset directory to create")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="default", help="sizes to start from")
    parser.add_argument("--users", type=int, help="number of users")
    parser.add_argument("--items", type=int, help="number of catalogue items")
    parser.add_argument("--requests-per-user", type=float, help="mean page views per user")
    parser.add_argument("--page-size", type=int, help="items shown per page view")
    parser.add_argument("--image-size", type=int, help="image side in pixels")
    parser.add_argument("--cold-share", type=float, help="share of items released only in the test period")
    parser.add_argument("--seed", type=int, help="random seed; the same seed gives identical files")
    parser.add_argument("--force", action="store_true", help="replace a non-empty output directory")


def run(args: argparse.Namespace) -> int:
    try:
        config = preset(
            args.preset,
            users=args.users,
            items=args.items,
            requests_per_user=args.requests_per_user,
            page_size=args.page_size,
            image_size=args.image_size,
            cold_share=args.cold_share,
            seed=args.seed,
        )
        summary = generate_world(config, args.out, overwrite=args.force)
    except (ValueError, WorldExistsError) as exc:
        print(f"error: {exc}")
        return 2
    events = pd.read_parquet(summary.out / "events.parquet")
    cold = cold_items(build_requests(events, max_history=0, train_fraction=config.train_fraction))
    never = summary.items - events["item_id"].nunique()
    print(
        f"world written to {summary.out}: {summary.items} items, {summary.users} users, "
        f"{summary.requests} requests, {summary.events} events, CTR {summary.ctr:.3f}, "
        f"{len(cold)} cold items (shown in the test period only)"
        + (f", {never} items never shown" if never else "")
        + f"; generated in {summary.seconds:.1f} s"
    )
    return 0
