"""Backbone factory: the built-in ResNet family, or any timm model (`timm:NAME`) when timm is importable.

Weights come only from a local file (`pretrained=PATH`, safetensors or a torch state dict); nothing is
ever downloaded.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from training.models.resnet import PRESETS, ResNet, parse_resnet_name


class BackboneError(ValueError):
    """An unknown backbone name or an unusable weights file."""


def build_backbone(
    name: str, pretrained: str | None = None, image_size: int | None = None
) -> tuple[nn.Module, int]:
    """Return (module mapping NCHW images to pooled features [N, F], F).

    `image_size` matters only for timm models with a fixed input size (ViT, Swin): they are built for it.
    """
    if name.startswith("timm:"):
        module, features = _timm_backbone(name.removeprefix("timm:"), image_size)
    else:
        spec = parse_resnet_name(name)
        if spec is None:
            raise BackboneError(
                f"unknown backbone {name!r}: use one of {sorted(PRESETS)}, resnet-w<width>-d<depths> "
                "(e.g. resnet-w24-d1121) or timm:<model name> (needs timm installed)"
            )
        module = ResNet(spec)
        features = module.feature_dim
    if pretrained:
        load_weights(module, pretrained)
    return module, features


def set_grad_checkpointing(backbone: nn.Module, enabled: bool) -> None:
    if isinstance(backbone, ResNet):
        backbone.grad_checkpointing = enabled
    elif hasattr(backbone, "set_grad_checkpointing"):
        backbone.set_grad_checkpointing(enabled)
    elif enabled:
        raise BackboneError(f"{type(backbone).__name__} does not support gradient checkpointing")


def _timm_backbone(model_name: str, image_size: int | None) -> tuple[nn.Module, int]:
    try:
        import timm
    except ImportError:
        raise BackboneError(
            f"backbone timm:{model_name} needs the timm package, which is not installed"
        ) from None
    except RuntimeError as exc:  # timm imports torchvision, whose ops fail against a mismatched torch
        raise BackboneError(
            f"backbone timm:{model_name}: timm is installed but does not import ({exc}); "
            "install the torchvision build that matches this torch"
        ) from None
    try:
        sized = {} if image_size is None else {"img_size": image_size}
        try:  # transformers take the input size; CNNs reject the keyword and take any size
            model = timm.create_model(model_name, pretrained=False, num_classes=0, **sized)
        except TypeError:
            model = timm.create_model(model_name, pretrained=False, num_classes=0)
    except RuntimeError as exc:
        raise BackboneError(f"timm cannot build {model_name!r}: {exc}") from None
    return model, int(model.num_features)


def load_weights(module: nn.Module, path: str) -> None:
    """Load a local safetensors file or torch state dict; classifier heads in the file are ignored."""
    file = Path(path)
    if not file.is_file():
        raise BackboneError(f"pretrained weights file {file} does not exist")
    if file.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise BackboneError(
                f"{file} is safetensors, but the safetensors package is not installed"
            ) from None
        state = load_file(str(file))
    else:
        state = torch.load(file, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
    own = module.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not usable:
        raise BackboneError(f"{file}: no tensor matches the backbone's parameter names and shapes")
    missing = [k for k in own if k not in usable]
    if missing:
        raise BackboneError(
            f"{file}: {len(missing)} backbone tensors missing or mis-shaped, first: {missing[:5]}"
        )
    module.load_state_dict(usable, strict=False)
