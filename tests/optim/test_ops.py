"""The step's list helpers (``optim/_ops.py``): CPU blocks, the in-place write of w + e, squared norms."""

from __future__ import annotations

import pytest
import torch

from samlab.optim import _ops


@pytest.fixture
def one_thread_blocks_of_4(monkeypatch):
    """Blocks of 4 elements: ``SLICE_PER_THREAD`` × threads with one thread."""
    monkeypatch.setattr(_ops, "SLICE_PER_THREAD", 4)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)


def _lists(sizes: list[int]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    a = [torch.arange(n, dtype=torch.float64).reshape(n, 1) + 100 * i for i, n in enumerate(sizes)]
    return a, [-t for t in a]


def test_blocks_cut_big_tensors_group_small_ones_and_cover_every_element_once(one_thread_blocks_of_4):
    a, b = _lists([3, 2, 9, 1, 4])
    found = list(_ops.blocks(a, b))
    # 3 and 2 do not fit together; 9 is cut 4 + 4 + 1; 1 and 4 do not fit together
    assert [[t.numel() for t in x] for x, _ in found] == [[3], [2], [4], [4], [1], [1], [4]]
    flat = torch.cat([t.reshape(-1) for x, _ in found for t in x])
    assert torch.equal(flat, torch.cat([t.reshape(-1) for t in a]))  # every element once, in order
    assert all(torch.equal(-x[i], y[i]) for x, y in found for i in range(len(x)))  # the same cut of b
    for x, y in found:  # views: writing into a block writes into the tensors
        torch._foreach_add_(x, y)
    assert all(torch.equal(t, torch.zeros_like(t)) for t in a)


def test_small_tensors_share_a_block_up_to_its_size(one_thread_blocks_of_4):
    a, b = _lists([1, 2, 1, 3])
    assert [[t.numel() for t in x] for x, _ in _ops.blocks(a, b)] == [[1, 2, 1], [3]]


@pytest.mark.parametrize(
    "make",
    [
        lambda t: t.t(),  # not contiguous
        lambda t: t.half(),  # not a BLAS dtype
        lambda t: t.to(torch.float32),  # dtypes mixed with the float64 list
    ],
)
def test_blocks_are_the_whole_lists_off_the_cpu_fast_path(one_thread_blocks_of_4, make):
    a = [torch.ones(3, 5, dtype=torch.float64), make(torch.ones(5, 3, dtype=torch.float64))]
    b = [torch.ones(3, 5, dtype=torch.float64), torch.ones_like(a[1])]
    (block,) = list(_ops.blocks(a, b))
    assert block[0] is a and block[1] is b


def test_write_over_writes_base_plus_coef_times_dst_in_its_own_tensors():
    coef = torch.tensor(0.5, dtype=torch.float64)
    dst = [torch.tensor([1.0, -2.0], dtype=torch.float64), torch.tensor([[4.0]], dtype=torch.float64)]
    base = [torch.tensor([10.0, 20.0], dtype=torch.float64), torch.tensor([[30.0]], dtype=torch.float64)]
    ptrs = [t.data_ptr() for t in dst]
    out = _ops.write_over(dst, base, coef)
    assert out is dst and [t.data_ptr() for t in out] == ptrs
    assert out[0].tolist() == [10.5, 19.0] and out[1].tolist() == [[32.0]]
    assert base[0].tolist() == [10.0, 20.0]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16])
def test_square_terms_sum_to_the_squared_norm(dtype):
    ts = [torch.tensor([3.0, 4.0], dtype=dtype), torch.tensor([[1.0, 2.0]], dtype=dtype)]
    terms = _ops.square_terms(ts)
    assert len(terms) == (2 if dtype == torch.float64 else 1)  # per tensor by BLAS dot, else one term
    assert float(torch.stack(terms).sum()) == pytest.approx(30.0)
