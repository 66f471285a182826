"""The papers' small architectures, registered as timm models so ``timm.create_model`` builds them.

- ``samlab_vit_micro``: a ViT in paper 1's ViT-S/32 style (global average pooling with a norm after
  pooling, no class token) shrunk for 8–32 px inputs, the CPU default.
- ``samlab_cnn``: paper 2's CIFAR-MNIST CNN, Conv(3→32,k5,s2)-Conv(32→64,k3,s2)-Conv(64→128,k3,s2)-Linear.
- ``samlab_mlp``: a small ReLU MLP on flattened inputs (our single-trunk variant of paper 2's toy study).
- ``samlab_two_branch``: paper 2's toy model f(x) = v_easy·Φ_easy(x_easy) + v_hard·Φ_hard(x_hard), each Φ a
  small ReLU MLP with a scalar output, v = (v_easy, v_hard) the last layer (the classifier LSAM perturbs).
"""

from __future__ import annotations

import torch
from timm.models import register_model
from timm.models.vision_transformer import VisionTransformer
from torch import nn


class SmallCNN(nn.Module):
    def __init__(
        self,
        num_classes: int = 10,
        in_chans: int = 3,
        img_size: int | tuple = 32,
        width: int = 32,
        drop_rate: float = 0.0,
        **_,
    ):
        super().__init__()
        self.num_classes = num_classes
        self.features = nn.Sequential(
            nn.Conv2d(in_chans, width, 5, stride=2, padding=2),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(2 * width, 4 * width, 3, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.Flatten(),
        )
        with torch.no_grad():
            h, w = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)  # (H, W): dominoes are 2S×S
            self.num_features = int(self.features(torch.zeros(1, in_chans, h, w)).shape[1])
        self.head = nn.Linear(self.num_features, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int, global_pool=None) -> None:  # noqa: ARG002 - timm API
        self.num_classes = num_classes
        self.head = nn.Linear(self.num_features, num_classes)


class MLP(nn.Module):
    def __init__(
        self, num_classes: int = 2, in_chans: int = 1, img_size: int | tuple = 2, hidden: int = 128, depth: int = 2, **_
    ):
        super().__init__()
        self.num_classes = num_classes
        # images: in_chans·H·W inputs; feature vectors (PreparedData kind "features") arrive as D channels of 1×1
        size = img_size if isinstance(img_size, (tuple, list)) else (img_size, img_size)
        in_features = in_chans * int(size[0]) * int(size[-1]) if len(size) == 2 else int(size[0])
        layers: list[nn.Module] = [nn.Flatten()]
        for _ in range(depth):
            layers += [nn.Linear(in_features, hidden), nn.ReLU(inplace=True)]
            in_features = hidden
        self.features = nn.Sequential(*layers)
        self.num_features = hidden
        self.head = nn.Linear(hidden, num_classes)

    forward_features = SmallCNN.forward_features
    forward_head = SmallCNN.forward_head
    forward = SmallCNN.forward
    get_classifier = SmallCNN.get_classifier
    reset_classifier = SmallCNN.reset_classifier


