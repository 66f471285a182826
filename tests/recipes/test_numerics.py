"""Hand computations for what the recipes add: BCE (sum over classes, mean over the batch), label smoothing,
the paper's ViT-S/32 (no class token, average pool + fc_norm, zero head with bias −10, JAX init), and the
pre-trained backbone under a new head."""

import math

import pytest
import torch

from samlab.models import create_model, load_backbone
from samlab.train.losses import create_loss

VIT = {
    "name": "vit_small_patch32_224",
    "class_token": False,
    "global_pool": "avg",
    "fc_norm": True,
    "weight_init": "jax",
    "head_init": {"weight": 0.0, "bias": -10.0},
    "img_size": 32,
    "patch_size": 8,
    "embed_dim": 16,
    "depth": 1,
    "num_heads": 2,
}


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_bce_sums_over_classes_and_averages_over_the_batch():
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]])
    y = torch.tensor([0, 2])
    # −log σ(z) = softplus(−z) for the true class, −log(1 − σ(z)) = softplus(z) for the others
    by_hand = ((softplus(-2.0) + softplus(-1.0) + softplus(0.5)) + (softplus(0.0) + softplus(3.0) + softplus(2.0))) / 2
    assert float(create_loss("bce")(logits, y)) == pytest.approx(by_hand, rel=1e-6)


def test_label_smoothing_by_hand_for_ce_and_bce():
    logits = torch.tensor([[1.0, 0.0, -1.0]])
    y = torch.tensor([1])
    s, c = 0.1, 3
    logp = torch.log_softmax(logits, 1)[0].tolist()
    q = [s / c, 1 - s + s / c, s / c]
    assert float(create_loss("ce", s)(logits, y)) == pytest.approx(-sum(qi * li for qi, li in zip(q, logp)), rel=1e-6)
    # BCE: target on = 1 − s + s/C, off = s/C; per class t·softplus(−z) + (1 − t)·softplus(z)
    z = [1.0, 0.0, -1.0]
    by_hand = sum(t * softplus(-zi) + (1 - t) * softplus(zi) for t, zi in zip(q, z))
    assert float(create_loss("bce", s)(logits, y)) == pytest.approx(by_hand, rel=1e-6)


def test_paper_vit_starts_with_a_zero_head_biased_to_minus_ten():
    torch.manual_seed(0)
    model = create_model(num_classes=5, in_chans=3, **{k: v for k, v in VIT.items() if k != "name"}, name=VIT["name"])
    assert model.cls_token is None and model.global_pool == "avg" and isinstance(model.fc_norm, torch.nn.LayerNorm)
    assert torch.all(model.head.weight == 0) and torch.all(model.head.bias == -10.0)
    fc1_bias = model.blocks[0].mlp.fc1.bias
    assert 0 < fc1_bias.abs().max() < 1e-5  # JAX init: MLP biases N(0, 1e-6), not timm's zeros
    qkv = model.blocks[0].attn.qkv.weight  # xavier-uniform bound sqrt(6 / (fan_in + fan_out))
    assert qkv.abs().max() <= math.sqrt(6 / (qkv.shape[0] + qkv.shape[1]))
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        logits = model(x)
    assert torch.all(logits == -10.0)  # every image starts at σ(−10) for every class
    loss = create_loss("bce")(logits, torch.tensor([0, 1, 2, 3]))
    assert loss.item() == pytest.approx(softplus(10.0) + 4 * softplus(-10.0), rel=1e-6)


def test_backbone_from_a_checkpoint_under_a_new_head():
    torch.manual_seed(0)
    source = create_model("resnet10t", num_classes=7, in_chans=3)
    checkpoint = {"model_config": {"name": "resnet10t"}, "state_dict": source.state_dict()}
    torch.manual_seed(1)
    target = create_model("resnet10t", num_classes=3, in_chans=3)
    fresh_head = target.fc.weight.clone()
    load_backbone(target, checkpoint)
    for key, value in source.state_dict().items():
        if not key.startswith("fc."):
            assert torch.equal(target.state_dict()[key], value), key
    assert torch.equal(target.fc.weight, fresh_head) and target.fc.weight.shape == (3, target.fc.in_features)
    with pytest.raises(ValueError, match="does not fit"):
        load_backbone(create_model("resnet18", num_classes=3, in_chans=3), checkpoint)
