"""`python -m training preview DIR --out sheet.png`: contact sheet of items and user histories."""

from __future__ import annotations

import argparse

from courier_core.dataset import DatasetError, load_dataset
from training.preview import PreviewConfig, draw_contact_sheet


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", help="dataset directory")
    parser.add_argument("--out", required=True, help="PNG file to write")
    parser.add_argument("--items", type=int, default=30, help="sample items to show (default 30)")
    parser.add_argument("--users", type=int, default=4, help="users to show (default 4)")
    parser.add_argument("--seed", type=int, default=0, help="which items and users are sampled")


def run(args: argparse.Namespace) -> int:
    try:
        dataset = load_dataset(args.dataset, image_check="none")
    except DatasetError as exc:
        print(f"INVALID dataset {args.dataset}\n{exc}")
        return 1
    out = draw_contact_sheet(
        dataset, args.out, PreviewConfig(items=args.items, users=args.users, seed=args.seed)
    )
    print(f"contact sheet written to {out}")
    return 0
