"""One progress bar and one progress callback for every frame a morph renders.

Even spacing renders a morph in several passes (render calls) and only learns how many frames it
needs as it goes. `RenderProgress` counts frames across the calls, so the bar (and the web UI's
progress) moves forward once from 0 to 100 % instead of restarting for every pass.
"""

from __future__ import annotations

from collections.abc import Callable

ProgressCallback = Callable[[float, int], None]  # (frames done, fractional within a batch; expected total)


class RenderProgress:
    """Count rendered frames across render calls: a tqdm bar, and ``callback(done, total)`` per denoising step.

    ``total`` is the most frames the morph expects to render (for even spacing its render budget);
    it grows if a call would go past it, and on `close` it becomes the number actually rendered.
    """

    def __init__(self, total: int, callback: ProgressCallback | None = None, enabled: bool = True, desc: str = "morph"):
        from tqdm.auto import tqdm

        self.callback = callback
        self.done = 0
        self.bar = tqdm(total=total, desc=desc, unit="frame", disable=not enabled)

    @property
    def total(self) -> int:
        """Return the number of frames the bar currently expects."""
        return self.bar.total

    def expect(self, count: int) -> None:
        """Make room for ``count`` more frames (the total grows only when it must)."""
        if self.done + count > self.bar.total:
            self.bar.total = self.done + count
            self.bar.refresh()

    def batch_reporter(self, size: int) -> Callable[[float], None] | None:
        """Return ``report(fraction)`` for a batch of ``size`` frames now rendering (None without a callback)."""
        callback = self.callback
        if callback is None:
            return None
        start = self.done
        return lambda fraction: callback(start + size * min(max(fraction, 0.0), 1.0), self.bar.total)

    def skip(self, count: int) -> None:
        """Expect ``count`` fewer renders (keyframes that are images, never rendered)."""
        self.bar.total = max(self.done, self.bar.total - count)
        self.bar.refresh()

    def waiting(self) -> None:
        """Report the frames done so far while work before the renders runs (inverting keyframes):
        the page sees the run is alive, and a callback that raises (a cancel) stops it there too."""
        if not getattr(self.bar, "postfix", None):  # a disabled bar has none
            self.bar.set_postfix_str("inverting keyframes")
        if self.callback is not None:
            self.callback(self.done, self.bar.total)

    def advance(self, count: int) -> None:
        """Count ``count`` more frames as rendered."""
        if getattr(self.bar, "postfix", None):
            self.bar.set_postfix_str("", refresh=False)
        self.done += count
        self.bar.update(count)

    def close(self, finished: bool = True) -> None:
        """Close the bar; when ``finished``, first set its total (and report) the frames rendered: 100 %."""
        if finished and self.bar.total != self.done:
            self.bar.total = self.done
            self.bar.refresh()
            if self.callback is not None:
                self.callback(self.done, self.done)
        self.bar.close()

    def __enter__(self) -> RenderProgress:
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.close(finished=exc_type is None)


def step_callback_kwargs(parameters, report: Callable[[float], None] | None, steps: int) -> dict:
    """Return the backend keyword that calls ``report(fraction of the batch done)`` after each denoising step.

    ``parameters`` is the backend ``__call__``'s signature parameters: diffusers pipelines take
    ``callback_on_step_end``, the bundled pipeline ``callback(step, steps)``.
    """
    if report is None:
        return {}
    if "callback_on_step_end" in parameters:

        def on_step_end(pipe, step, timestep, tensors):
            report((step + 1) / steps)
            return tensors

        return {"callback_on_step_end": on_step_end}
    if "callback" in parameters:
        return {"callback": lambda step, _steps: report(step / steps)}
    return {}
