"""Distributed data parallel through torchrun, PyTorch's own launcher.

``torchrun --nproc-per-node N -m zslbench run ...`` sets ``RANK``/``WORLD_SIZE``;
:func:`init_from_env` then joins the process group (NCCL on CUDA, gloo on CPU).
Everything here degrades to a no-op in a single process, so the engine calls
these helpers unconditionally.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import nn


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    return rank() == 0


def init_from_env(device_type: str) -> bool:
    """Join the process group when launched by torchrun; return whether we are distributed."""
    if is_distributed():
        return True
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    backend = "nccl" if device_type == "cuda" else "gloo"
    dist.init_process_group(backend=backend)
    if device_type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return True


def local_device(device: torch.device) -> torch.device:
    """Under torchrun each process drives the GPU of its local rank."""
    if device.type == "cuda" and is_distributed():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def shutdown() -> None:
    if is_distributed():
        dist.destroy_process_group()


def barrier() -> None:
    if is_distributed():
        dist.barrier()


class _LossForward(nn.Module):
    """Routes ``forward`` to ``training_losses`` so DDP's gradient hooks see the call."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, images, targets, class_attributes):
        return self.model.training_losses(images, targets, class_attributes)


def wrap_model(model: nn.Module, device: torch.device) -> nn.Module:
    """A callable ``(images, targets, class_attributes) -> losses``; DDP-wrapped under torchrun."""
    wrapper = _LossForward(model)
    if not is_distributed():
        return wrapper
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    # Unused parameters exist legitimately (heads-only warm-up, variants that skip a branch).
    return DistributedDataParallel(wrapper, device_ids=ids, find_unused_parameters=True)


def train_sampler(dataset, seed: int, epoch: int):
    """The training sampler of this process: a seeded shuffle, split across ranks under torchrun.

    ``DistributedSampler`` with explicit ``num_replicas``/``rank`` also serves the
    single-process case, so one process and N processes see the same permutation.
    """
    from torch.utils.data.distributed import DistributedSampler

    sampler = DistributedSampler(dataset, num_replicas=world_size(), rank=rank(), shuffle=True,
                                 seed=seed, drop_last=False)
    sampler.set_epoch(epoch)
    return sampler


def broadcast_object(obj):
    """Rank 0's ``obj`` on every rank (e.g. the run directory name)."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def shard_indices(n: int) -> list[int]:
    """This rank's share of ``n`` evaluation items, without the padding DistributedSampler adds."""
    return list(range(rank(), n, world_size()))


def gather_rows(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Concatenate each tensor's rows from every rank (uneven shards allowed)."""
    if not is_distributed():
        return tensors
    gathered: list = [None] * world_size()
    dist.all_gather_object(gathered, [t.cpu() for t in tensors])
    device = tensors[0].device
    return tuple(torch.cat([part[i] for part in gathered]).to(device) for i in range(len(tensors)))


def sum_across_ranks(value: float | int | torch.Tensor) -> float:
    if not is_distributed():
        return float(value)
    t = torch.tensor(float(value), dtype=torch.float64)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t)
    return float(t)


def mean_across_ranks(value: float | torch.Tensor) -> float:
    return sum_across_ranks(value) / world_size()
