"""`python -m training embed --run RUN_DIR --data DIR --out emb.parquet`: embed every catalogue item
(cold items included) into the embeddings parquet that `eval` reads (item_id + float32[D], L2-normalised;
method, model and training config in the file metadata)."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", required=True, help="run directory written by `train`")
    parser.add_argument("--data", required=True, help="dataset directory whose catalogue to embed")
    parser.add_argument("--out", required=True, help="output parquet file")
    parser.add_argument(
        "--checkpoint", choices=("last", "best"), default="last", help="which checkpoint (default last)"
    )
    parser.add_argument("--batch-size", type=int, default=256, help="images per forward pass (default 256)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")


def run(args: argparse.Namespace) -> int:
    from courier_core.dataset import DatasetError
    from training.checkpoint import CheckpointError
    from training.embed import EmbedConfig, embed_catalogue

    cfg = EmbedConfig(args.run, args.data, args.out, args.checkpoint, args.batch_size, args.device)
    try:
        count, dim = embed_catalogue(cfg)
    except (DatasetError, CheckpointError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {count} embeddings of dim {dim} to {args.out}")
    return 0
