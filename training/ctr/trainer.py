"""Fit one CTR model (one seed) on the fit slice, early-stop on the validation slice, score the test period.

Batches are gathered from index tensors built once (no Python per-row work inside the loop)."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F

from training.ctr.features import FIT, ITEM_UNKNOWN, TEST, VAL, CTRFeatures
from training.ctr.metrics import auc
from training.ctr.model import CTRModel, CTRModelConfig, Vocab


@dataclass(frozen=True)
class CTRTrainConfig:
    max_epochs: int = 20
    patience: int = 2  # epochs without a better validation AUC before stopping
    batch_size: int = 2048
    lr: float = 4e-3
    weight_decay: float = 1e-6
    id_dropout: float = 0.1  # share of fit impressions whose item id is hidden, so the unknown bucket learns
    model: CTRModelConfig = field(default_factory=CTRModelConfig)


@dataclass
class SeedResult:
    seed: int
    test_scores: np.ndarray  # probabilities, aligned with features.impressions(TEST)
    best_epoch: int
    epochs_run: int
    val_auc: float


class _Tensors:
    """Torch views of the feature arrays, shared by every seed of one evaluation."""

    def __init__(self, f: CTRFeatures) -> None:
        self.request = torch.from_numpy(f.imp_request)
        self.row = torch.from_numpy(f.imp_row)
        self.user = torch.from_numpy(f.imp_user)
        self.label = torch.from_numpy(f.imp_label)
        self.hist_rows = torch.from_numpy(f.hist_rows)
        self.skip_rows = torch.from_numpy(f.skip_rows) if f.skip_rows.shape[1] else None
        self.item_vocab = torch.from_numpy(f.item_vocab)
        self.row_category = torch.from_numpy(f.row_category)
        self.row_tokens = torch.from_numpy(f.row_tokens)

    def logits(
        self, model: CTRModel, idx: torch.Tensor, hide_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        row = self.row[idx]
        item = self.item_vocab[row]
        if hide_ids is not None:
            item = torch.where(hide_ids, torch.full_like(item, ITEM_UNKNOWN), item)
        request = self.request[idx]
        hist_row = self.hist_rows[request]
        skip_row = self.skip_rows[request] if self.skip_rows is not None else None
        return model(
            self.user[idx],
            item,
            row,
            self.item_vocab[hist_row],
            hist_row,
            self.row_category,
            self.row_tokens,
            self.item_vocab[skip_row] if skip_row is not None else None,
            skip_row,
        )

    @torch.no_grad()
    def predict(self, model: CTRModel, idx: np.ndarray, batch_size: int) -> np.ndarray:
        model.eval()
        out = [
            torch.sigmoid(self.logits(model, torch.from_numpy(idx[i : i + batch_size])))
            for i in range(0, len(idx), batch_size)
        ]
        return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.float32)


def fit_and_score(
    features: CTRFeatures, image_table: np.ndarray | None, config: CTRTrainConfig, seed: int
) -> SeedResult:
    """Train with early stopping on validation AUC; return test-period probabilities of the best epoch."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    tensors = _Tensors(features)
    vocab = Vocab(features.n_users, features.n_items, features.n_categories, features.n_tokens)
    table = torch.from_numpy(image_table) if image_table is not None else None
    model_config = replace(config.model, skip_history=tensors.skip_rows is not None)
    model = CTRModel(vocab, model_config, table)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)

    fit_idx = torch.from_numpy(features.impressions(FIT))
    val_idx = features.impressions(VAL)
    val_labels = features.imp_label[val_idx]
    best_auc, best_epoch, best_state, epochs_run = -math.inf, 0, copy.deepcopy(model.state_dict()), 0
    for epoch in range(1, config.max_epochs + 1):
        model.train()
        order = fit_idx[torch.randperm(len(fit_idx), generator=generator)]
        for start in range(0, len(order), config.batch_size):
            idx = order[start : start + config.batch_size]
            hide = torch.rand(len(idx), generator=generator) < config.id_dropout
            loss = F.binary_cross_entropy_with_logits(tensors.logits(model, idx, hide), tensors.label[idx])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
        epochs_run = epoch
        val_auc = auc(val_labels, tensors.predict(model, val_idx, 4 * config.batch_size))
        if math.isnan(val_auc) or val_auc > best_auc:
            best_auc, best_epoch, best_state = val_auc, epoch, copy.deepcopy(model.state_dict())
        elif epoch - best_epoch >= config.patience:
            break
    model.load_state_dict(best_state)
    test_scores = tensors.predict(model, features.impressions(TEST), 4 * config.batch_size)
    return SeedResult(seed, test_scores, best_epoch, epochs_run, float(best_auc))
