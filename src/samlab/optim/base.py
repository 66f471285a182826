"""Base optimizers that torch lacks: SGD with decoupled weight decay (docs/science.md §1)."""

from __future__ import annotations

import torch


class SGDW(torch.optim.SGD):
    """SGD with decoupled weight decay: w ← w·(1 − lr·wd), then torch's SGD (momentum) step.

    The decay lives under the group key ``decoupled_weight_decay`` (torch's own ``weight_decay`` is
    the coupled L2 form and stays 0), so per-group decay (none for biases/norms) and LR schedulers work.
    """

    def __init__(self, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0, nesterov: bool = False):
        self._decoupled_default = float(weight_decay)
        super().__init__(params, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=0.0)
        self.defaults["decoupled_weight_decay"] = self._decoupled_default

    def add_param_group(self, param_group: dict) -> None:
        if "decoupled_weight_decay" not in param_group:
            param_group["decoupled_weight_decay"] = float(param_group.get("weight_decay", self._decoupled_default))
        param_group["weight_decay"] = 0.0
        super().add_param_group(param_group)

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            wd = group["decoupled_weight_decay"]
            if wd:
                params = [p for p in group["params"] if p.grad is not None]
                if params:
                    torch._foreach_mul_(params, 1.0 - group["lr"] * wd)
        return super().step(closure)
