"""Small foreach helpers shared by the step, ASAM and GSAM: lists of tensors in, 0-dim device tensors out.

Nothing here reads a value to the host: norms, dot products and coefficients stay 0-dim tensors on the
parameters' device, so the host can queue the whole step without waiting for the device.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

EPS = 1e-12
# Elements per thread in one CPU block (``blocks``): 2^16 float32 = 256 KiB per list, so the lists an
# elementwise chain touches stay in a core's L2 cache between its operations, and a block is still long
# enough for the Python call overhead not to count (2^15-2^17 measured, docs/optimizers.md).
SLICE_PER_THREAD = 1 << 16


def _acc_dtype(t: Tensor) -> torch.dtype:
    return torch.float64 if t.dtype == torch.float64 else torch.float32  # fp16/bf16 reduce in fp32


def global_norm(tensors: list[Tensor]) -> Tensor:
    """One L2 norm over all tensors (0-dim; float32, or float64 for float64 tensors)."""
    if not tensors:
        return torch.zeros(())
    if _blas_dot(tensors):
        return _dots(tensors, tensors).sqrt()
    norms = torch._foreach_norm(tensors, 2, dtype=_acc_dtype(tensors[0]))
    device = norms[0].device
    if any(n.device != device for n in norms):  # parameters spread over devices (rare)
        norms = [n.to(device) for n in norms]
    return torch.linalg.vector_norm(torch.stack(norms))


def square_terms(tensors: list[Tensor]) -> list[Tensor]:
    """0-dim terms whose sum is Σ‖t‖² (one per tensor by BLAS ``dot`` on the CPU, else one term): for a
    squared norm accumulated over ``blocks``, summed once at the end (``torch.stack(terms).sum()``)."""
    if _blas_dot(tensors):
        return _dot_terms(tensors, tensors)
    return [global_norm(tensors).square()]


def global_dot(a: list[Tensor], b: list[Tensor]) -> Tensor:
    """Σ ⟨a_i, b_i⟩ over aligned lists (0-dim). torch has no foreach dot product: one ``vdot`` per tensor
    reads each pair once and allocates nothing parameter-sized (a product list would)."""
    if _blas_dot(a + b):
        return _dots(a, b)
    dtype = _acc_dtype(a[0])
    dots = [torch.vdot(x.reshape(-1).to(dtype), y.reshape(-1).to(dtype)) for x, y in zip(a, b)]
    device = dots[0].device
    return torch.stack([d.to(device) for d in dots]).sum()


def _blas_dot(tensors: list[Tensor]) -> bool:
    """Whether the sums of products go to BLAS ``dot``: contiguous CPU tensors, all float32 or all float64.

    Why: torch's CPU 2-norm of a whole tensor runs on one thread (its fast path splits the work by output,
    and a full reduction has one), BLAS ``dot`` on all of them: at 2 threads a norm of resnet18's
    parameters takes 4.3 ms against 2.1 ms (docs/optimizers.md). On a GPU ``_foreach_norm`` is one fused
    kernel, where a loop would launch one per tensor."""
    if not tensors:
        return False
    dtype = tensors[0].dtype
    if dtype not in (torch.float32, torch.float64):
        return False
    return all(t.device.type == "cpu" and t.dtype == dtype and t.is_contiguous() for t in tensors)


def _dot_terms(a: list[Tensor], b: list[Tensor]) -> list[Tensor]:
    """⟨a_i, b_i⟩ by BLAS ``dot``, one 0-dim tensor per pair (``_blas_dot`` lists; no host read)."""
    return [torch.dot(x.view(-1), y.view(-1)) for x, y in zip(a, b)]


def _dots(a: list[Tensor], b: list[Tensor]) -> Tensor:
    """Σ ⟨a_i, b_i⟩ by BLAS ``dot`` (0-dim)."""
    return torch.stack(_dot_terms(a, b)).sum()


def add_scaled_(dst: list[Tensor], src: list[Tensor], coef: Tensor) -> None:
    """dst ← dst + coef·src with coef a 0-dim tensor (no host read); one pass, no temporary."""
    torch._foreach_addcmul_(dst, src, [coef] * len(dst))


def add_scaled(base: list[Tensor], src: list[Tensor], coef: Tensor | float) -> list[Tensor]:
    """``add_scaled_`` out of place: new tensors base + coef·src, one pass that reads both and writes the
    result, where filling a kept buffer takes two (a copy of base, then ``add_scaled_``)."""
    if isinstance(coef, Tensor):
        return torch._foreach_addcmul(base, src, [coef] * len(base))
    return torch._foreach_add(base, src, alpha=coef)


def write_over(dst: list[Tensor], base: list[Tensor], coef: Tensor) -> list[Tensor]:
    """dst ← base + coef·dst in dst's own tensors (coef a 0-dim tensor); returns dst. One pass, nothing
    allocated.

    Why in place: a new tensor costs the CPU a read of each cache line before it is written (about 3 ms
    more than this for resnet18's parameters at 1 thread, docs/optimizers.md). torch has no foreach operation with
    ``out=``; the foreach multiply-add with a 0-dim coefficient runs tensor by tensor anyway (its fast path
    needs equal shapes), so this loop launches no more kernels on a GPU."""
    for d, b in zip(dst, base):
        torch.addcmul(b, d, coef, out=d)
    return dst


def blocks(*lists: list[Tensor]) -> Iterator[tuple[list[Tensor], ...]]:
    """Aligned lists in blocks for a chain of elementwise operations and reductions.

    On the CPU (``_blas_dot`` lists): blocks of about ``SLICE_PER_THREAD`` × threads elements, a big tensor
    cut into flat slices and small ones grouped whole, the same cut in every list. A chain run block by
    block reads each list from memory once, where run list by list each operation reads it again (ASAM,
    docs/optimizers.md). Elsewhere: the whole lists, one block (a GPU's foreach kernels already see all)."""
    if not _blas_dot([t for ts in lists for t in ts]):
        yield lists
        return
    size = SLICE_PER_THREAD * torch.get_num_threads()
    group: list[int] = []
    filled = 0
    for i, t in enumerate(lists[0]):
        numel = t.numel()
        if group and (filled + numel > size or numel > size):
            yield tuple([ts[j] for j in group] for ts in lists)
            group, filled = [], 0
        if numel > size:
            flats = [ts[i].view(-1) for ts in lists]
            for start in range(0, numel, size):
                yield tuple([flat[start : start + size]] for flat in flats)
        else:
            group.append(i)
            filled += numel
    if group:
        yield tuple([ts[j] for j in group] for ts in lists)


def grads_of(params: list[Tensor]) -> list[Tensor]:
    """The gradients autograd handed over (zeros for a parameter that received none)."""
    return [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]


def owned_grads(params: list[Tensor]) -> list[Tensor]:
    """``p.grad`` of every parameter, attaching zeros where autograd handed over none."""
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    return [p.grad for p in params]


def set_grads(params: list[Tensor], grads: list[Tensor]) -> None:
    """``p.grad = t`` for each pair: hands the step's own tensors over as the gradients (pointers, no copy)."""
    for p, t in zip(params, grads):
        p.grad = t


def release_grads(params: list[Tensor]) -> None:
    """``p.grad = None``: the next backward hands over a fresh tensor instead of adding into this one."""
    for p in params:
        p.grad = None
