"""What did an encoder learn? Linear probes of the world's factors on item embeddings, and the true
taste factors as an embeddings file (the ceiling any image encoder can reach with the CTR model).

This is the only code that reads a synthetic world's `world.json` (the hidden truth): training and the
CTR evaluation never see it. Categorical factors are probed as they are; numeric ones (nuisance
offsets, scale, background brightness, ...) as quartile bins. Accuracy is on held-out items, beside the majority-class chance.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from courier_core.embeddings_file import Embeddings, write_embeddings

WORLD_FILE = "world.json"
TASTE_GROUPS = ("named", "unnamed")  # the factors clicks depend on; nuisance factors only change pixels
_MAX_CLASSES = 16


@dataclass(frozen=True)
class ProbeResult:
    factor: str
    group: str  # named / unnamed / nuisance
    classes: int
    accuracy: float
    chance: float

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def load_world_factors(data_dir: str | Path) -> tuple[pd.DataFrame, dict[str, str]] | None:
    """(one row per item_id with one column per factor, factor -> group), or None without world.json."""
    path = Path(data_dir) / WORLD_FILE
    if not path.is_file():
        return None
    world = json.loads(path.read_text())
    groups = {f: g for g, names in world["factors"].items() for f in names}
    records = []
    for item in world["items"]:
        row = {"item_id": str(item["item_id"])}
        for factor, group in groups.items():
            value = item.get("nuisance", {}).get(factor) if group == "nuisance" else item.get(factor)
            if isinstance(value, list):  # e.g. a background RGB: probed by its brightness
                value = float(sum(value) / len(value)) if value else None
            row[factor] = value
        records.append(row)
    return pd.DataFrame.from_records(records).set_index("item_id"), groups


def write_factor_embeddings(data_dir: str | Path, path: str | Path) -> bool:
    """Write the one-hot taste factors of every item (concatenated, L2-normalised) as an embeddings file:
    what a perfect image encoder could hand the CTR model. False (nothing written) without world.json."""
    world = load_world_factors(data_dir)
    if world is None:
        return False
    factors, groups = world
    taste = [f for f, g in groups.items() if g in TASTE_GROUPS]
    one_hot = pd.get_dummies(factors[taste].astype(str), columns=taste).to_numpy(np.float32)
    one_hot /= np.linalg.norm(one_hot, axis=1, keepdims=True)
    metadata = {"method": "factors", "factors": ",".join(taste)}
    write_embeddings(path, factors.index.tolist(), one_hot, metadata)
    return True


def _labels(values: pd.Series) -> np.ndarray | None:
    """Class ids: categories as is, numbers with many values as quartiles; None if nothing to probe."""
    if values.isna().any():
        return None
    if pd.api.types.is_numeric_dtype(values) and values.nunique() > _MAX_CLASSES:
        bins = pd.qcut(values, 4, labels=False, duplicates="drop")
        codes = np.asarray(bins, dtype=np.int64)
    else:
        codes = pd.factorize(values.astype(str))[0]
    return codes if len(np.unique(codes)) > 1 else None


def _fit_linear_probe(
    x_train: np.ndarray, y_train: np.ndarray, classes: int, weight_decay: float
) -> torch.nn.Linear:
    torch.manual_seed(0)
    probe = torch.nn.Linear(x_train.shape[1], classes)
    x, y = torch.from_numpy(x_train), torch.from_numpy(y_train)
    optimiser = torch.optim.LBFGS(probe.parameters(), lr=1.0, max_iter=200, history_size=20)

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(probe(x), y) + weight_decay * probe.weight.square().sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    return probe


def probe_embeddings(
    emb: Embeddings, factors: pd.DataFrame, groups: dict[str, str], *, test_share: float = 0.3, seed: int = 0
) -> list[ProbeResult]:
    """Multinomial logistic regression (L2, standardised inputs) per factor on a fixed item split."""
    common = factors.index.intersection(pd.Index(emb.item_ids))
    if not len(common):
        return []
    position = pd.Index(emb.item_ids).get_indexer(common)
    x = emb.matrix[position].astype(np.float64)
    x = ((x - x.mean(0)) / (x.std(0) + 1e-8)).astype(np.float32)
    order = np.random.default_rng(seed).permutation(len(common))
    n_test = max(1, int(len(common) * test_share))
    test, train = order[:n_test], order[n_test:]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small problems: extra threads only spin on a shared CPU
    try:
        results = [_probe_one(x, factors.loc[common, f], f, g, train, test) for f, g in groups.items()]
    finally:
        torch.set_num_threads(threads)
    return [r for r in results if r is not None]


def _probe_one(
    x: np.ndarray, values: pd.Series, factor: str, group: str, train: np.ndarray, test: np.ndarray
) -> ProbeResult | None:
    y = _labels(values)
    if y is None:
        return None
    classes = int(y.max()) + 1
    probe = _fit_linear_probe(x[train], y[train], classes, weight_decay=1e-3)
    with torch.no_grad():
        predicted = probe(torch.from_numpy(x[test])).argmax(1).numpy()
    chance = float(np.bincount(y[test], minlength=classes).max() / len(test))
    return ProbeResult(factor, group, classes, float((predicted == y[test]).mean()), chance)
