"""Gradient-based aggregation through torchjd: the Jacobian of the task losses with
respect to the shared encoder's parameters is reduced to one update by an aggregator
(PCGrad, CAGrad, MGDA, UPGrad, Nash-MTL). Task heads get their own gradients as usual.
A task reaches the shared transformer through the phoneme encoding h or the character
pass h_chars (g2p); both are features of one `mtl_backward`, so every such task is a row
of the Jacobian over the parameters behind them. A task whose loss never reaches the
encoder (a detached head) is backpropagated apart, with its static weight: its Jacobian
row would be zero and stall MGDA-like methods.

Under several processes each one's Jacobian is of its share of the global batch's losses;
they are summed (one all-reduce) before the aggregator sees them, so every process
aggregates the global batch's Jacobian into the same update of the shared parameters,
which are then left out of the trainer's gradient sum (`reduced`)."""

from __future__ import annotations

import numpy as np
import torch

from mtts import distributed
from mtts.mtl.base import WeightingMethod


def make_aggregator(name: str, n_tasks: int, **opts):
    from torchjd import aggregation as A  # heavy import, only for these methods
    table = {
        "pcgrad": lambda: A.PCGrad(),
        "cagrad": lambda: A.CAGrad(c=opts.get("c", 0.4)),
        "mgda": lambda: A.MGDA(),
        "upgrad": lambda: A.UPGrad(),
        "nashmtl": lambda: A.NashMTL(n_tasks=n_tasks, **opts),
    }
    return table[name]()


class JacobianMethod(WeightingMethod):
    aggregator_name: str = ""

    def __init__(self, weights: dict[str, float], **opts):
        super().__init__(weights)
        self.opts = opts
        self._agg = {}

    def backward(self, losses: dict[str, torch.Tensor], shared: dict[str, torch.Tensor]) -> dict[str, float]:
        from torchjd.autojac import jac_to_grad, mtl_backward
        self.reduced = []
        route = {k: self.route(k) for k in losses}
        private = [k for k in losses if route[k] is None]
        tasks = [k for k in losses if route[k] is not None]
        if private:
            sum(self.static[k] * losses[k] for k in private).backward(retain_graph=bool(tasks))
        weights = {k: self.static[k] for k in private}
        if not tasks:
            return weights
        if len(tasks) == 1:  # e.g. a lexicon batch: g2p alone
            (self.static[tasks[0]] * losses[tasks[0]]).backward()
            return {**weights, tasks[0]: self.static[tasks[0]]}
        key = tuple(tasks)
        if key not in self._agg:  # one aggregator per task subset (Nash-MTL sizes itself)
            self._agg[key] = make_aggregator(self.aggregator_name, len(tasks), **self.opts)
        outputs = list(dict.fromkeys(route[k] for k in tasks))      # h, h_chars: those this batch reaches
        features = list({id(shared[o]): shared[o] for o in outputs}.values())   # mtl_backward refuses repeats
        params = list({id(p): p for o in outputs for p in self.shared_params[o]}.values())
        # heads may share graph beyond h (recognition reads the mel decoder's states), so
        # each task's backward must leave the graph in place for the next
        mtl_backward([self.static[k] * losses[k] for k in tasks], features=features, shared_params=params,
                     retain_graph=True)
        if distributed.world() > 1:
            jacs = [p.jac for p in params if getattr(p, "jac", None) is not None]
            flat = distributed.all_sum(torch.cat([j.reshape(j.shape[0], -1) for j in jacs], dim=1))
            i = 0
            for j in jacs:
                n = j[0].numel()
                j.copy_(flat[:, i:i + n].view_as(j))
                i += n
            self.reduced = [p for p in params if getattr(p, "jac", None) is not None]
        w = jac_to_grad(params, self._agg[key])
        if w is not None:
            weights.update({k: float(w[i]) for i, k in enumerate(tasks)})
        else:
            weights.update({k: float("nan") for k in tasks})  # aggregator without explicit weights
        return weights


def _method(name: str) -> type[JacobianMethod]:
    return type(f"{name.capitalize()}Method", (JacobianMethod,), {"name": name, "aggregator_name": name})


PCGradMethod = _method("pcgrad")
CAGradMethod = _method("cagrad")
MGDAMethod = _method("mgda")
UPGradMethod = _method("upgrad")


class NashMTLMethod(JacobianMethod):
    """Nash-MTL's aggregator keeps state between steps: its last weights start the next
    bargaining and its step counter paces `update_weights_every`. It goes into the state_dict
    as extra state of tensors and numbers (checkpoints are read with weights_only=True), so
    --resume continues it."""
    name = aggregator_name = "nashmtl"

    def __init__(self, weights: dict[str, float], max_norm: float = 1.0, update_weights_every: int = 1,
                 optim_niter: int = 20):   # torchjd's defaults
        super().__init__(weights, max_norm=max_norm, update_weights_every=update_weights_every,
                         optim_niter=optim_niter)

    def get_extra_state(self) -> dict:
        return {"aggregators": [
            {"tasks": list(key), "step": float(agg.weighting.step),
             "alpha": torch.from_numpy(np.array(agg.weighting.prvs_alpha)),
             "normalization": torch.from_numpy(np.array(agg.weighting.normalization_factor))}
            for key, agg in self._agg.items()]}

    def set_extra_state(self, state: dict) -> None:
        self._agg = {}
        for saved in state["aggregators"]:
            key = tuple(saved["tasks"])
            agg = make_aggregator(self.aggregator_name, len(key), **self.opts)
            weighting = agg.weighting    # torchjd's _NashMTLWeighting: these are all its state
            weighting.step = saved["step"]
            weighting.prvs_alpha = saved["alpha"].numpy().copy()
            weighting.normalization_factor = saved["normalization"].numpy().copy()
            if weighting.step > 0:   # the solver's problem is built at the first call, which has passed
                weighting._init_optim_problem()
            self._agg[key] = agg
