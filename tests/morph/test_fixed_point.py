import torch

from pixelgif.morph.fixed_point import AndersonMixing


def contraction(seed: int = 0):
    """Return g(x) = A x + b per sample (4 samples of 3x8x8), A a contraction of ratio ~0.6 with
    eigenvalues of both signs, and its fixed points."""
    gen = torch.Generator().manual_seed(seed)
    n = 3 * 8 * 8
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
    a = q @ torch.diag(torch.linspace(-0.6, 0.6, n, dtype=torch.float64)) @ q.T
    b = torch.randn(4, n, generator=gen, dtype=torch.float64)
    fixed = torch.linalg.solve(torch.eye(n, dtype=torch.float64) - a, b.T).T

    def g(x):
        return (x.reshape(x.shape[0], -1) @ a.T + b[: x.shape[0]]).reshape(x.shape)

    return g, fixed.reshape(4, 3, 8, 8)


def iterate(g, x, rounds: int, depth: int):
    mixing = AndersonMixing(depth)
    for _ in range(rounds):
        x = mixing(x, g(x))
    return x


def test_anderson_mixing_converges_faster_than_plain_iteration():
    g, fixed = contraction()
    start = torch.zeros_like(fixed)
    plain = (iterate(g, start, 4, depth=0) - fixed).abs().mean()
    mixed = (iterate(g, start, 4, depth=2) - fixed).abs().mean()
    assert mixed < plain / 2, (mixed, plain)


def test_depth_zero_is_plain_iteration_and_the_first_round_is_g():
    g, fixed = contraction(1)
    x = torch.randn(fixed.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    assert torch.equal(AndersonMixing(2)(x, g(x)), g(x))
    assert torch.equal(iterate(g, x, 3, depth=0), g(g(g(x))))


def test_each_sample_is_mixed_on_its_own():
    g, fixed = contraction(3)
    x = torch.randn(fixed.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    together = iterate(g, x, 3, depth=2)
    for i in range(x.shape[0]):
        alone = iterate(lambda y, i=i: g(torch.cat([x[:i], y, x[i + 1 :]]))[i : i + 1], x[i : i + 1], 3, depth=2)
        torch.testing.assert_close(alone, together[i : i + 1], rtol=0, atol=1e-12)


def test_iterates_that_stop_moving_give_a_finite_next_one():
    x = torch.ones(2, 3, 4, 4, dtype=torch.float64)
    mixing = AndersonMixing(2)
    for _ in range(4):
        x = mixing(x, x.clone())  # a fixed point already: every difference is zero
    assert torch.isfinite(x).all() and torch.equal(x, torch.ones_like(x))
