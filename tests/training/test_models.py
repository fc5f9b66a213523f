"""Backbones, weights files and the export interface (`load_encoder`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from training.checkpoint import CheckpointError, EncoderInfo, load_encoder
from training.models.backbones import BackboneError, build_backbone
from training.models.resnet import parse_resnet_name


@pytest.mark.parametrize(
    ("name", "features"), [("resnet-tiny", 64), ("resnet-small", 128), ("resnet-w8-d12", 16)]
)
def test_resnet_family_shapes(name: str, features: int) -> None:
    module, dim = build_backbone(name)
    assert dim == features
    assert module(torch.randn(2, 3, 32, 32)).shape == (2, features)


def test_resnet50_sized_backbone_is_bottleneck_with_2048_features() -> None:
    spec = parse_resnet_name("resnet50")
    assert spec is not None and spec.block == "bottleneck" and spec.depths == (3, 4, 6, 3)


def test_unknown_backbone_and_missing_timm_are_clear_errors() -> None:
    with pytest.raises(BackboneError, match="unknown backbone 'vgg'"):
        build_backbone("vgg")
    try:
        import timm  # noqa: F401
    except ImportError:
        with pytest.raises(BackboneError, match="needs the timm package"):
            build_backbone("timm:swin_tiny_patch4_window7_224")
    except RuntimeError:
        with pytest.raises(BackboneError, match="timm is installed but does not import"):
            build_backbone("timm:swin_tiny_patch4_window7_224")


def test_pretrained_state_dict_loads_from_a_local_file(tmp_path: Path) -> None:
    torch.manual_seed(1)
    source, _ = build_backbone("resnet-tiny")
    path = tmp_path / "weights.pt"
    torch.save(source.state_dict(), path)
    loaded, _ = build_backbone("resnet-tiny", pretrained=str(path))
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(loaded(x), source(x))
    torch.save({"foo": torch.zeros(1)}, tmp_path / "bad.pt")
    with pytest.raises(BackboneError, match="no tensor matches"):
        build_backbone("resnet-tiny", pretrained=str(tmp_path / "bad.pt"))
    with pytest.raises(BackboneError, match="missing or mis-shaped"):
        build_backbone("resnet-w8-d12", pretrained=str(path))


def test_pretrained_safetensors_loads_and_ignores_a_classifier_head(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    torch.manual_seed(2)
    source, _ = build_backbone("resnet-tiny")
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    state["fc.weight"] = torch.zeros(10, 64)  # a classifier head, as hub checkpoints carry
    path = tmp_path / "weights.safetensors"
    save_file(state, str(path))
    loaded, _ = build_backbone("resnet-tiny", pretrained=str(path))
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(loaded(x), source(x))


def test_timm_backbone_builds_pools_and_loads_local_weights(tmp_path: Path) -> None:
    """Runs where timm imports (it needs torchvision, which does not import beside torch 2.13 here)."""
    try:
        import timm  # noqa: F401
    except (ImportError, RuntimeError):  # RuntimeError: torchvision's ops fail to register
        pytest.skip("timm is not importable on this machine")
    source, features = build_backbone("timm:resnet10t")
    path = tmp_path / "timm.pt"
    torch.save(source.state_dict(), path)
    loaded, _ = build_backbone("timm:resnet10t", pretrained=str(path))
    x = torch.randn(2, 3, 64, 64)
    out = loaded.eval()(x)
    assert out.shape == (2, features)
    torch.testing.assert_close(out, source.eval()(x))


def test_load_encoder_is_the_documented_export_interface(tiny_run: Path) -> None:
    encoder, info = load_encoder(tiny_run, "last")
    assert isinstance(info, EncoderInfo)
    assert (info.method, info.image_size, info.dim, info.backbone) == ("courier", 32, 16, "resnet-tiny")
    assert len(info.mean) == 3 and len(info.std) == 3 and info.config["method"] == "courier"
    assert not encoder.training
    out = encoder(torch.randn(3, 3, 32, 32))
    assert out.dtype == torch.float32 and out.shape == (3, 16)
    np.testing.assert_allclose(out.norm(dim=1).detach().numpy(), 1.0, rtol=1e-5)
    best, _ = load_encoder(tiny_run, "best")
    assert best(torch.zeros(1, 3, 32, 32)).shape == (1, 16)
    traced = torch.jit.trace(encoder, torch.randn(2, 3, 32, 32))  # no data-dependent control flow
    x = torch.randn(5, 3, 32, 32)
    torch.testing.assert_close(traced(x), encoder(x))


def test_load_encoder_names_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no last checkpoint"):
        load_encoder(tmp_path)
