"""Turn raw column values (strings from CSV, numbers or strings from JSON and parquet) into contract types.

Each parser returns the converted values plus a boolean mask of the rows it could not convert, so the
caller can count them as skips with the offending values as examples.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

TS_FORMATS = ("auto", "iso", "s", "ms", "us", "ns")
_PER_MS = {"s": 1e-3, "ms": 1.0, "us": 1e3, "ns": 1e6}  # units per millisecond
_LABELS = {"0": 0, "1": 1, "false": 0, "true": 1, "0.0": 0, "1.0": 1}
_EPOCH = pd.Timestamp(0, tz="UTC")


def ids(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Identifiers as strings (integral numbers without a trailing '.0'); missing or empty is bad."""
    if pd.api.types.is_integer_dtype(values.dtype):
        out = values.astype(str).to_numpy(dtype=object)
    else:
        out = np.array([_id_text(v) for v in values.tolist()], dtype=object)
    bad = np.array([v is None for v in out.tolist()], dtype=bool)
    return out, bad


def _id_text(value: object) -> str | None:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, np.integer)):
        return str(value)
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return None
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    return None


def texts(values: pd.Series) -> np.ndarray:
    """Free text (titles, categories): missing becomes ''."""
    return np.array(["" if _missing(v) else str(v).strip() for v in values.tolist()], dtype=object)


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def labels(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Click labels 0/1 from ints, bools or the strings 0/1/true/false; anything else is bad."""
    out = np.zeros(len(values), dtype=np.int8)
    bad = np.zeros(len(values), dtype=bool)
    for i, value in enumerate(values.tolist()):
        label = _LABELS.get(str(value).strip().lower()) if not _missing(value) else None
        if label is None:
            bad[i] = True
        else:
            out[i] = label
    return out, bad


@dataclass
class TimestampParser:
    """Parses a column into int64 ms since the epoch, UTC.

    `fmt`: "auto" (numbers are epoch times whose unit is read off their magnitude, text is ISO 8601),
    "iso", an epoch unit ("s", "ms", "us", "ns") or a strftime pattern ("%d/%m/%Y %H:%M"). Text without
    a zone is taken as UTC. An "auto" guess is made once, on the first parsable values, and kept for the
    whole file; `resolved` says what it became (for dataset.json).
    """

    fmt: str = "auto"
    resolved: str | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.fmt not in TS_FORMATS and "%" not in self.fmt:
            raise ValueError(
                f"--ts-format must be one of {', '.join(TS_FORMATS)} or a strftime pattern, not {self.fmt!r}"
            )
        if self.fmt != "auto":
            self.resolved = self.fmt

    def __call__(self, values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        if pd.api.types.is_datetime64_any_dtype(values.dtype):  # parquet timestamps need no format
            stamps = values if getattr(values.dt, "tz", None) is not None else values.dt.tz_localize("UTC")
            bad = stamps.isna().to_numpy()
            millis = ((stamps - _EPOCH) // pd.Timedelta(milliseconds=1)).fillna(0).to_numpy(dtype=np.int64)
            self.resolved = self.resolved or "timestamp"
            return millis, bad
        if self.resolved is None:
            self.resolved = _guess_format(values)
            if self.resolved is None:  # nothing parsable in this chunk: all bad, guess again next chunk
                return np.zeros(len(values), dtype=np.int64), np.ones(len(values), dtype=bool)
        if self.resolved in _PER_MS:
            numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
            bad = ~np.isfinite(numbers)
            out = np.where(bad, 0, np.round(numbers / _PER_MS[self.resolved])).astype(np.int64)
            return out, bad
        text = values.map(lambda v: None if _missing(v) else str(v).strip())
        if self.resolved == "iso":
            parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
        else:
            parsed = pd.to_datetime(text, format=self.resolved, utc=True, errors="coerce")
        bad = parsed.isna().to_numpy()
        millis = ((parsed - _EPOCH) // pd.Timedelta(milliseconds=1)).fillna(0).to_numpy(dtype=np.int64)
        return millis, bad


def _guess_format(values: pd.Series) -> str | None:
    present = values[~values.map(_missing).to_numpy(dtype=bool)]
    if not len(present):
        return None
    numbers = pd.to_numeric(present, errors="coerce")
    if numbers.notna().mean() > 0.5:
        magnitude = float(np.nanmedian(np.abs(numbers.to_numpy(dtype=np.float64))))
        # Epoch times of 1973..5138 in s, ms, us, ns span disjoint magnitudes.
        return "s" if magnitude < 1e11 else "ms" if magnitude < 1e14 else "us" if magnitude < 1e17 else "ns"
    return "iso"


def column_map(
    text: str, *, required: tuple[str, ...], optional: tuple[str, ...], flag: str
) -> dict[str, str]:
    """`field=COLUMN,field=COLUMN` → {field: column}; ValueError naming the flag and the bad part."""
    mapping: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, column = part.partition("=")
        name, column = name.strip(), column.strip()
        if not sep or not name or not column:
            raise ValueError(f"{flag}: {part!r} is not FIELD=COLUMN")
        if name not in required + optional:
            raise ValueError(f"{flag}: unknown field {name!r}; fields are {', '.join(required + optional)}")
        if name in mapping:
            raise ValueError(f"{flag}: field {name!r} given twice")
        mapping[name] = column
    missing = [name for name in required if name not in mapping]
    if missing:
        raise ValueError(f"{flag}: {', '.join(missing)} must be mapped (e.g. {missing[0]}=COLUMN)")
    return mapping


def duration_ms(text: str, flag: str) -> int:
    """'30min', '1d', '2h' → milliseconds (pandas Timedelta syntax); ValueError naming the flag."""
    try:
        delta = pd.Timedelta(text)
    except ValueError:
        raise ValueError(f"{flag}: {text!r} is not a duration like 30min, 2h or 1d") from None
    millis = int(delta // pd.Timedelta(milliseconds=1))
    if millis <= 0:
        raise ValueError(f"{flag}: the duration must be positive, not {text!r}")
    return millis


def date_ms(text: str, flag: str) -> int:
    """'2020-09-01' → ms since the epoch at that UTC midnight; ValueError naming the flag."""
    try:
        stamp = pd.Timestamp(text)
    except ValueError:
        raise ValueError(f"{flag}: {text!r} is not a date like 2020-09-01") from None
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return int((stamp - _EPOCH) // pd.Timedelta(milliseconds=1))
