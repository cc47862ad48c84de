"""The session's morphs: each run folder keeps what the page needs to show the run again, and a
click on one in the history restores it to the viewer, the downloads and (through its settings
file, as **Load settings JSON** does) the form. The files are the run's own: nothing renders again.

`save_run` (no gradio) writes ``run.json`` and ``viewer.html`` into the run's folder; `restore` is
the gradio handler of the history gallery's select event.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from .share import share_html

RUN_FILE, VIEWER_FILE = "run.json", "viewer.html"


def save_run(folder: Path, morphed: Any, viewer_html: str) -> None:
    """Write what restoring ``morphed`` (a `studio.Morphed`) needs into its run ``folder``."""
    record = {
        "files": {fmt: str(path) for fmt, path in morphed.files.items()},
        "settings": str(morphed.settings),
        "skipped": morphed.skipped,
        "summary": morphed.summary,
        "report": str(morphed.report) if morphed.report else None,
    }
    (folder / VIEWER_FILE).write_text(viewer_html, encoding="utf-8")
    (folder / RUN_FILE).write_text(json.dumps(record), encoding="utf-8")


def load_run(shown: str | Path) -> dict[str, Any]:
    """Return the saved record of the run whose history picture is ``shown`` (a file in its folder),
    with its viewer's HTML; FileNotFoundError when the run's files are gone."""
    folder = Path(shown).parent
    record = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
    record["viewer"] = (folder / VIEWER_FILE).read_text(encoding="utf-8")
    return record


def restore(items, evt, formats: list[str], status_html) -> list:
    """Return the page's outputs for history item ``evt.index`` of ``items``: viewer, downloads,
    settings, summary, report, status, and the settings file to load into the form (else None)."""
    import gradio as gr

    count = len(formats) + 6  # viewer, downloads, settings, summary, report, status, settings path
    try:
        item = (items or [])[evt.index]
        record = load_run(item[0])
    except (IndexError, TypeError, OSError, ValueError, KeyError):
        return [gr.skip()] * (count - 2) + [status_html("Not restored: that run's files are gone", "error"), None]
    files = record["files"]
    downloads = [gr.DownloadButton(value=files[f], visible=True) if f in files else gr.DownloadButton(visible=False)
                 for f in formats]  # fmt: skip
    notes = "".join(f"\n\n{fmt.upper()} not written: {why}" for fmt, why in record["skipped"].items())
    report = gr.Image(value=record["report"], visible=True) if record["report"] else gr.Image(visible=False)
    caption = item[1] if len(item) > 1 and item[1] else Path(item[0]).name
    return [record["viewer"] + share_html(Path(record["settings"])), *downloads, gr.DownloadButton(value=record["settings"], visible=True),
            record["summary"] + notes, report, status_html(f"Restored: {html.unescape(caption)}", "done"),
            record["settings"]]  # fmt: skip
