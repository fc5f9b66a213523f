"""Ranking metrics of docs/design.md, "Evaluation protocol", in plain numpy, with ties handled like scikit-learn (average ranks)."""

from __future__ import annotations

import math

import numpy as np


def _average_ranks(scores: np.ndarray) -> np.ndarray:
    """1-based ranks where tied scores share the mean of their positions."""
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    boundaries = np.flatnonzero(np.diff(sorted_scores)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [len(scores)]])
    mean_rank = (starts + ends + 1) / 2.0
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC (Mann-Whitney); NaN when only one label is present."""
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    n_pos = int(labels.sum())
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = _average_ranks(scores)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def gauc(groups: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> float:
    """Per-group (user) AUC weighted by the group's impressions, over groups holding both labels."""
    groups = np.asarray(groups)
    labels = np.asarray(labels)
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(groups, kind="mergesort")
    groups, labels, scores = groups[order], labels[order], scores[order]
    cuts = np.flatnonzero(groups[1:] != groups[:-1]) + 1
    weighted, total = 0.0, 0
    for lab, sco in zip(np.split(labels, cuts), np.split(scores, cuts), strict=True):
        value = auc(lab, sco)
        if not math.isnan(value):
            weighted += value * len(lab)
            total += len(lab)
    return weighted / total if total else math.nan


def log_loss(labels: np.ndarray, probabilities: np.ndarray, eps: float = 1e-7) -> float:
    """Mean binary cross-entropy, probabilities clipped to [eps, 1 - eps]."""
    y = np.asarray(labels, dtype=np.float64)
    p = np.clip(np.asarray(probabilities, dtype=np.float64), eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def gap_closed(value: float, none: float, oracle: float) -> float:
    """Share of the none→oracle gap a method closes; NaN when the gap is not positive."""
    gap = oracle - none
    if not (gap > 0) or any(math.isnan(x) for x in (value, none, oracle)):
        return math.nan
    return (value - none) / gap
