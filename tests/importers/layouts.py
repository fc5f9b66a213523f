"""Small inputs in the exact layouts the importers read: H&M's Kaggle files, Amazon Reviews 2023 JSON lines,
and a generic impression log. A few dozen rows each, real JPEG files, fixed content (seeded)."""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path

from PIL import Image, ImageDraw

HM_ARTICLE_HEADER = [
    "article_id", "product_code", "prod_name", "product_type_no", "product_type_name", "product_group_name",
    "graphical_appearance_no", "graphical_appearance_name", "colour_group_code", "colour_group_name",
    "perceived_colour_value_id", "perceived_colour_value_name", "perceived_colour_master_id",
    "perceived_colour_master_name", "department_no", "department_name", "index_code", "index_name",
    "index_group_no", "index_group_name", "section_no", "section_name", "garment_group_no",
    "garment_group_name", "detail_desc",
]  # fmt: skip
HM_TRANSACTION_HEADER = ["t_dat", "customer_id", "article_id", "price", "sales_channel_id"]
_GROUPS = {
    "Garment Upper body": [("Strap top", 253, "Vest top"), ("Tilly tee", 255, "T-shirt"), ("Mia blouse", 258, "Blouse")],
    "Garment Lower body": [("Kim jeans", 272, "Trousers"), ("Lou skirt", 275, "Skirt"), ("Ray shorts", 274, "Shorts")],
    "Accessories": [("Bo cap", 87, "Cap/peaked"), ("Ida scarf", 80, "Scarf")],
}  # fmt: skip
_COLOURS = [
    (9, "Black", (20, 20, 20)),
    (10, "White", (240, 240, 240)),
    (73, "Dark Blue", (20, 30, 120)),
    (42, "Red", (200, 30, 30)),
]


def jpeg(colour: tuple[int, int, int], stripe: int, size: tuple[int, int] = (40, 48)) -> bytes:
    """A real JPEG: a solid colour with a stripe pattern, so images differ in more than colour."""
    image = Image.new("RGB", size, colour)
    draw = ImageDraw.Draw(image)
    for x in range(0, size[0], 4 + stripe):
        draw.line([(x, 0), (x, size[1])], fill=(255 - colour[0], 255 - colour[1], 255 - colour[2]), width=1)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def write_csv(path: Path, header: list[str], rows: list[list[object]], delimiter: str = ",") -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def hm_articles() -> list[list[object]]:
    rows = []
    product = 108775
    for group, products in _GROUPS.items():
        for name, type_no, type_name in products:
            for code, colour_name, _ in _COLOURS[:2] if group == "Accessories" else _COLOURS[:3]:
                article_id = f"0{product}{code:03d}"
                rows.append(
                    [article_id, product, name, type_no, type_name, group, 1010016, "Solid", code, colour_name,
                     4, "Dark", 5, colour_name, 1676, "Jersey Basic", "A", "Ladieswear", 1, "Ladieswear", 16,
                     "Womens Everyday Basics", 1002, "Jersey Basic", f"{name} in {colour_name.lower()} jersey."]
                )  # fmt: skip
            product += 1
    return rows


def write_hm(root: Path, *, customers: int = 12, seed: int = 0) -> Path:
    """articles.csv, transactions_train.csv and images/0XX/0XXXXXXXXX.jpg; ~70 purchases in 5 weeks."""
    root.mkdir(parents=True, exist_ok=True)
    articles = hm_articles()
    write_csv(root / "articles.csv", HM_ARTICLE_HEADER, articles)
    colours = {code: rgb for code, _, rgb in _COLOURS}
    for index, row in enumerate(articles):
        article_id = row[0]
        folder = root / "images" / article_id[:3]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{article_id}.jpg").write_bytes(jpeg(colours[row[8]], index % 5))
    rng = random.Random(seed)
    transactions = []
    for c in range(customers):
        customer = f"{rng.getrandbits(256):064x}"
        favourite = rng.choice(list(_GROUPS))
        for day in sorted(rng.sample(range(35), rng.randint(3, 5))):
            date = f"2018-09-{20 + day:02d}" if day < 11 else f"2018-10-{day - 10:02d}"
            picks = [a for a in articles if a[5] == favourite or rng.random() < 0.3]
            for article in rng.sample(picks, rng.randint(1, 2)):
                price = round(rng.uniform(0.005, 0.06), 16)
                transactions.append([date, customer, article[0], price, rng.choice([1, 2])])
        if c == 0:  # the same article twice on one day, as in the real log (two units)
            transactions.append(list(transactions[-1]))
    transactions.sort(key=lambda row: row[0])
    write_csv(root / "transactions_train.csv", HM_TRANSACTION_HEADER, transactions)
    return root


