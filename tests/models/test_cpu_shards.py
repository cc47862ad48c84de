"""Batch slices in parallel CPU threads: same results as one call, caller's thread count untouched."""

import threading

import pytest
import torch

from pixelgif.models.bundled import cpu_shards
from pixelgif.models.bundled.cpu_shards import run_sharded, shard_count


@pytest.mark.parametrize(
    "batch, threads, expected",
    [(1, 2, 1), (2, 2, 2), (32, 2, 2), (32, 1, 1), (3, 8, 3), (32, 16, cpu_shards.MAX_SHARDS)],
)
def test_shard_count(batch, threads, expected):
    assert shard_count(batch, threads) == expected


def test_sharded_forward_matches_one_call_and_keeps_thread_count():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(4, 8, 3, padding=1)
    scale = torch.tensor(0.5)
    x, context = torch.randn(7, 4, 8, 8), torch.randn(7, 8, 1, 1)
    seen = set()

    def forward(sample, ctx, factor):
        seen.add(threading.current_thread().name)
        return conv(sample) * factor + ctx

    before = torch.get_num_threads()
    with torch.no_grad():
        whole = forward(x, context, factor=scale)
        sliced = run_sharded(forward, x, context, factor=scale)
    assert sliced.shape == whole.shape == (7, 8, 8, 8)
    torch.testing.assert_close(sliced, whole)
    assert torch.get_num_threads() == before
    if shard_count(7) > 1:
        assert any(name.startswith("pixelgif-shard") for name in seen)
        assert not sliced.requires_grad  # the caller's no_grad reached the worker threads


def test_sharded_forward_keeps_grad_mode():
    weight = torch.ones(3, requires_grad=True)
    out = run_sharded(lambda x: x * weight, torch.arange(6.0).reshape(2, 3))
    out.sum().backward()
    torch.testing.assert_close(weight.grad, torch.tensor([3.0, 5.0, 7.0]))


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_a_forked_child_gets_its_own_workers():
    import multiprocessing

    x = torch.arange(8.0).reshape(4, 2)
    run_sharded(lambda t: t * 2, x)  # the parent's pool exists before the fork
    context = multiprocessing.get_context("fork")
    with context.Pool(1) as pool:
        result = pool.apply_async(_double_in_slices, (x,)).get(timeout=60)  # would hang on the parent's dead pool
    torch.testing.assert_close(result, x * 2)


def _double_in_slices(x):
    return run_sharded(lambda t: t * 2, x)
