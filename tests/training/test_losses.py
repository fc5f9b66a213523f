"""Every loss against a case small enough to compute by hand: three items A, B, C with 2-d embeddings,
two page views (view 0: history [A, padding], page [B clicked, C]; view 1: history [B, C], page [A, B],
no click). With identity projections the reconstructions are closed-form, so the expected values below
are written out from the method's equations (docs/design.md, "The COURIER method")."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from training.distributed import DistContext
from training.losses.clip import clip_loss
from training.losses.courier import AnchorCounts, CourierLossConfig, PageTensors, courier_loss
from training.losses.simclr import nt_xent_loss
from training.losses.simsiam import simsiam_loss
from training.models.uir import IntentionReconstruction

A, B, C = (1.0, 0.0), (0.0, 1.0), (0.6, 0.8)
ONE = DistContext()  # a single process
TAU = 0.5


def _pages(users: tuple[int, int] = (0, 1)) -> PageTensors:
    t = torch.tensor
    return PageTensors(
        history=t([[A, (0.0, 0.0)], [B, C]]),
        history_mask=t([[True, False], [True, True]]),
        page=t([[B, C], [A, B]]),
        page_mask=t([[True, True], [True, True]]),
        clicked=t([[True, False], [False, False]]),
        items=t([[1, 2], [0, 1]]),
        categories=t([[0, 1], [0, 0]]),
        users=t(list(users)),
    )


def _s1_of_b() -> float:
    """s_1(B): view 1 attends over [B, C] with logits <e_B, e_h>/sqrt(2), reconstructs, compares with e_B."""
    w_b, w_c = (math.exp(1 / math.sqrt(2)), math.exp(0.8 / math.sqrt(2)))
    w_b, w_c = w_b / (w_b + w_c), w_c / (w_b + w_c)
    r = (w_c * 0.6, w_b + w_c * 0.8)
    return r[1] / math.hypot(*r)


# view 0's history is A alone (the padded slot is masked), so r_0(x) = e_A: s_0(B)=0, s_0(C)=0.6, s_0(A)=1.
PAGE = math.log(1 + math.exp(0.6 / TAU))  # B vs its page's unclicked C
ITEMS = math.log(1 + math.exp(0.6 / TAU) + math.exp(1 / TAU))  # B vs C, A; view 1's copy of B is no negative
USERS = math.log(1 + math.exp(_s1_of_b() / TAU))  # s_0(B)=0 against s_1(B)


def _loss(cfg: CourierLossConfig, users: tuple[int, int] = (0, 1)) -> tuple[float, AnchorCounts]:
    uir = IntentionReconstruction(2, projections=False)
    out = courier_loss(_pages(users), uir, torch.tensor(1 / TAU), cfg, dist_ctx=ONE)
    return float(out.loss), AnchorCounts.from_tensor(out.counts)


def test_courier_per_page_term_by_hand() -> None:
    loss, stats = _loss(CourierLossConfig(page_weight=1.0))
    assert loss == pytest.approx(PAGE, rel=1e-5)
    assert stats.anchors == 1  # the page without clicks contributes no anchor
    assert stats.auc_pairs == 1 and stats.auc_wins == 0  # s_0(B)=0 < s_0(C)=0.6
    assert stats.top1_hits == 0 and stats.chance == pytest.approx(1 / 3)


def test_courier_two_directions_by_hand() -> None:
    loss, stats = _loss(CourierLossConfig(page_weight=0.0))
    assert stats.items_loss == pytest.approx(ITEMS, rel=1e-5)
    assert stats.users_loss == pytest.approx(USERS, rel=1e-5)
    assert loss == pytest.approx((ITEMS + USERS) / 2, rel=1e-5)
    mixed, _ = _loss(CourierLossConfig(page_weight=0.25))
    assert mixed == pytest.approx(0.25 * PAGE + 0.75 * (ITEMS + USERS) / 2, rel=1e-5)


def test_courier_negative_switches_by_hand() -> None:
    _, weighted = _loss(CourierLossConfig(page_weight=0.0, same_page_weight=2.0))
    assert weighted.items_loss == pytest.approx(math.log(1 + 2 * math.exp(1.2) + math.exp(2)), rel=1e-5)
    _, same_cat = _loss(CourierLossConfig(page_weight=0.0, inbatch_negatives="same-category"))
    assert same_cat.items_loss == pytest.approx(
        math.log(1 + math.exp(1.2) + math.exp(2)), rel=1e-5
    )  # A shares B's category
    _, no_inbatch = _loss(CourierLossConfig(page_weight=0.0, inbatch_negatives="none"))
    assert no_inbatch.items_loss == pytest.approx(PAGE, rel=1e-5)
    _, same_user = _loss(CourierLossConfig(page_weight=0.0), users=(3, 3))
    assert same_user.users_loss == pytest.approx(0.0, abs=1e-6)  # the user's other view is masked


def test_courier_scores_each_candidate_by_its_own_reconstruction() -> None:
    """The shortcut would compare r_b(p) with other items; here moving C's embedding changes s_1(C)
    through C's own query only: s_0(·) stays <e_A, e_x> whatever the candidate."""
    uir = IntentionReconstruction(2, projections=False)
    pages = _pages()
    scores = uir.scores(pages.history, pages.history_mask, pages.page.reshape(4, 2))
    assert scores[0].tolist() == pytest.approx([0.0, 0.6, 1.0, 0.0], abs=1e-6)
    assert float(scores[1, 3]) == pytest.approx(_s1_of_b(), rel=1e-5)


