"""Events of the studio page that live outside `app.build_app`: opening a "Copy link" link, and
restoring a past morph from the history. gradio only; `app` calls these with its components and
its settings loader (``load(path, request) -> updates``, what **Load settings JSON** does)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr

from ..errors import PixelgifError
from . import history as runs
from . import share
from .form import formats

Load = Callable[[Any, gr.Request], dict]


def wire_link(
    app: gr.Blocks, load: Load, outputs: list, status, folder: Callable[[gr.Request], Path], status_html
) -> None:
    """Fill the form from the page address's ``?settings=`` as it opens; a damaged link is one status line."""

    def on_open(request: gr.Request):
        value = dict(getattr(request, "query_params", None) or {}).get(share.LINK_PARAMETER)
        if not value:
            return {status: gr.skip()}  # (an empty dict would read as one value for every output)
        try:
            path = share.settings_from_link(value, folder(request) / "link")
        except PixelgifError as exc:
            return {status: status_html(f"Not loaded: {exc}", "error")}
        return load(str(path), request)

    app.load(on_open, outputs=outputs, show_progress="hidden", api_visibility="private")


def wire_history(gallery: gr.Gallery, items: gr.State, result_outputs: list, status, load: Load, load_outputs: list,
                 status_html) -> None:  # fmt: skip
    """Restore a clicked past morph: ``result_outputs`` (viewer, downloads, settings, summary, report),
    the status line, then its settings file into the form (the status keeps saying what was restored)."""

    def on_restore(shown, evt: gr.SelectData):
        return runs.restore(shown, evt, formats(), status_html)

    def on_restore_form(path, request: gr.Request):
        updates = {k: v for k, v in (load(path, request) if path else {}).items() if k is not status}
        return updates or {status: gr.skip()}

    restored = gr.State()
    quiet: dict[str, Any] = {"queue": False, "show_progress": "hidden", "api_visibility": "private"}
    gallery.select(on_restore, inputs=items, outputs=[*result_outputs, status, restored], **quiet).then(
        on_restore_form, inputs=restored, outputs=load_outputs, **quiet
    )
