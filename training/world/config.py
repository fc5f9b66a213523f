"""What a synthetic world is made of: sizes, split and seed. Everything else is drawn from the seed."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class WorldConfig:
    """Sizes of a world. Vocabularies, taste strengths and CTR are drawn from `seed`, so worlds vary."""

    users: int = 1500
    items: int = 3000
    requests_per_user: float = 16.0  # mean; the per-user count varies
    page_size: int = 10
    image_size: int = 96
    cold_share: float = 0.2  # share of items released only after the train period
    seed: int = 0
    train_fraction: float = 0.8  # must match the split used downstream (build_requests' default)
    days: int = 60

    def __post_init__(self) -> None:
        if self.users < 1 or self.items < 2:
            raise ValueError("a world needs at least 1 user and 2 items")
        if not 2 <= self.page_size <= self.items:
            raise ValueError(f"page_size must be in [2, items], not {self.page_size}")
        if self.image_size < 16:
            raise ValueError(f"image_size must be >= 16 px, not {self.image_size}")
        if not 0.0 <= self.cold_share < 1.0:
            raise ValueError(f"cold_share must be in [0, 1), not {self.cold_share}")
        if not 0.0 < self.train_fraction < 1.0:
            raise ValueError(f"train_fraction must be in (0, 1), not {self.train_fraction}")
        if self.requests_per_user < 1:
            raise ValueError(f"requests_per_user must be >= 1, not {self.requests_per_user}")


PRESETS: dict[str, WorldConfig] = {
    "tiny": WorldConfig(users=40, items=150, requests_per_user=12, page_size=6, image_size=32),
    "default": WorldConfig(),
}


def preset(name: str, **overrides: object) -> WorldConfig:
    """A preset with some fields replaced (None values are ignored)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
    return replace(PRESETS[name], **{k: v for k, v in overrides.items() if v is not None})
