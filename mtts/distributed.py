"""Devices and processes: where a training step runs, and how several `torchrun` processes
agree on it.

One process is the default and needs nothing of this. Under `torchrun` (its RANK,
WORLD_SIZE, MASTER_ADDR and MASTER_PORT in the environment) every process joins one
`torch.distributed` group (gloo on CPU, nccl on CUDA) and these helpers reduce across it;
alone, each is the identity, so the code that calls them reads the same either way. The
group's timeout bounds every collective: a process that died leaves the others an error
after at most that long, never a hang. mtts writes no launcher: torchrun (or srun around
it) starts the processes.
"""

from __future__ import annotations

import datetime
import os
import re

import torch
import torch.distributed as dist

from mtts.errors import MttsError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str) -> torch.device:
    """`auto`: CUDA when there is a GPU, else CPU; under torchrun each process takes the GPU
    of its LOCAL_RANK."""
    if name not in DEVICES:
        raise MttsError(f"--device must be one of {', '.join(DEVICES)}, got '{name}'")
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise MttsError("--device cuda: this torch sees no CUDA GPU (a CPU-only build, or no driver); "
                        "use --device cpu")
    local = int(os.environ.get("LOCAL_RANK", 0))
    if local >= torch.cuda.device_count():
        raise MttsError(f"LOCAL_RANK {local} but only {torch.cuda.device_count()} GPU(s) on this node: "
                        "start at most that many processes per node (torchrun --nproc-per-node)")
    torch.cuda.set_device(local)
    return torch.device("cuda", local)


def launched() -> bool:
    """Whether torchrun (or another torch.distributed launcher) started this process."""
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


def start(device: torch.device, timeout_s: float) -> None:
    """Join the process group torchrun describes (a no-op alone or when already joined)."""
    if not launched() or dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    try:
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s),
                                **({"device_id": device} if device.type == "cuda" else {}))
    except (RuntimeError, ValueError) as e:
        raise MttsError(f"could not join the training processes ({backend}): {first_line(e)}") from None


def stop() -> None:
    if dist.is_initialized():
        try:
            dist.destroy_process_group()
        except RuntimeError:   # after a lost peer: what is left of the group goes with the process
            pass


def first_line(e: BaseException) -> str:
    """The gist of a backend's error: its first sentence without source locations or
    addresses in brackets (gloo's `[.../pair.cc:537] Read error [127.0.0.1]:1234: ...`)."""
    text = re.sub(r"\s*\[[^\]]*\](:\d+)?", "", (str(e).strip().splitlines() or [""])[0]).strip()
    return (text.split(". ")[0].rstrip(".") or type(e).__name__)[:200]


def env_rank() -> int:
    """This process's rank as torchrun set it (0 alone), valid before and after the group."""
    try:
        return int(os.environ.get("RANK", 0))
    except ValueError:
        return 0


def world() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def is_main() -> bool:
    """Rank 0: the only process that writes checkpoints, logs, TensorBoard and plots."""
    return rank() == 0


def collective(fn, *args, **kwargs):
    """A torch.distributed call; a peer that died or timed out (gloo and nccl raise
    RuntimeError) becomes one line that says so."""
    try:
        return fn(*args, **kwargs)
    except RuntimeError as e:
        raise MttsError(f"rank {rank()} of {world()}: lost contact with another training process "
                        f"({first_line(e)}); every process stops; --resume continues from the last "
                        "checkpoint") from None


def _all_reduce(t: torch.Tensor, op) -> torch.Tensor:
    if world() == 1:
        return t
    out = t.detach().clone()
    collective(dist.all_reduce, out, op=op)
    return out


def all_sum(t: torch.Tensor) -> torch.Tensor:
    """The sum over processes of a tensor without gradient (a new tensor; `t` alone when alone)."""
    return _all_reduce(t, dist.ReduceOp.SUM)


def all_max(t: torch.Tensor) -> torch.Tensor:
    """The largest value over processes, element by element (as all_sum)."""
    return _all_reduce(t, dist.ReduceOp.MAX)


def from_main(t: torch.Tensor) -> torch.Tensor:
    """Rank 0's value of `t` on every process (e.g. a random draw that every rank must share)."""
    if world() == 1:
        return t
    out = t.detach().clone().contiguous()
    collective(dist.broadcast, out, src=0)
    return out


def gather(obj):
    """Every process's `obj` (picklable plain values and tensors), in rank order, on every process."""
    if world() == 1:
        return [obj]
    out = [None] * world()
    collective(dist.all_gather_object, out, obj)
    return out


def sum_grads(params: list[torch.Tensor]) -> None:
    """Sum the gradients of `params` over processes in one flat all-reduce.

    A parameter whose gradient is None on every process stays None (Adam then skips it, as
    it does alone); one that has a gradient anywhere gets zeros where it had none."""
    if world() == 1 or not params:
        return
    ref = params[0]
    has = all_max(torch.tensor([p.grad is not None for p in params], dtype=torch.uint8, device=ref.device))
    used = [p for p, h in zip(params, has.tolist()) if h]
    for p in used:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    if not used:
        return
    flat = torch.cat([p.grad.reshape(-1).float() for p in used])
    collective(dist.all_reduce, flat, op=dist.ReduceOp.SUM)
    i = 0
    for p in used:
        n = p.numel()
        p.grad.copy_(flat[i:i + n].view_as(p.grad))
        i += n
