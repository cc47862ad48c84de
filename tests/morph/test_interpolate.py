"""Unit tests of the interpolation math: slerp, lerp, easing and the frame schedule."""

import math

import pytest
import torch

from pixelgif.morph.interpolate import lerp, slerp
from pixelgif.morph.schedule import ease_in_out, frame_schedule, get_easing, keyframe_indices, num_frames


def _unit(*shape, seed=0):
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(seed))
    return x / x.norm()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.float64])
def test_slerp_endpoints_are_exact(dtype):
    a = torch.randn(4, 8, 8, generator=torch.Generator().manual_seed(1)).to(dtype)
    b = torch.randn(4, 8, 8, generator=torch.Generator().manual_seed(2)).to(dtype)
    assert torch.equal(slerp(a, b, 0.0), a)
    assert torch.equal(slerp(a, b, 1.0), b)
    assert torch.equal(slerp(a, b, 0.0, dim=-1), a)
    assert slerp(a, b, 0.3).dtype == dtype


def test_slerp_keeps_unit_norm_for_unit_inputs():
    a, b = _unit(256, seed=1), _unit(256, seed=2)
    for t in torch.linspace(0, 1, 11).tolist():
        assert slerp(a, b, t).norm().item() == pytest.approx(1.0, abs=1e-5)


def test_slerp_per_row_keeps_each_row_unit():
    a = torch.nn.functional.normalize(torch.randn(5, 16, generator=torch.Generator().manual_seed(3)), dim=-1)
    b = torch.nn.functional.normalize(torch.randn(5, 16, generator=torch.Generator().manual_seed(4)), dim=-1)
    out = slerp(a, b, 0.4, dim=-1)
    assert torch.allclose(out.norm(dim=-1), torch.ones(5), atol=1e-5)
    # Along dim 0 the same rows are the columns: the result must agree after a transpose.
    assert torch.allclose(slerp(a.T, b.T, 0.4, dim=0).T, out, atol=1e-6)


def test_slerp_follows_the_great_circle():
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    out = slerp(a, b, 1 / 3)
    assert torch.allclose(out, torch.tensor([math.cos(math.pi / 6), math.sin(math.pi / 6)]), atol=1e-6)


def test_slerp_parallel_inputs_are_finite_and_match_lerp():
    a = _unit(64, seed=5)
    b = a * 2.0  # same direction, different norm
    for t in (0.25, 0.5, 0.75):
        out = slerp(a, b, t)
        assert torch.isfinite(out).all()
        assert torch.allclose(out, lerp(a, b, t), atol=1e-6)
    assert torch.equal(slerp(a, a.clone(), 0.5), a)


def test_slerp_nearly_parallel_inputs_are_finite():
    a = _unit(64, seed=6)
    b = a + 1e-9 * _unit(64, seed=7)
    out = slerp(a, b, 0.5)
    assert torch.isfinite(out).all()
    assert out.norm().item() == pytest.approx(1.0, abs=1e-5)


def test_slerp_antiparallel_inputs_keep_norm_and_are_finite():
    a = _unit(32, seed=8)
    for t in (0.1, 0.5, 0.9):
        out = slerp(a, -a, t)
        assert torch.isfinite(out).all()
        assert out.norm().item() == pytest.approx(1.0, abs=1e-5)
    # Halfway it is orthogonal to both ends.
    assert torch.dot(slerp(a, -a, 0.5), a).abs().item() < 1e-5


def test_slerp_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        slerp(torch.zeros(3), torch.zeros(4), 0.5)


def test_lerp_endpoints_and_midpoint():
    a, b = torch.tensor([1.0, 2.0]), torch.tensor([3.0, 6.0])
    assert torch.equal(lerp(a, b, 0), a)
    assert torch.equal(lerp(a, b, 1), b)
    assert torch.allclose(lerp(a, b, 0.5), torch.tensor([2.0, 4.0]))


def test_easings():
    assert ease_in_out(0.0) == 0.0 and ease_in_out(1.0) == 1.0
    assert ease_in_out(0.5) == pytest.approx(0.5)
    assert ease_in_out(0.1) < 0.1 and ease_in_out(0.9) > 0.9
    assert get_easing("linear")(0.3) == 0.3
    with pytest.raises(ValueError, match="linear, ease-in-out"):
        get_easing("bounce")


@pytest.mark.parametrize("keyframes", [2, 3, 5])
@pytest.mark.parametrize("frames", [2, 4, 7])
@pytest.mark.parametrize("loop", [False, True])
def test_frame_counts(keyframes, frames, loop):
    plan = frame_schedule(keyframes, frames, loop=loop)
    expected = keyframes * frames if loop else (keyframes - 1) * frames + 1
    assert len(plan) == expected == num_frames(keyframes, frames, loop)
    assert [p.index for p in plan] == list(range(expected))


@pytest.mark.parametrize("easing", ["linear", "ease-in-out"])
def test_each_segment_starts_exactly_on_its_keyframe(easing):
    plan = frame_schedule(3, 4, loop=True, easing=easing)
    firsts = plan[0::4]
    assert [(p.start, p.t) for p in firsts] == [(0, 0.0), (1, 0.0), (2, 0.0)]
    assert keyframe_indices(plan) == [0, 4, 8]
    # Only the segment's first frame has t == 0: no keyframe is repeated at a join.
    assert all(0.0 < p.t < 1.0 for p in plan if p.index % 4)


def test_schedule_without_loop_ends_on_last_keyframe_and_never_repeats():
    plan = frame_schedule(3, 3)
    assert [(p.start, p.end) for p in plan] == [(0, 1)] * 3 + [(1, 2)] * 3 + [(2, 2)]
    assert keyframe_indices(plan) == [0, 3, 6]
    pairs = [(p.start, p.end, p.t) for p in plan]
    assert len(set(pairs)) == len(pairs)


def test_schedule_with_loop_returns_to_first_keyframe():
    plan = frame_schedule(2, 3, loop=True)
    assert [(p.start, p.end) for p in plan] == [(0, 1)] * 3 + [(1, 0)] * 3
    assert plan[-1].t == pytest.approx(2 / 3)


def test_noise_is_continuous_at_joins():
    # Each keyframe has one latent; a segment's last frame is one step from the next keyframe.
    latents = [torch.randn(4, 8, 8, generator=torch.Generator().manual_seed(s)) for s in range(3)]
    plan = frame_schedule(3, 8)
    frames = [slerp(latents[p.start], latents[p.end], p.t) for p in plan]
    steps = [(frames[i + 1] - frames[i]).norm().item() for i in range(len(frames) - 1)]
    assert max(steps) < 2.0 * min(steps)  # no jump at frame 8 (the join)
    assert torch.equal(frames[8], latents[1])


def test_schedule_rejects_bad_counts():
    with pytest.raises(ValueError, match="at least 2 keyframes"):
        frame_schedule(1, 4)
    with pytest.raises(ValueError, match="at least 1"):
        frame_schedule(2, 0)
