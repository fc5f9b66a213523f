"""Users, page views and clicks: who sees what, when, and with which true click probability.

A user has a category interest (which pages they open), a taste over every named and unnamed factor,
and a click propensity; items have a quality. The click probability is logistic in these, so the
oracle knows it exactly. Strengths are drawn per world; the unnamed taste is the strongest on purpose:
only the image carries it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from training.world.config import WorldConfig
from training.world.factors import NAMED, UNNAMED, Vocabulary

TASTE_FACTORS = NAMED + UNNAMED
EPOCH_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
_DAY_MS = 86_400_000


@dataclass(frozen=True)
class Taste:
    """World-level strengths: how much each factor moves a click logit, and how pages are composed."""

    category: float
    colour: float
    pattern: float
    trim: float
    quality: float
    user_bias: float
    shared_taste: float  # std of the population-wide part of every affinity (what "everyone" likes)
    exposure_temperature: float  # how peaked a user's page categories are
    page_focus: float  # share of a page drawn from the page's category
    target_ctr: float

    def strength(self, factor: str) -> float:
        return float(getattr(self, factor))

    def to_dict(self) -> dict[str, float]:
        return {k: round(v, 6) for k, v in asdict(self).items()}


def draw_taste(rng: np.random.Generator) -> Taste:
    return Taste(
        category=rng.uniform(0.3, 0.7),
        colour=rng.uniform(0.4, 0.9),
        pattern=rng.uniform(1.0, 1.6),
        trim=rng.uniform(0.4, 0.8),
        quality=rng.uniform(0.3, 0.6),
        user_bias=rng.uniform(0.3, 0.6),
        shared_taste=rng.uniform(0.1, 0.4),
        exposure_temperature=rng.uniform(1.0, 2.0),
        page_focus=rng.uniform(0.6, 0.9),
        target_ctr=rng.uniform(0.09, 0.16),
    )


@dataclass(frozen=True)
class Users:
    affinity: dict[str, np.ndarray]  # factor -> [users, values]: shared part + personal N(0, 1)
    shared: dict[str, np.ndarray]  # factor -> [values]: the population-wide part
    bias: np.ndarray  # [users]
    request_counts: np.ndarray  # [users]

    @property
    def count(self) -> int:
        return len(self.bias)


def draw_users(config: WorldConfig, vocab: Vocabulary, taste: Taste, rng: np.random.Generator) -> Users:
    shared = {f: rng.normal(0.0, taste.shared_taste, len(vocab.values(f))) for f in TASTE_FACTORS}
    affinity = {f: shared[f] + rng.normal(0.0, 1.0, (config.users, len(shared[f]))) for f in TASTE_FACTORS}
    rate = rng.gamma(2.0, config.requests_per_user / 2.0, config.users)
    counts = np.maximum(2, rng.poisson(rate))
    return Users(
        affinity=affinity,
        shared=shared,
        bias=rng.normal(0.0, taste.user_bias, config.users),
        request_counts=counts,
    )


def schedule_requests(
    users: Users, config: WorldConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(user index, ts) of every request, in time order with distinct timestamps."""
    request_user = np.repeat(np.arange(users.count), users.request_counts)
    ts = rng.integers(0, config.days * _DAY_MS, len(request_user))
    order = np.argsort(ts, kind="stable")
    ts = ts[order]
    steps = np.arange(len(ts))
    ts = np.maximum.accumulate(ts - steps) + steps  # strictly increasing
    return request_user[order], EPOCH_MS + ts


def release_index(
    items: int, cold_share: float, n_requests: int, n_train: int, rng: np.random.Generator
) -> np.ndarray:
    """First request index at which each item may be shown: 0 for warm items, within the test period
    (its first half, so each has time to be seen) for cold ones."""
    release = np.zeros(items, dtype=np.int64)
    cold = rng.permutation(items)[: int(round(cold_share * items))]
    last = n_train + max(1, (n_requests - n_train) // 2)
    release[cold] = rng.integers(n_train, last, len(cold))
    return release


def compose_pages(
    request_user: np.ndarray,
    item_category: np.ndarray,
    release: np.ndarray,
    users: Users,
    taste: Taste,
    page_size: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """(request index, item index) for every impression: a page shows its category first, then others."""
    interest = np.exp(taste.exposure_temperature * users.affinity["category"])
    cumulative = np.cumsum(interest / interest.sum(1, keepdims=True), axis=1)[request_user]
    page_category = (cumulative < rng.random((len(request_user), 1))).sum(1)
    page_category = np.minimum(page_category, cumulative.shape[1] - 1)
    focus = rng.binomial(page_size, taste.page_focus, len(request_user))

    by_release = np.argsort(release, kind="stable")
    by_category = [by_release[item_category[by_release] == c] for c in range(cumulative.shape[1])]
    release_by_category = [release[members] for members in by_category]
    release_sorted = release[by_release]

    pages = np.empty((len(request_user), page_size), dtype=np.int64)
    for j in range(len(request_user)):
        c = page_category[j]
        available = np.searchsorted(release_by_category[c], j, side="right")
        chosen = by_category[c][rng.choice(available, min(focus[j], available), replace=False)]
        pool = np.searchsorted(release_sorted, j, side="right")
        while len(chosen) < page_size:
            extra = by_release[rng.choice(pool, page_size, replace=False)]
            extra = extra[~np.isin(extra, chosen)]
            chosen = np.concatenate([chosen, extra[: page_size - len(chosen)]])
        pages[j] = chosen
    return np.repeat(np.arange(len(request_user)), page_size), pages.ravel()


def click_logits(
    impression_user: np.ndarray,
    impression_item: np.ndarray,
    item_codes: pd.DataFrame,
    quality: np.ndarray,
    users: Users,
    taste: Taste,
) -> np.ndarray:
    """Logit without the world's intercept: taste over every factor, item quality, user propensity."""
    logit = users.bias[impression_user] + taste.quality * quality[impression_item]
    for factor in TASTE_FACTORS:
        codes = item_codes[factor].to_numpy()[impression_item]
        logit = logit + taste.strength(factor) * users.affinity[factor][impression_user, codes]
    return logit


def calibrate_intercept(logit: np.ndarray, target_ctr: float) -> float:
    """The intercept whose mean click probability equals the target (bisection; the mean is monotone)."""
    low, high = -20.0, 20.0
    for _ in range(60):
        middle = (low + high) / 2
        if np.mean(1.0 / (1.0 + np.exp(-(logit + middle)))) < target_ctr:
            low = middle
        else:
            high = middle
    return (low + high) / 2
