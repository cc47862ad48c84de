"""Run a small model on slices of a batch in parallel CPU threads.

The bundled UNet is small: on CPU most of one forward pass is per-operator overhead, and with
``OMP_WAIT_POLICY=PASSIVE`` (which keeps training from stalling here) every operator also pays
for waking the sleeping OpenMP threads. Giving each CPU thread its own slice of the batch, with
one intra-op thread each, skips both the wake-ups and the small parallel regions. Measured on
this 2-core machine (benchmarks/bundled_speed.py): one UNet call at batch 2 / 14 / 32 took
61 / 164 / 321 ms on 2 intra-op threads and 36 / 107 / 236 ms as 2 slices; with another process
training at the same time both ways were equal. Every sample's result is the same whichever way
it runs (a slice is the same batch-independent computation), so seeds stay reproducible.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import torch

from ..cpu import MAX_SHARDS

_pools: dict[tuple[int, int, int], ThreadPoolExecutor] = {}  # (process id, shards, threads each) -> pool
_lock = threading.Lock()


def shard_count(batch: int, threads: int | None = None) -> int:
    """Return how many slices a CPU batch of ``batch`` samples is split into (1: run as is)."""
    threads = torch.get_num_threads() if threads is None else threads
    return max(1, min(batch, threads, MAX_SHARDS))


def _pool(shards: int, threads_each: int) -> ThreadPoolExecutor:
    """Return a pool of ``shards`` started workers, each with ``threads_each`` intra-op threads."""
    key = (os.getpid(), shards, threads_each)  # a forked child has none of its parent's threads
    with _lock:
        if key not in _pools:
            # A thread takes torch's thread count once, on its first use, and keeps it; so the
            # workers are started while the count is ``threads_each``, then the caller's is restored.
            before = torch.get_num_threads()
            torch.set_num_threads(threads_each)
            try:
                pool = ThreadPoolExecutor(shards, thread_name_prefix="pixelgif-shard")
                started = threading.Barrier(shards)
                list(pool.map(lambda _: (torch.get_num_threads(), started.wait()), range(shards)))
            finally:
                torch.set_num_threads(before)
            _pools[key] = pool
        return _pools[key]


def run_sharded(forward: Callable[..., torch.Tensor], *batched: torch.Tensor, **shared) -> torch.Tensor:
    """Return ``forward(*batched, **shared)``, computed on slices of the batch in parallel threads.

    Every tensor in ``batched`` is split along its first dimension; ``shared`` is passed whole
    to every slice. Runs in the calling thread when there is one slice (one CPU thread, batch 1).
    """
    batch = batched[0].shape[0]
    threads = torch.get_num_threads()
    shards = shard_count(batch, threads)
    if shards == 1:
        return forward(*batched, **shared)
    pieces = [torch.tensor_split(tensor, shards) for tensor in batched]
    grad = torch.is_grad_enabled()  # grad mode is per thread: carry the caller's into the workers

    def run(index: int) -> torch.Tensor:
        with torch.set_grad_enabled(grad):
            return forward(*(piece[index] for piece in pieces), **shared)

    pool = _pool(shards, max(1, threads // shards))
    return torch.cat(list(pool.map(run, range(shards))))
