"""DDP on CPU: two gloo processes; identical weights on both ranks, equal to the single-process maths.

Without ``sync_perturbation`` each rank perturbs with its own half-batch gradient, so two ranks of 4
samples are SAM with m = 4 on the batch of 8; with it, the perturbation uses the global gradient and
the result is plain SAM on the batch of 8. Plain SGD equals full-batch SGD. ``step`` must issue one
all-reduce per update (one flat buffer per dtype), never one per tensor.
"""

from __future__ import annotations

import datetime
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from samlab.optim import create_optimizer

CASES = {
    "sgd": ("sgd", {}, {}),
    "sam": ("sam", {}, {"perturbation_batch_size": 4}),
    "sam_sync": ("sam", {"sync_perturbation": True}, {}),
    "gsam": ("gsam", {"alpha": 0.3}, {"alpha": 0.3, "perturbation_batch_size": 4}),
}
UPDATES = 2


def _data():
    g = torch.Generator().manual_seed(0)
    return torch.randn(8, 3, generator=g, dtype=torch.float64), torch.randn(8, generator=g, dtype=torch.float64)


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).double()


def _mse(out, y):
    return ((out.squeeze(1) - y) ** 2).mean()


def _train(model, name, cfg, batches, forward_model=None):
    extra = {} if name == "sgd" else {"rho": 0.3}
    opt = create_optimizer(name, model, lr=0.1, momentum=0.9, **extra, **cfg)
    for x, y in batches:
        opt.forward_backward(forward_model or model, x, y, _mse)
        opt.step()
    return [p.detach().clone() for p in model.parameters()]


def _worker(rank: int, world: int, port: int, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=world,
        timeout=datetime.timedelta(seconds=300),
    )
    calls = []
    original = dist.all_reduce

    def counting_all_reduce(tensor, *args, **kwargs):
        calls.append(tensor.numel())
        return original(tensor, *args, **kwargs)

    dist.all_reduce = counting_all_reduce
    X, y = _data()
    half = slice(rank * 4, rank * 4 + 4)
    results = {}
    for case, (name, ddp_cfg, _) in CASES.items():
        model = _model()
        ddp = nn.parallel.DistributedDataParallel(model)
        calls.clear()
        results[case] = _train(model, name, ddp_cfg, [(X[half], y[half])] * UPDATES, forward_model=ddp)
        results[case + "_calls"] = list(calls)
    # fp16: rank 1's ascent pass overflows in the first update only; both ranks must skip it together
    model = _model()
    ddp = nn.parallel.DistributedDataParallel(model)
    opt = create_optimizer(
        "sam", model, lr=0.1, momentum=0.9, rho=0.3, grad_scaler=torch.amp.GradScaler("cpu", init_scale=2.0**10)
    )
    skipped, calls_made = [], [0]

    def loss(out, t):
        calls_made[0] += 1
        value = _mse(out, t)
        return value * float("inf") if rank == 1 and calls_made[0] == 1 else value

    for _ in range(UPDATES):
        opt.forward_backward(ddp, X[half], y[half], loss)
        opt.step()
        skipped.append(opt.last_step_skipped)
    results["fp16"] = [p.detach().clone() for p in model.parameters()]
    results["fp16_skipped"] = skipped
    dist.all_reduce = original
    torch.save(results, os.path.join(out, f"rank{rank}.pt"))
    dist.barrier()
    dist.destroy_process_group()
    # Leave without running destructors: freeing the DDP reducers at return destroys the gloo process group,
    # whose destructor joins its worker thread while holding the GIL that thread may be waiting for (a
    # deadlock seen here about one run in three). The results are saved; mp.spawn only needs exit code 0.
    os._exit(0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(600)  # a 5-second test: a hung gloo rendezvous must fail, not hold CI for hours
def test_ddp_two_gloo_ranks_match_single_process_maths(tmp_path):
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    X, y = _data()
    n_params = sum(p.numel() for p in _model().parameters())
    for case, (name, _, single_cfg) in CASES.items():
        for a, b in zip(ranks[0][case], ranks[1][case]):
            assert torch.equal(a, b), case  # identical weights on both ranks
        expected = _train(_model(), name, single_cfg, [(X, y)] * UPDATES)
        for got, want in zip(ranks[0][case], expected):
            torch.testing.assert_close(got, want, atol=1e-12, rtol=0, msg=case)
        per_update = 2 if case == "sam_sync" else 1  # + the synchronised ascent gradient
        assert ranks[0][case + "_calls"] == [n_params] * (per_update * UPDATES), case
    # fp16 overflow on one rank: both skip the first update, the second equals one SAM step (m = 4)
    assert ranks[0]["fp16_skipped"] == ranks[1]["fp16_skipped"] == [True, False]
    expected = _train(_model(), "sam", {"perturbation_batch_size": 4}, [(X, y)])
    for a, b, want in zip(ranks[0]["fp16"], ranks[1]["fp16"], expected):
        assert torch.equal(a, b)
        torch.testing.assert_close(a, want, atol=1e-12, rtol=0)
