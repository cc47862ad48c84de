"""The web UI (gradio, an optional extra): ``pixelgif serve`` or ``pixelgif.web.launch()``.

gradio is imported only when the page is built, so ``import pixelgif.web`` works without it.
"""

from __future__ import annotations

from ..errors import PixelgifError

INSTALL_HINT = 'the web UI needs gradio: pip install "pixelgif[web]"'


def require_gradio():
    """Return the gradio module, or raise PixelgifError with the install command."""
    try:
        import gradio
    except ImportError:
        raise PixelgifError(INSTALL_HINT) from None
    return gradio


def build_app(*args, **kwargs):
    """Return the gradio Blocks app, not launched; see `pixelgif.web.app.build_app`."""
    require_gradio()
    from .app import build_app as _build

    return _build(*args, **kwargs)


def launch(host: str = "127.0.0.1", port: int = 7860, share: bool = False, limits=None) -> None:
    """Serve the web UI until interrupted; ``limits`` is a `pixelgif.web.studio.Limits`."""
    require_gradio()
    from .app import launch as _launch

    _launch(host=host, port=port, share=share, limits=limits)


__all__ = ["INSTALL_HINT", "build_app", "launch", "require_gradio"]