def amazon_meta(base_url: str) -> list[dict]:
    """meta_<Category>.jsonl records (the 2023 field set); images served under `base_url`."""
    records = []
    for index, (title, categories, colour) in enumerate(
        [
            ("Trail running shoe", ["Clothing, Shoes & Jewelry", "Men", "Shoes"], (30, 120, 40)),
            ("Road running shoe", ["Clothing, Shoes & Jewelry", "Men", "Shoes"], (200, 60, 30)),
            ("Leather boot", ["Clothing, Shoes & Jewelry", "Men", "Shoes"], (90, 60, 30)),
            ("Canvas sneaker", ["Clothing, Shoes & Jewelry", "Women", "Shoes"], (230, 230, 230)),
            ("Wool beanie", ["Clothing, Shoes & Jewelry", "Men", "Accessories"], (40, 40, 140)),
            ("Silk scarf", ["Clothing, Shoes & Jewelry", "Women", "Accessories"], (180, 20, 120)),
            ("Denim jacket", ["Clothing, Shoes & Jewelry", "Women", "Clothing"], (40, 70, 160)),
            ("Linen shirt", ["Clothing, Shoes & Jewelry", "Men", "Clothing"], (220, 210, 180)),
            ("Rain jacket", ["Clothing, Shoes & Jewelry", "Men", "Clothing"], (230, 200, 20)),
            ("Knit sweater", ["Clothing, Shoes & Jewelry", "Women", "Clothing"], (120, 20, 20)),
            ("Sun hat", [], (200, 180, 120)),  # no categories: falls back to main_category
            ("Ankle sock", ["Clothing, Shoes & Jewelry", "Women", "Accessories"], (10, 10, 10)),
        ]
    ):
        asin = f"B0{index:08d}"
        records.append(
            {
                "main_category": "AMAZON FASHION",
                "title": title,
                "average_rating": 4.2,
                "rating_number": 10 + index,
                "features": ["Imported"],
                "description": [],
                "price": None if index % 3 else 19.99,
                "images": [
                    {
                        "thumb": f"{base_url}/{asin}_thumb.jpg",
                        "large": f"{base_url}/{asin}_back.jpg",
                        "variant": "PT01",
                        "hi_res": None,
                    },
                    {
                        "thumb": f"{base_url}/{asin}_thumb.jpg",
                        "large": f"{base_url}/{asin}.jpg",
                        "variant": "MAIN",
                        "hi_res": f"{base_url}/{asin}_hires.jpg",
                    },
                ],  # fmt: skip
                "videos": [],
                "store": "Shoeco",
                "categories": categories,
                "details": {"Department": "mens", "Date First Available": "March 3, 2021"},
                "parent_asin": asin,
                "bought_together": None,
                "_colour": colour,  # removed before writing; the test server draws the image from it
            }
        )
    return records


def write_amazon(
    root: Path, category: str, base_url: str, *, users: int = 10, seed: int = 1
) -> dict[str, bytes]:
    """<Category>.jsonl and meta_<Category>.jsonl; returns the image bytes to serve, by URL path."""
    root.mkdir(parents=True, exist_ok=True)
    meta = amazon_meta(base_url)
    served = {}
    with (root / f"meta_{category}.jsonl").open("w") as handle:
        for index, record in enumerate(meta):
            colour = record.pop("_colour")
            served[f"/{record['parent_asin']}.jpg"] = jpeg(colour, index % 4)
            handle.write(json.dumps(record) + "\n")
    rng = random.Random(seed)
    start_ms = 1_600_000_000_000
    with (root / f"{category}.jsonl").open("w") as handle:
        for u in range(users):
            user = "AE" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(26))
            for day in sorted(rng.sample(range(40), rng.randint(3, 5))):
                for record in rng.sample(meta, rng.randint(1, 2)):
                    review = {
                        "rating": float(rng.randint(1, 5)),
                        "title": "Nice",
                        "text": "Fits well." if u % 2 else "Runs small.",
                        "images": [],
                        "asin": record["parent_asin"].replace("B0", "B1"),
                        "parent_asin": record["parent_asin"],
                        "user_id": user,
                        "timestamp": start_ms + day * 86_400_000 + rng.randint(0, 80_000_000),
                        "helpful_vote": rng.randint(0, 3),
                        "verified_purchase": True,
                    }
                    handle.write(json.dumps(review) + "\n")
    return served


def log_items(root: Path) -> list[dict]:
    """items.csv rows (sku, picture, name, dept) with JPEGs under root/pictures/."""
    (root / "pictures").mkdir(parents=True, exist_ok=True)
    items = []
    for index in range(14):
        colour = ((index * 53) % 256, (index * 97) % 256, (index * 151) % 256)
        path = f"pictures/sku-{index:03d}.jpg"
        (root / path).write_bytes(jpeg(colour, index % 3))
        items.append(
            {"sku": f"sku-{index:03d}", "picture": path, "name": f"item {index}", "dept": "ab"[index % 2]}
        )
    return items


def log_events(*, users: int = 10, pages: int = 4, page_size: int = 5, seed: int = 2) -> list[dict]:
    """An impression log: one row per item shown, request ids, 0/1 clicks, ISO timestamps."""
    rng = random.Random(seed)
    rows = []
    for u in range(users):
        liked = {f"sku-{i:03d}" for i in rng.sample(range(14), 5)}
        for p in range(pages):
            shown = rng.sample(range(14), page_size)
            minute = rng.randint(0, 59)
            for position, index in enumerate(shown):
                sku = f"sku-{index:03d}"
                rows.append(
                    {
                        "visitor": f"v{u}",
                        "page": f"p{u}-{p}",
                        "sku": sku,
                        "click": int(sku in liked and rng.random() < 0.7),
                        "time": f"2024-03-{1 + 3 * p + u % 3:02d}T10:{minute:02d}:{position:02d}Z",
                    }
                )
    return rows
