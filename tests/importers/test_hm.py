"""`import hm` on a small copy of the Kaggle layout: page views per customer-day, sampled negatives, skips."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from courier_core.dataset import load_dataset
from tests.importers.helpers import events, items, provenance, run_import, skipped
from training.importers.provenance import describe_dataset

DAY_MS = 86_400_000


def _transactions(src: Path) -> pd.DataFrame:
    return pd.read_csv(src / "transactions_train.csv", dtype=str)


def _ms(dates: pd.Series) -> np.ndarray:
    """'2018-09-20' → ms since the epoch at that UTC midnight."""
    return (
        (pd.to_datetime(dates, utc=True) - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)
    ).to_numpy()


def _append(path: Path, *rows: list[str]) -> None:
    with path.open("a", newline="") as handle:
        csv.writer(handle).writerows(rows)


def test_purchases_of_a_day_become_one_page_view_with_sampled_negatives(
    hm_src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, stdout, _ = run_import(capsys, "hm", "--src", hm_src, "--out", out, "--negatives", "4")
    assert code == 0, stdout
    assert f"dataset {out}: OK" in stdout and "impressions synthesised: 4 per page view" in stdout
    dataset = load_dataset(out, image_check="full")
    ev = events(out)
    bought = _transactions(hm_src).drop_duplicates(["t_dat", "customer_id", "article_id"])
    # Every customer-day with purchases is one page view whose clicks are exactly that day's articles.
    clicks = ev[ev["clicked"] == 1]
    got = set(zip(clicks["request_id"], clicks["item_id"], strict=True))
    want = {
        (f"{c}@{d}", a)
        for d, c, a in zip(bought["t_dat"], bought["customer_id"], bought["article_id"], strict=True)
    }
    assert got == want
    assert (ev["ts"].to_numpy() == _ms(ev["request_id"].str.split("@").str[1])).all()
    assert (ev["user_id"] == ev["request_id"].str.split("@").str[0]).all()
    # Up to 4 negatives per page view, never an item clicked in it, always sold in the same week.
    negatives = ev[ev["clicked"] == 0]
    per_page = negatives.groupby("request_id").size()
    assert per_page.max() == 4 and per_page.reindex(clicks["request_id"].unique(), fill_value=0).mean() > 3.5
    assert not set(zip(negatives["request_id"], negatives["item_id"], strict=True)) & got
    week = (ev["ts"] // DAY_MS + 3) // 7
    sold = bought.assign(week=(_ms(bought["t_dat"]) // DAY_MS + 3) // 7)
    sold_pairs = set(zip(sold["week"], sold["article_id"], strict=True))
    assert all(
        pair in sold_pairs for pair in zip(week[ev["clicked"] == 0], negatives["item_id"], strict=True)
    )
    # Most negatives share the product group of a click on their page (the rest fell back to the week).
    group = dataset.items.set_index("item_id")["category"]
    page_groups = clicks.assign(g=clicks["item_id"].map(group)).groupby("request_id")["g"].agg(set)
    same = [
        group[i] in page_groups[r] for r, i in zip(negatives["request_id"], negatives["item_id"], strict=True)
    ]
    assert sum(same) / len(same) > 0.5
    # Titles and categories as a ranker would see them; images read in place from the source layout.
    article = items(out).set_index("item_id").loc["0108775009"]
    assert article["title"] == "Strap top Vest top Black" and article["category"] == "Garment Upper body"
    assert dataset.image_source("0108775009") == str((hm_src / "images/010/0108775009.jpg").resolve())
    doc = provenance(out)
    assert doc["importer"] == "hm" and "not against what users saw" in doc["impressions"]
    description = "\n".join(describe_dataset(out))  # what compare's report can print
    assert "Impressions: synthesised" in description and "Negatives: 4 per page view" in description
    assert doc["negatives"]["per_page_view"] == 4 and "same Monday-based UTC week" in doc["negatives"]["pool"]
    merged = (
        "transactions_train.csv",
        None,
        "the same item twice in one page view (merged; clicked if any copy was)",
    )
    assert skipped(out)[merged] == 1  # the fixture's two units of one article on one day


def test_the_seed_fixes_the_negatives(
    hm_src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = {}
    for name, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        code, stdout, _ = run_import(capsys, "hm", "--src", hm_src, "--out", tmp_path / name, "--seed", seed)
        assert code == 0, stdout
        runs[name] = events(tmp_path / name)
    pd.testing.assert_frame_equal(runs["a"], runs["b"])
    assert not runs["a"].equals(runs["c"])
    clicks = [
        set(r.loc[r["clicked"] == 1, "item_id"] + r.loc[r["clicked"] == 1, "request_id"])
        for r in runs.values()
    ]
    assert clicks[0] == clicks[2]  # only the sampled part differs


def test_user_sampling_and_since_are_counted(
    hm_src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = ("--min-user-events", "4", "--max-users", "5", "--since", "2018-09-25", "--seed", "1")
    code, stdout, _ = run_import(capsys, "hm", "--src", hm_src, "--out", out, *args)
    assert code == 0, stdout
    tx = _transactions(hm_src)
    early = int((tx["t_dat"] < "2018-09-25").sum())
    late = tx[tx["t_dat"] >= "2018-09-25"].drop_duplicates(["t_dat", "customer_id", "article_id"])
    per_user = late.groupby("customer_id").size()
    eligible = per_user[per_user >= 4]
    ev = events(out)
    assert ev["user_id"].nunique() == 5 and set(ev["user_id"]) <= set(eligible.index)
    assert (ev["ts"] >= _ms(pd.Series(["2018-09-25"]))[0]).all()
    skips = skipped(out)
    assert skips[("transactions_train.csv", "t_dat", "before --since 2018-09-25")] == early
    few = skips[("transactions_train.csv", "user_id", "user has fewer than --min-user-events 4 clicks")]
    assert few == int(per_user[per_user < 4].sum())
    unsampled = skips[("transactions_train.csv", "user_id", "user not in the seeded --max-users 5 sample")]
    assert unsampled == int(eligible.sum()) - int((ev["clicked"] == 1).sum())
    assert provenance(out)["users"]["eligible"] == len(eligible)


def test_bad_rows_are_counted_by_file_column_and_row(
    hm_src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    customer = _transactions(hm_src)["customer_id"].iloc[0]
    _append(
        hm_src / "transactions_train.csv",
        ["2018-13-45", customer, "0108775009", "0.03", "2"],  # no such date
        ["2018-09-21", customer, "0999999999", "0.03", "2"],  # no such article
        ["2018-09-21", "", "0108775009", "0.03", "2"],  # no customer
        ["2018-09-21", customer, "0108775009"],  # too few fields
    )
    (hm_src / "images/010/0108776010.jpg").unlink()  # an article without its image
    without_image = int((_transactions(hm_src)["article_id"] == "0108776010").sum())
    out = tmp_path / "out"
    code, stdout, _ = run_import(capsys, "hm", "--src", hm_src, "--out", out)
    assert code == 0, stdout
    n = len(_transactions(hm_src)) - 1  # data rows the CSV reader accepts: the short one is malformed
    assert (
        f"transactions_train.csv, t_dat: not a YYYY-MM-DD date\n{'':14}e.g. row {n - 2} (after the header): '2018-13-45'"
        in stdout
    )
    skips = skipped(out)
    assert skips[("transactions_train.csv", "t_dat", "not a YYYY-MM-DD date")] == 1
    assert skips[("transactions_train.csv", "article_id", "item not in articles.csv")] == 1
    assert skips[("transactions_train.csv", "customer_id", "missing customer id")] == 1
    assert skips[("transactions_train.csv", None, "malformed row (wrong number of fields)")] == 1
    assert skips[("articles.csv", "article_id", "has no image file under images/")] == 1
    assert (
        skips[("transactions_train.csv", "article_id", "item has no image file under images/")]
        == without_image
    )
    assert "0108776010" not in set(items(out)["item_id"]) and load_dataset(out)


def test_a_missing_column_stops_with_file_and_column(
    hm_src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tx = _transactions(hm_src).rename(columns={"t_dat": "date"})
    tx.to_csv(hm_src / "transactions_train.csv", index=False)
    code, _, stderr = run_import(capsys, "hm", "--src", hm_src, "--out", tmp_path / "out")
    assert code == 2
    assert (
        "transactions_train.csv, column 't_dat': column(s) ['t_dat'] not in the file; found ['date',"
        in stderr
    )


def test_duplicate_article_ids_stop_with_the_rows(
    hm_src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = list(csv.reader((hm_src / "articles.csv").open()))
    _append(hm_src / "articles.csv", rows[3])
    code, _, stderr = run_import(capsys, "hm", "--src", hm_src, "--out", tmp_path / "out")
    assert code == 2
    assert "articles.csv, column 'article_id': duplicate article ids (2 rows)" in stderr
    assert (
        f"row 3 (after the header): '{rows[3][0]}'" in stderr
        and f"row {len(rows)} (after the header)" in stderr
    )


def test_a_purchase_log_needs_sampled_impressions(
    hm_src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, stderr = run_import(capsys, "hm", "--src", hm_src, "--out", tmp_path / "out", "--negatives", "0")
    assert code == 2 and "hm holds clicks only: --negatives must be at least 1" in stderr
