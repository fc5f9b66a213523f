"""`import logs`: a user's own impression or click log, in any of the four formats, into the contract."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from courier_core.dataset import load_dataset
from tests.importers.helpers import events, items, provenance, run_import, skipped
from tests.importers.layouts import log_events, log_items, write_csv
from training.importers.provenance import describe_dataset

IMPRESSIONS = "user_id=visitor,request_id=page,item_id=sku,clicked=click,ts=time"
ITEMS_MAP = "item_id=sku,image=picture,title=name,category=dept"


@pytest.fixture
def src(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    root.mkdir()
    rows = log_items(root)
    write_csv(root / "items.csv", list(rows[0]), [list(r.values()) for r in rows])
    return root


def _write(path: Path, rows: list[dict]) -> Path:
    frame = pd.DataFrame(rows)
    name = path.name
    if name.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    elif ".jsonl" in name:
        text = "".join(json.dumps(row) + "\n" for row in rows)
        path.write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())
    else:
        text = frame.to_csv(index=False, sep="\t" if ".tsv" in name else ",")
        path.write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())
    return path


def _import(capsys: pytest.CaptureFixture[str], src: Path, log: Path, out: Path, *extra: str) -> str:
    code, stdout, stderr = run_import(
        capsys,
        "logs",
        "--events",
        log,
        "--items",
        src / "items.csv",
        "--out",
        out,
        "--items-map",
        ITEMS_MAP,
        *extra,
    )
    assert code == 0, stdout + stderr
    return stdout


def test_an_impression_log_keeps_its_page_views_and_labels(
    src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = log_events()
    out = tmp_path / "out"
    stdout = _import(capsys, src, _write(src / "events.csv", rows), out, "--map", IMPRESSIONS)
    assert f"dataset {out}: OK" in stdout and "skipped: nothing" in stdout
    dataset = load_dataset(out, image_check="full")
    source = pd.DataFrame(rows)
    ev = events(out).merge(
        source, left_on=["request_id", "item_id"], right_on=["page", "sku"], validate="1:1"
    )
    assert len(ev) == len(source)
    assert (ev["clicked"] == ev["click"]).all() and (ev["user_id"] == ev["visitor"]).all()
    # A page's rows were stamped a second apart: the page view takes its earliest time.
    first = pd.to_datetime(source.groupby("page")["time"].min(), utc=True)
    want = (first - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)
    assert (ev["ts"].to_numpy() == ev["page"].map(want).to_numpy()).all()
    assert dataset.image_source("sku-003") == str((src / "pictures/sku-003.jpg").resolve())
    assert items(out).set_index("item_id").loc["sku-003", "title"] == "item 3"
    doc = provenance(out)
    assert doc["impressions"].startswith("logged") and doc["negatives"] is None
    assert "- Impressions: logged" in describe_dataset(out)[3] and describe_dataset(src) == []
    assert doc["settings"]["ts_format_resolved"] == "iso"


@pytest.mark.parametrize("name", ["events.parquet", "events.tsv.gz", "events.jsonl"])
def test_every_format_gives_the_same_dataset(
    src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    rows = log_events()
    _import(capsys, src, _write(src / "events.csv", rows), tmp_path / "csv", "--map", IMPRESSIONS)
    _import(capsys, src, _write(src / name, rows), tmp_path / "other", "--map", IMPRESSIONS)
    pd.testing.assert_frame_equal(events(tmp_path / "csv"), events(tmp_path / "other"))


def test_parquet_timestamps_need_no_format(
    src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = log_events()
    _import(capsys, src, _write(src / "events.csv", rows), tmp_path / "csv", "--map", IMPRESSIONS)
    frame = pd.DataFrame(rows).assign(time=lambda f: pd.to_datetime(f["time"], utc=True))
    frame.to_parquet(src / "typed.parquet", index=False)
    _import(capsys, src, src / "typed.parquet", tmp_path / "typed", "--map", IMPRESSIONS)
    pd.testing.assert_frame_equal(events(tmp_path / "csv"), events(tmp_path / "typed"))


def test_a_clicks_only_log_without_requests_gets_windows_and_synthesised_impressions(
    src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clicks = [
        {"uid": r["visitor"], "item": r["sku"], "at": int(pd.Timestamp(r["time"]).value // 10**6)}
        for r in log_events()
        if r["click"]
    ]
    out = tmp_path / "out"
    extra = (
        "--map",
        "user_id=uid,item_id=item,ts=at",
        "--page-window",
        "1h",
        "--negatives",
        "3",
        "--seed",
        "5",
    )
    stdout = _import(capsys, src, _write(src / "clicks.jsonl.gz", clicks), out, *extra)
    assert "impressions synthesised: 3 per page view" in stdout
    load_dataset(out)
    ev = events(out)
    hour = 3_600_000
    got = ev[ev["clicked"] == 1]
    want = {(c["uid"], c["item"], c["at"] // hour * hour) for c in clicks}
    assert set(zip(got["user_id"], got["item_id"], got["ts"], strict=True)) == want
    assert got["request_id"].str.fullmatch(r"v\d+@2024-03-\d\dT10:00:00").all()
    assert (ev[ev["clicked"] == 0].groupby("request_id").size() <= 3).all()
    doc = provenance(out)
    assert "1h window" in doc["page_views"] and doc["settings"]["ts_format_resolved"] == "ms"
    assert "sampled negatives" in doc["impressions"] and doc["negatives"]["per_page_view"] == 3


def test_bad_rows_are_counted_merged_or_skipped_with_their_rows(
    src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = log_events()
    good = dict(rows[0])
    rows += [
        {**good, "time": "yesterday"},  # row 201: no timestamp
        {**good, "click": "yes"},  # row 202: not a label
        {**good, "sku": "sku-999"},  # row 203: unknown item
        {**good, "visitor": "v9"},  # row 204: the same page view claimed by another user
        dict(good),  # row 205: the item shown twice in its page view
    ]
    out = tmp_path / "out"
    stdout = _import(capsys, src, _write(src / "events.csv", rows), out, "--map", IMPRESSIONS)
    assert "e.g. row 201 (after the header): 'yesterday'" in stdout
    assert "e.g. row 203 (after the header): 'sku-999'" in stdout
    skips = skipped(out)
    assert skips[("events.csv", "time", "timestamp does not parse as iso")] == 1
    assert skips[("events.csv", "click", "click label is not 0/1/true/false")] == 1
    assert skips[("events.csv", "sku", "item not in items.csv")] == 1
    shared = skips[
        ("events.csv", "request_id", "request id shared by several users (one page view has one user)")
    ]
    assert shared == 5 + 1 + 1  # every row of that page view (5 shown, the repeat, the other user's)
    assert "p0-0" not in set(events(out)["request_id"])
    load_dataset(out)


def test_a_repeated_item_in_a_page_view_is_merged(
    src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = log_events()
    rows.append({**rows[1], "click": 1})  # shown again in the same page, clicked this time
    out = tmp_path / "out"
    _import(capsys, src, _write(src / "events.csv", rows), out, "--map", IMPRESSIONS)
    ev = events(out)
    merged = ev[(ev["request_id"] == rows[1]["page"]) & (ev["item_id"] == rows[1]["sku"])]
    assert len(merged) == 1 and merged["clicked"].item() == 1
    reason = "the same item twice in one page view (merged; clicked if any copy was)"
    assert skipped(out)[("events.csv", None, reason)] == 1


def test_a_wrong_timestamp_format_stops_at_the_first_rows(
    src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = _write(src / "events.csv", log_events())
    argv = ("logs", "--events", log, "--items", src / "items.csv", "--out", tmp_path / "out")
    code, _, stderr = run_import(
        capsys, *argv, "--items-map", ITEMS_MAP, "--map", IMPRESSIONS, "--ts-format", "%d/%m/%Y %H:%M"
    )
    assert code == 2
    assert "events.csv, column 'time': no timestamp of the first" in stderr
    assert "row 1 (after the header): '2024-03-01T10:" in stderr


def test_duplicate_item_ids_stop_with_their_rows(
    src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with (src / "items.csv").open("a") as handle:
        handle.write("sku-002,pictures/sku-002.jpg,item 2 again,a\n")
    log = _write(src / "events.csv", log_events())
    code, _, stderr = run_import(
        capsys, "logs", "--events", log, "--items", src / "items.csv", "--out", tmp_path / "out",
        "--items-map", ITEMS_MAP, "--map", IMPRESSIONS,
    )  # fmt: skip
    assert code == 2
    assert (
        "items.csv, column 'sku': duplicate item ids (2 rows): row 3 (after the header): 'sku-002'" in stderr
    )
    assert "row 15 (after the header): 'sku-002'" in stderr


def test_an_item_without_its_image_file_is_left_out_with_its_events(
    src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (src / "pictures/sku-004.jpg").unlink()
    rows = log_events()
    out = tmp_path / "out"
    _import(capsys, src, _write(src / "events.csv", rows), out, "--map", IMPRESSIONS)
    skips = skipped(out)
    assert skips[("items.csv", "picture", "image file not found under the images root")] == 1
    shown = sum(r["sku"] == "sku-004" for r in rows)
    assert skips[("events.csv", "sku", "item image file not found under the images root")] == shown
    assert "sku-004" not in set(items(out)["item_id"]) and load_dataset(out)


@pytest.mark.parametrize(
    ("mapping", "words"),
    [
        ("user_id=visitor,item_id=sku", "--map: ts must be mapped"),
        ("user_id=visitor,item_id=sku,ts=time,price=p", "--map: unknown field 'price'"),
        (
            "user_id=visitor,item_id=sku,ts=when",
            "events.csv, column 'when': column(s) ['when'] not in the file",
        ),
    ],
)
def test_a_bad_mapping_is_a_clear_error(
    src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], mapping: str, words: str
) -> None:
    log = _write(src / "events.csv", log_events())
    code, _, stderr = run_import(
        capsys, "logs", "--events", log, "--items", src / "items.csv", "--out", tmp_path / "out",
        "--items-map", ITEMS_MAP, "--map", mapping,
    )  # fmt: skip
    assert code == 2 and words in stderr


def test_an_output_directory_with_other_files_is_refused(
    src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    log = _write(src / "events.csv", log_events())
    code, _, stderr = run_import(
        capsys, "logs", "--events", log, "--items", src / "items.csv", "--out", out,
        "--items-map", ITEMS_MAP, "--map", IMPRESSIONS,
    )  # fmt: skip
    assert code == 2 and "holds files no import wrote (['notes.txt'])" in stderr
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
