"""How `import hm` scales: write a synthetic H&M layout of N transactions, import it, report time and memory.

The importers stream their input and build page views one hash bucket at a time, so peak memory should
follow the bucket size and the output, not the input file. This writes `--rows` transactions (uniform
customers, popularity-skewed articles, one day after another) in the exact Kaggle layout, runs
the import (`training.importers.hm.import_hm`, what `python -m training import hm` runs before its closing
check) in one child process and `python -m training check` on the result in another, and prints each one's
wall time and peak RSS: the import's should follow the bucket size and the output, the check loads the
whole result (as training does).

  python benchmarks/import_scale.py --rows 2000000 --work /tmp/hm_scale --max-users 2000
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

ARTICLE_HEADER = [
    "article_id",
    "product_code",
    "prod_name",
    "product_type_no",
    "product_type_name",
    "product_group_name",
    "graphical_appearance_no",
    "graphical_appearance_name",
    "colour_group_code",
    "colour_group_name",
    "perceived_colour_value_id",
    "perceived_colour_value_name",
    "perceived_colour_master_id",
    "perceived_colour_master_name",
    "department_no",
    "department_name",
    "index_code",
    "index_name",
    "index_group_no",
    "index_group_name",
    "section_no",
    "section_name",
    "garment_group_no",
    "garment_group_name",
    "detail_desc",
]
GROUPS = ("Garment Upper body", "Garment Lower body", "Accessories", "Shoes", "Underwear")


def write_layout(src: Path, rows: int, articles: int, customers: int, per_day: int, seed: int) -> None:
    rng = random.Random(seed)
    ids = [f"0{108775000 + 13 * i:09d}" for i in range(articles)]
    with (src / "articles.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(ARTICLE_HEADER)
        for i, article in enumerate(ids):
            colour = (i * 37 % 256, i * 91 % 256, i * 13 % 256)
            folder = src / "images" / article[:3]
            folder.mkdir(parents=True, exist_ok=True)
            buffer = io.BytesIO()
            Image.new("RGB", (24, 32), colour).save(buffer, format="JPEG")
            (folder / f"{article}.jpg").write_bytes(buffer.getvalue())
            group = GROUPS[i % len(GROUPS)]
            writer.writerow(
                [article, article[1:7], f"prod {i}", 250 + i % 9, f"type {i % 9}", group, 1010016, "Solid",
                 i % 20, f"colour {i % 20}", 4, "Dark", 5, "Black", 1676, "Jersey", "A", "Ladieswear", 1,
                 "Ladieswear", 16, "Basics", 1002, "Jersey Basic", "A top."]
            )  # fmt: skip
    people = [f"{rng.getrandbits(256):064x}" for _ in range(customers)]
    weights = [1.0 / (rank + 1) for rank in range(articles)]
    with (src / "transactions_train.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["t_dat", "customer_id", "article_id", "price", "sales_channel_id"])
        for start in range(0, rows, per_day):
            day = time.strftime("%Y-%m-%d", time.gmtime(1_537_401_600 + 86_400 * (start // per_day)))
            picks = rng.choices(ids, weights, k=min(per_day, rows - start))
            writer.writerows([day, rng.choice(people), article, "0.0254", 2] for article in picks)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=2_000_000, help="transactions to write")
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--customers", type=int, default=60_000)
    parser.add_argument("--per-day", type=int, default=20_000, help="transactions per day")
    parser.add_argument("--work", type=Path, required=True, help="scratch directory (src/ and out/ go here)")
    parser.add_argument("--max-users", type=int, help="passed to the import")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    src, out = args.work / "src", args.work / "out"
    if not (src / "transactions_train.csv").is_file():
        shutil.rmtree(src, ignore_errors=True)
        src.mkdir(parents=True)
        write_layout(src, args.rows, args.articles, args.customers, args.per_day, args.seed)
    shutil.rmtree(out, ignore_errors=True)
    config = f"HMConfig(Path({str(src)!r}), Path({str(out)!r}), max_users={args.max_users!r})"
    code = (
        "from pathlib import Path\n"
        "from training.importers.hm import HMConfig, import_hm\n"
        "from training.importers.skips import SkipLedger\n"
        f"result = import_hm({config}, SkipLedger())\n"
        "print(result.written)\n"
    )
    size = (src / "transactions_train.csv").stat().st_size
    print(f"input {size / 2**20:,.0f} MiB ({args.rows:,} transactions)")
    for name, command in (
        ("import", [sys.executable, "-c", code]),
        ("check", [sys.executable, "-m", "training", "check", str(out)]),
    ):
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if done.returncode:
            print(done.stdout, done.stderr, file=sys.stderr)
            return done.returncode
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest child so far
        print(done.stdout.strip())
        print(f"{name}: wall {wall:.1f} s, peak RSS of the children so far {peak:,.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