class TwoBranch(nn.Module):
    """Two scalar feature branches and a 2-weight last layer; binary logistic model behind a 2-logit face.

    Pre-logits are φ = (Φ_easy, Φ_hard); f = v·φ (no bias). The logits are (−f/2, f/2), so softmax
    cross-entropy on them *is* the logistic loss log(1 + exp(−y±·f)) and λ = 1 − p(y|x) = σ(−y±·f): every
    CE-based tool (LSAM, importance weights, probes) applies unchanged. Inputs are feature vectors
    (``PreparedData`` kind "features": D channels of 1×1); ``easy_dims``/``hard_dims`` pick the columns
    (default: all but the last two are easy, the last two — the spiral — hard).
    """

    def __init__(
        self,
        num_classes: int = 2,
        in_chans: int = 3,
        img_size: int | tuple = 1,
        hidden: int = 32,
        depth: int = 2,
        easy_dims: list[int] | None = None,
        hard_dims: list[int] | None = None,
        **_,
    ):
        super().__init__()
        if num_classes != 2:
            raise ValueError(f"samlab_two_branch is a binary model (num_classes 2), got {num_classes}")
        size = img_size if isinstance(img_size, (tuple, list)) else (img_size, img_size)
        d = in_chans * int(size[0]) * int(size[-1])
        self.easy_dims = list(easy_dims) if easy_dims is not None else list(range(d - 2))
        self.hard_dims = list(hard_dims) if hard_dims is not None else [d - 2, d - 1]
        if not self.easy_dims or not self.hard_dims or max(self.easy_dims + self.hard_dims) >= d:
            raise ValueError(
                f"easy_dims {self.easy_dims} / hard_dims {self.hard_dims} must be non-empty columns of {d}"
            )
        self.num_classes, self.num_features = 2, 2
        self.register_buffer("_easy", torch.tensor(self.easy_dims), persistent=False)
        self.register_buffer("_hard", torch.tensor(self.hard_dims), persistent=False)
        self.phi_easy, self.phi_hard = (
            self._branch(len(self.easy_dims), hidden, depth),
            self._branch(len(self.hard_dims), hidden, depth),
        )
        self.head = nn.Linear(2, 1, bias=False)  # v = (v_easy, v_hard)

    @staticmethod
    def _branch(d_in: int, hidden: int, depth: int) -> nn.Sequential:
        layers: list[nn.Module] = []
        for _ in range(depth):
            layers += [nn.Linear(d_in, hidden), nn.ReLU(inplace=True)]
            d_in = hidden
        return nn.Sequential(*layers, nn.Linear(d_in, 1))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        return torch.cat(
            [self.phi_easy(x.index_select(1, self._easy)), self.phi_hard(x.index_select(1, self._hard))], 1
        )

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if pre_logits:
            return x
        f = self.head(x)
        return torch.cat([-0.5 * f, 0.5 * f], 1)

    forward = SmallCNN.forward
    get_classifier = SmallCNN.get_classifier

    def reset_classifier(self, num_classes: int, global_pool=None) -> None:  # noqa: ARG002 - timm API
        if num_classes != 2:
            raise ValueError("samlab_two_branch is a binary model")
        self.head = nn.Linear(2, 1, bias=False)


def _own_kwargs(name: str, pretrained: bool, kwargs: dict) -> dict:
    """Refuse pretrained weights (there are none) and drop timm's pretrained-config plumbing."""
    if pretrained:
        raise ValueError(f"{name} has no pretrained weights: it is trained from scratch by samlab")
    return {
        k: v
        for k, v in kwargs.items()
        if not k.startswith("pretrained_cfg") and k not in ("cache_dir", "features_only")
    }


@register_model
def samlab_vit_micro(pretrained: bool = False, **kwargs) -> VisionTransformer:
    kwargs = _own_kwargs("samlab_vit_micro", pretrained, kwargs)
    cfg = dict(
        img_size=16,
        patch_size=4,
        embed_dim=64,
        depth=4,
        num_heads=4,
        mlp_ratio=2.0,
        class_token=False,
        global_pool="avg",
        fc_norm=True,
    )
    cfg.update(kwargs)
    return VisionTransformer(**cfg)


@register_model
def samlab_cnn(pretrained: bool = False, **kwargs) -> SmallCNN:
    return SmallCNN(**_own_kwargs("samlab_cnn", pretrained, kwargs))


@register_model
def samlab_mlp(pretrained: bool = False, **kwargs) -> MLP:
    return MLP(**_own_kwargs("samlab_mlp", pretrained, kwargs))


@register_model
def samlab_two_branch(pretrained: bool = False, **kwargs) -> TwoBranch:
    return TwoBranch(**_own_kwargs("samlab_two_branch", pretrained, kwargs))
