"""The corruption suite: shape/dtype/range, determinism, strength growing with severity, edge cases."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from samlab.evaluate.corruptions import (
    CIFAR_PARAMS,
    CORRUPTION_NAMES,
    IMAGENET_PARAMS,
    SEVERITIES,
    SKIPPED,
    available_corruptions,
    corrupt,
    corruption_suite,
    gaussian_filter,
    jpeg_batch,
    plasma_fractal,
)

# Published constants under which pixel distance is not monotone in severity: CIFAR-10-C's elastic severity 1
# is a pure affine jitter of 8 % of the image, larger than the later severities' (whose elastic field gets
# rougher instead); glass blur's pre/post blur grows with severity and smooths away part of its pixel swaps.
NOT_MONOTONE_IN_DISTANCE = {"elastic_transform", "glass_blur"}


@pytest.fixture(scope="module")
def photos() -> torch.Tensor:
    """16 natural 32×32 RGB crops (scikit-learn's bundled photographs, downscaled): CIFAR-like statistics."""
    from sklearn.datasets import load_sample_images

    rng = np.random.default_rng(0)
    out = []
    for k in range(16):
        p = torch.from_numpy(load_sample_images().images[k % 2].copy()).permute(2, 0, 1).float()[None]
        p = F.interpolate(p, scale_factor=0.25, mode="area")[0]
        i, j = rng.integers(0, p.shape[1] - 32), rng.integers(0, p.shape[2] - 32)
        out.append(p[:, i : i + 32, j : j + 32])
    return torch.stack(out).round().to(torch.uint8)


@pytest.fixture(scope="module")
def suite(photos):
    return corruption_suite(photos, seed=3)


def test_the_suite_is_the_papers_fifteen_minus_frost_with_a_reason():
    assert len(CORRUPTION_NAMES) == 15 and set(SKIPPED) == {"frost"} and "photograph" in SKIPPED["frost"]
    assert available_corruptions() == [n for n in CORRUPTION_NAMES if n != "frost"]
    for table in (CIFAR_PARAMS, IMAGENET_PARAMS):
        assert set(table) == set(CORRUPTION_NAMES) and all(len(v) == 5 for v in table.values())
    with pytest.raises(ValueError, match="photographs"):
        corrupt(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), "frost", 1)


def test_every_corruption_keeps_shape_dtype_and_changes_the_image(photos, suite):
    assert set(suite) == {(n, s) for n in available_corruptions() for s in SEVERITIES}
    for (name, s), out in suite.items():
        assert out.shape == photos.shape and out.dtype == torch.uint8, name
        if s == 5:
            assert (out.float() - photos.float()).abs().mean() > 0.5, name


def test_strength_grows_with_severity(photos, suite):
    for name in available_corruptions():
        dist = [(suite[(name, s)].float() - photos.float()).abs().mean().item() for s in SEVERITIES]
        assert min(dist) > 0.5, (name, dist)
        if name not in NOT_MONOTONE_IN_DISTANCE:
            assert dist[4] > 1.2 * dist[0], (name, dist)
            assert all(b >= a * 0.97 for a, b in zip(dist, dist[1:])), (name, dist)


def test_deterministic_for_a_seed_and_different_across_seeds(photos):
    for name in ("gaussian_noise", "glass_blur", "snow", "fog", "elastic_transform", "motion_blur"):
        a, b, c = corrupt(photos, name, 3, seed=1), corrupt(photos, name, 3, seed=1), corrupt(photos, name, 3, seed=2)
        assert torch.equal(a, b), name
        assert not torch.equal(a, c), name


def test_grey_images_and_other_sizes(photos):
    grey = photos[:4, :1, :16, :16].contiguous()
    big = F.interpolate(photos[:2].float(), size=80, mode="bilinear").round().to(torch.uint8)  # ImageNet-C constants
    for name in available_corruptions():
        for images in (grey, big):
            out = corrupt(images, name, 5)
            assert out.shape == images.shape and out.dtype == torch.uint8, name


def test_deterministic_parts_match_hand_computation():
    x = torch.tensor([[[[0, 100], [200, 255]]]], dtype=torch.uint8)
    c = CIFAR_PARAMS["contrast"][0]  # (x - mean)·c + mean, per channel
    mean = x.float().mean() / 255
    expected = torch.floor(((x.float() / 255 - mean) * c + mean) * 255 + 1e-3)
    assert torch.equal(corrupt(x, "contrast", 1), expected.to(torch.uint8))
    grey_bright = corrupt(x, "brightness", 5)  # grey: value + 0.3, clipped
    assert grey_bright.flatten().tolist() == [76, 176, 255, 255]


def test_jpeg_is_close_to_pil_at_the_same_quality(photos):
    import io

    from PIL import Image

    for quality in (80, 40):
        ours = jpeg_batch(photos[:4].float(), quality)
        ref = []
        for img in photos[:4]:
            buf = io.BytesIO()
            Image.fromarray(img.permute(1, 2, 0).numpy()).save(buf, "JPEG", quality=quality)
            ref.append(torch.from_numpy(np.asarray(Image.open(buf))).permute(2, 0, 1).float())
        diff = (ours - torch.stack(ref)).abs()
        assert diff.mean() < 2.0, (quality, diff.mean())  # libjpeg's integer DCT rounds a little differently


def test_gaussian_filter_matches_scipy():
    from scipy.ndimage import gaussian_filter as scipy_gaussian

    x = torch.rand(1, 1, 12, 9, dtype=torch.float64)
    for sigma, mode, scipy_mode, truncate in ((0.8, "nearest", "nearest", 4.0), (5.0, "symmetric", "reflect", 3.0)):
        ours = gaussian_filter(x, sigma, truncate, mode)[0, 0].numpy()
        ref = scipy_gaussian(x[0, 0].numpy(), sigma, mode=scipy_mode, truncate=truncate)
        np.testing.assert_allclose(ours, ref, atol=1e-10)


def test_plasma_fractal_is_in_unit_range_and_bad_input_is_refused():
    maps = plasma_fractal(3, 32, 2.0, torch.Generator().manual_seed(0))
    assert maps.shape == (3, 32, 32) and maps.min() == 0 and maps.max() == 1
    with pytest.raises(ValueError, match="power of two"):
        plasma_fractal(1, 24, 2.0, torch.Generator())
    with pytest.raises(ValueError, match="severity"):
        corrupt(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), "fog", 6)
    with pytest.raises(ValueError, match="uint8"):
        corrupt(torch.zeros(1, 3, 8, 8), "fog", 1)
    with pytest.raises(ValueError, match="unknown corruption"):
        corrupt(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), "rain", 1)
