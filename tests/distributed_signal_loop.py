"""Run under torchrun by test_distributed: the training loop's order of collectives around
mtts.run.Run (a step's all-reduce, advance, rank 0's post-step work, due and the save), with
SIGTERM reaching rank 0 during its post-step work, after the processes last agreed."""

import datetime
import os
import signal
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from mtts import distributed
from mtts.run import Run

dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=10))
rank = dist.get_rank()


def agree(s: bool, e: float) -> tuple[bool, float]:
    a, b = distributed.all_max(torch.tensor([float(s), e], dtype=torch.float64)).tolist()
    return bool(a), b


run = Run(Path(sys.argv[1]), 50, 0, 0, rank == 0, agree)
with run:
    while not run.done():
        distributed.all_sum(torch.ones(1))            # the step's all-reduces (denominators, gradients)
        run.advance()
        if rank == 0 and run.step == 3:
            os.kill(os.getpid(), signal.SIGTERM)      # while rank 0 logs or evaluates the dev set
        if run.due(1000):
            distributed.gather(0)                     # a checkpoint's gather
    distributed.gather(0)                             # the final save
print(f"rank {rank} stopped at step {run.step} by {run.stopped_by}", flush=True)