def test_clip_by_hand() -> None:
    image = torch.tensor([A, B, C])
    text = torch.tensor([B, B, C])
    # row i: -log softmax_j <img_i, txt_j>; A·txt = [0, 0, .6], B·txt = [1, 1, .8], C·txt = [.8, .8, 1]
    i2t = [-math.log(1 / (2 + math.exp(0.6))), -math.log(math.e / (2 * math.e + math.exp(0.8))),
           -math.log(math.e / (2 * math.exp(0.8) + math.e))]  # fmt: skip
    # column j: -log softmax_i <img_i, txt_j>; txt_0=B: [0, 1, .8]; txt_1=B: [0, 1, .8]; txt_2=C: [.6, .8, 1]
    t2i = [-math.log(1 / (1 + math.e + math.exp(0.8))), -math.log(math.e / (1 + math.e + math.exp(0.8))),
           -math.log(math.e / (math.exp(0.6) + math.exp(0.8) + math.e))]  # fmt: skip
    loss = clip_loss(image, text, torch.tensor([0, 1, 2]), torch.tensor(1.0), dist_ctx=ONE)
    assert float(loss) == pytest.approx((sum(i2t) + sum(t2i)) / 6, rel=1e-5)
    # rows 0 and 1 are the same item: neither is the other's negative
    dup = clip_loss(image[:2], text[:2], torch.tensor([5, 5]), torch.tensor(1.0), dist_ctx=ONE)
    assert float(dup) == pytest.approx(0.0, abs=1e-6)
    # a padded row is neither anchor nor negative
    padded = clip_loss(
        image,
        text,
        torch.tensor([0, 1, 2]),
        torch.tensor(1.0),
        torch.tensor([True, True, False]),
        dist_ctx=ONE,
    )
    # i2t: A·[B, B] = [0, 0], B·[B, B] = [1, 1] → log 2 each; t2i: columns [0, 1] for A then B
    expected = (2 * math.log(2) + math.log(1 + math.e) + math.log((1 + math.e) / math.e)) / 4
    assert float(padded) == pytest.approx(expected, rel=1e-5)


def test_nt_xent_by_hand() -> None:
    z1 = torch.tensor([A, B])
    z2 = torch.tensor([C, B])
    t = 0.5
    # similarities: A·B=0, A·C=.6, A·B'=0, B·C=.8, B·B'=1, C·B'=.8
    e = lambda x: math.exp(x / t)  # noqa: E731
    terms = [
        -math.log(e(0.6) / (e(0) + e(0.6) + e(0))),  # A → its view C, against B, C, B'
        -math.log(e(1) / (e(0) + e(0.8) + e(1))),  # B → B', against A, C, B'
        -math.log(e(0.6) / (e(0.6) + e(0.8) + e(0.8))),  # C → A, against A, B, B'
        -math.log(e(1) / (e(0) + e(1) + e(0.8))),  # B' → B, against A, B, C
    ]
    assert float(nt_xent_loss(z1, z2, t, dist_ctx=ONE)) == pytest.approx(sum(terms) / 4, rel=1e-5)


def test_simsiam_by_hand_and_stop_gradient() -> None:
    p1 = torch.tensor([A, B, C], requires_grad=True)
    p2 = torch.tensor([B, B, A], requires_grad=True)
    z1 = torch.tensor([A, C, C], requires_grad=True)
    z2 = torch.tensor([A, A, C], requires_grad=True)
    # cos(p1, z2) = [1, 0, 1]; cos(p2, z1) = [0, .8, .6]
    loss = simsiam_loss(p1, p2, z1, z2, dist_ctx=ONE)
    assert float(loss) == pytest.approx(-(1 + 0 + 1 + 0 + 0.8 + 0.6) / 6, rel=1e-5)
    loss.backward()
    assert z1.grad is None and z2.grad is None  # the targets are stop-gradient
    assert p1.grad is not None and float(p1.grad.abs().sum()) > 0


def test_losses_of_collapsed_embeddings_pay_log_n() -> None:
    """A collapsed encoder scores everything alike and pays log N."""
    same = F.normalize(torch.ones(4, 2), dim=-1)
    assert float(nt_xent_loss(same[:2], same[2:], 0.1, dist_ctx=ONE)) == pytest.approx(math.log(3), rel=1e-5)
    assert float(
        clip_loss(same[:3], same[:3], torch.arange(3), torch.tensor(10.0), dist_ctx=ONE)
    ) == pytest.approx(math.log(3), rel=1e-5)
