"""Training across processes with PyTorch's own engine: ``torchrun`` + DistributedDataParallel.

    torchrun --standalone --nproc_per_node 2 -m textclf train --config C
    torchrun --nnodes 2 --node_rank 0 --master_addr host0 --nproc_per_node 4 -m textclf train --config C

``textclf train`` notices torchrun's environment (``WORLD_SIZE`` > 1) and, without it, runs as one
process exactly as before. Under torchrun:

- the process group uses NCCL on CUDA (each process on ``cuda:LOCAL_RANK``) and gloo on CPU;
- every rank sets up the same seeded run (rank 0 prepares the data first; the others read it
  from the cache), wraps the model in DistributedDataParallel, and trains on its own share of
  each epoch's seeded batches (batch k goes to rank k mod world size; the few batches that do not
  divide evenly are left out of that epoch), so the global batch is ``world size × batch_size``;
- embedding tables train with dense gradients (DDP reduces a sparse gradient only when the table
  is used at every step, which a bag of n-grams does not promise), said in one line;
- every rank validates on the whole validation split (the same weights give the same numbers, so
  every rank makes the same best-epoch and early-stopping decisions), and the training loss and
  accuracy of an epoch are summed over the ranks;
- only rank 0 prints, shows progress, and writes the run folder, checkpoints, TensorBoard and
  MLflow; the other ranks write into a temporary folder that is removed at the end. The
  checkpoint is the same model artifact as a one-process run's.

A rank that fails takes the job down: torchrun stops the others and names the failed rank; the
process group's timeout (10 minutes) bounds any wait on a rank that hangs.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["Distributed", "current", "shutdown"]


@dataclass(frozen=True)
class Distributed:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str = ""

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def share(self, value):
        """Rank 0's ``value`` on every rank (every rank must call this at the same point)."""
        if not self.active:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def sum(self, values: list[float]) -> list[float]:
        """Each value summed over the ranks (every rank must call this at the same point)."""
        if not self.active:
            return values
        tensor = torch.tensor(values, dtype=torch.float64)
        if self.backend == "nccl":
            tensor = tensor.cuda()
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor.cpu().tolist()


_CURRENT: Distributed | None = None


def current() -> Distributed:
    """This process's place in a torchrun job (initialised on first use), or a single process."""
    global _CURRENT
    if _CURRENT is None:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            _CURRENT = Distributed()
        else:
            local = int(os.environ.get("LOCAL_RANK", "0"))
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            if backend == "nccl":
                torch.cuda.set_device(local)
            if not dist.is_initialized():
                dist.init_process_group(backend, timeout=datetime.timedelta(minutes=10))
            _CURRENT = Distributed(dist.get_rank(), dist.get_world_size(), local, backend)
    return _CURRENT


def shutdown() -> None:
    global _CURRENT
    if _CURRENT is not None and _CURRENT.active and dist.is_initialized():
        dist.destroy_process_group()
    _CURRENT = None
