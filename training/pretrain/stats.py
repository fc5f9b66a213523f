"""What one step reports, typed: the global-batch loss and, for COURIER, the anchor sums. Each rank's
figures are summed over ranks once per step (`training.distributed.sum_to_host`); this module turns the
result into the metrics.jsonl fields."""

from __future__ import annotations

from dataclasses import dataclass

from training.losses.courier import AnchorCounts


@dataclass(frozen=True)
class StepStats:
    loss: float  # the global-batch loss (every rank's share summed)
    positions: int | None = None  # page methods: image positions of THIS rank's page views
    distinct: int | None = None  # page methods: distinct images THIS rank encoded for them
    anchors: AnchorCounts | None = None  # courier: sums over the global batch's anchors
    tau: float | None = None  # courier: the temperature of the intention scores
    clip_loss: float | None = None  # courier with λ > 0: the image–title loss on the global batch
    plain_auc: AnchorCounts | None = None  # validation: anchor sums of the parameter-free score

    def method_fields(self) -> dict[str, float]:
        """The method's own metrics.jsonl fields of a training step (COURIER's; none for the others)."""
        fields: dict[str, float] = {}
        if self.anchors is None:
            return fields
        counts = self.anchors
        anchors = max(counts.anchors, 1.0)
        fields.update(top1=counts.top1_hits / anchors, chance=counts.chance / anchors)
        if self.tau is not None:
            fields["tau"] = self.tau
        fields.update(
            page_loss=counts.page_loss / anchors,
            items_loss=counts.items_loss / anchors,
            users_loss=counts.users_loss / anchors,
        )
        if counts.page_auc is not None:
            fields["page_auc"] = counts.page_auc
        if self.clip_loss is not None:
            fields["clip_loss"] = self.clip_loss
        if self.positions is not None and self.distinct is not None:
            fields["distinct_images"] = float(self.distinct)
            fields["dup_factor"] = self.positions / max(float(self.distinct), 1.0)
        return fields
