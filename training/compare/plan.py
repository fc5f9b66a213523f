"""Which rows a comparison holds and the settings they share."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from training.ctr.evaluate import EvalConfig

METHODS = ("none", "random", "simclr", "simsiam", "clip", "courier")
ABLATIONS = ("lambda0", "init-simclr")
# Caps each pre-training run so the default world's comparison (3 courier runs, 4 baselines, 9 CTR
# evaluations with the true-factor reference) fits the 90-minute budget on 2 CPU cores: measured 45.1 min
# (README, "Does it work?").
DEFAULT_MAX_STEPS = 300


class PlanError(ValueError):
    """A comparison that cannot be run as asked (unknown method, ablation without its base run)."""


@dataclass(frozen=True)
class Row:
    """One line of the report: a pre-training method (or none) with its own extra training flags."""

    name: str
    method: str
    note: str = ""
    train_flags: tuple[str, ...] = ()
    init_from: str | None = None  # another row whose run initialises this one's encoder
    baseline_of: str | None = None  # the row this one is reported beside (its starting point)
    reference: bool = False  # embeddings from the world's truth, not a trained encoder

    @property
    def has_images(self) -> bool:
        return self.method != "none"

    @property
    def trains_encoder(self) -> bool:
        """An image row with its own pre-training run (training.png, summary.json, probes)."""
        return self.has_images and not self.reference


# The true taste factors of a synthetic world as embeddings: how much any image encoder could show with
# this CTR model. Only with world.json (training.probes writes the file; nothing else reads the world).
FACTOR_ROW = Row(
    "factors",
    "factors",
    "true taste factors (ceiling for any image encoder with this CTR model)",
    reference=True,
)


@dataclass(frozen=True)
class CompareConfig:
    data: Path
    out: Path
    methods: tuple[str, ...] = METHODS
    ablations: tuple[str, ...] = ABLATIONS
    epochs: int | None = None  # passed to every `train`; None keeps train's default
    max_steps: int | None = DEFAULT_MAX_STEPS  # caps every `train`; None: no cap
    train_args: tuple[str, ...] = ()  # further `train` flags, the same for every method
    eval: EvalConfig = field(default_factory=EvalConfig)


def plan_rows(methods: tuple[str, ...], ablations: tuple[str, ...], with_factors: bool = False) -> list[Row]:
    """`none` first (every other row's baseline), then the methods, the ablation rows and, for a
    synthetic world (`with_factors`), the true-factor reference row."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise PlanError(f"unknown method(s) {unknown}; choose from {', '.join(METHODS)}")
    bad = [a for a in ablations if a not in ABLATIONS]
    if bad:
        raise PlanError(f"unknown ablation(s) {bad}; choose from {', '.join(ABLATIONS)}")
    rows = [Row("none", "none", "CTR model without image features")]
    rows += [Row(m, m) for m in methods if m != "none"]
    if ablations and "courier" not in methods:
        raise PlanError("the ablations vary courier; add courier to --methods or pass --ablations ''")
    if "lambda0" in ablations:
        rows.append(
            Row(
                "courier-lambda0",
                "courier",
                "courier with λ = 0 (no image–title loss)",
                ("--clip-weight", "0"),
            )
        )
    if "init-simclr" in ablations:
        if "simclr" not in methods:
            raise PlanError("the init-simclr ablation starts from the simclr run; add simclr to --methods")
        rows.append(
            Row(
                "courier-from-simclr",
                "courier",
                "courier initialised from the simclr run",
                init_from="simclr",
                baseline_of="simclr",
            )
        )
    return [*rows, FACTOR_ROW] if with_factors else rows
