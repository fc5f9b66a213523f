"""The metrics against scikit-learn and hand-computed values, ties included."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import log_loss as sk_log_loss
from sklearn.metrics import roc_auc_score

from training.ctr.metrics import auc, gap_closed, gauc, log_loss


def test_auc_matches_sklearn_with_ties() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 500)
    scores = rng.integers(0, 6, 500).astype(float)  # many ties
    assert auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


def test_auc_hand_values() -> None:
    assert auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)
    assert auc(np.array([0, 1]), np.array([0.5, 0.5])) == pytest.approx(0.5)  # a tie counts half
    assert math.isnan(auc(np.array([1, 1]), np.array([0.2, 0.3])))  # one label only


def test_gauc_weights_users_by_impressions_and_skips_one_label_users() -> None:
    users = np.array(["a", "a", "a", "a", "b", "b", "c", "c", "c"])
    labels = np.array([0, 0, 1, 1, 0, 1, 1, 1, 1])
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.9, 0.2, 0.5, 0.5, 0.5])
    # user a: AUC 0.75 over 4 impressions; user b: AUC 0.0 over 2; user c: only clicks, skipped.
    assert gauc(users, labels, scores) == pytest.approx((0.75 * 4 + 0.0 * 2) / 6)
    per_user = [roc_auc_score(labels[users == u], scores[users == u]) for u in ("a", "b")]
    assert gauc(users, labels, scores) == pytest.approx((per_user[0] * 4 + per_user[1] * 2) / 6)


def test_log_loss_matches_sklearn() -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 200)
    p = rng.uniform(0.01, 0.99, 200)
    assert log_loss(labels, p) == pytest.approx(sk_log_loss(labels, p), rel=1e-9)


def test_gap_closed_share() -> None:
    assert gap_closed(0.70, none=0.60, oracle=0.80) == pytest.approx(0.5)
    assert gap_closed(0.55, none=0.60, oracle=0.80) == pytest.approx(-0.25)
    assert math.isnan(gap_closed(0.7, none=0.8, oracle=0.8))  # no gap to close
