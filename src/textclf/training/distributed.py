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
- embedding tables keep their sparse gradients: DDP is told to leave them alone (it reduces a
  sparse gradient only when the table is used at every step, which a bag of n-grams does not
  promise) and after each backward every rank gathers the rows the others touched
  (:meth:`Distributed.average_sparse`), so each rank updates the same rows by the same mean
  gradient, as DDP does for the dense parameters;
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

from textclf.training.optimizer import coalesced

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

    def average_sparse(self, parameters: list[torch.Tensor]) -> None:
        """Replace each parameter's sparse gradient by its mean over the ranks: every rank's rows
        and values, all-gathered (padded to the longest), concatenated and divided by the world
        size (a row two ranks touched appears twice; the optimizer's coalescing sums them).
        Every rank calls this with the same parameters in the same order, at the same step."""
        if not self.active:
            return
        for p in parameters:
            grad = coalesced(p.grad) if p.grad is not None else None  # (sparse_bag's: already, unmarked)
            rows = grad.indices()[0] if grad is not None else torch.zeros(0, dtype=torch.long, device=p.device)
            values = grad.values() if grad is not None else p.new_zeros((0, *p.shape[1:]))
            count = torch.tensor([rows.numel()], device=p.device)
            counts = [torch.zeros_like(count) for _ in range(self.world_size)]
            dist.all_gather(counts, count)
            n = [int(c.item()) for c in counts]
            longest = max(n)
            if longest == 0:
                p.grad = None
                continue
            padded_rows = torch.zeros(longest, dtype=rows.dtype, device=p.device)
            padded_rows[: rows.numel()] = rows
            padded_values = values.new_zeros((longest, *values.shape[1:]))
            padded_values[: rows.numel()] = values
            all_rows = [torch.empty_like(padded_rows) for _ in range(self.world_size)]
            all_values = [torch.empty_like(padded_values) for _ in range(self.world_size)]
            dist.all_gather(all_rows, padded_rows)
            dist.all_gather(all_values, padded_values)
            rows = torch.cat([r[:k] for r, k in zip(all_rows, n)])
            values = torch.cat([v[:k] for v, k in zip(all_values, n)]) / self.world_size
            p.grad = torch.sparse_coo_tensor(rows[None], values, p.shape, check_invariants=False)


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
