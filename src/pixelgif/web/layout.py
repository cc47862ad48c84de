"""The studio page's components: storyboard slots, option fields, result area, styles. gradio only;
`app` wires them to the `Studio`."""

from __future__ import annotations

import html
import json
from typing import Any

import gradio as gr

from ..encode import FORMATS
from ..pixelate.palettes import PALETTE_SUFFIXES
from . import share, viewer
from . import storyboard as sb
from .form import COLORS_HINT, formats, palette_preview
from .guards import UPLOAD_GUARD_JS, keyframe_image
from .studio import HISTORY

TITLE = "pixelgif studio"
PAGE_CSS = """
#actions { position: fixed; bottom: 0; left: 0; right: 0; z-index: 50; margin: 0; gap: 12px;
  padding: 8px max(16px, calc((100vw - 1280px) / 2)); background: var(--background-fill-primary);
  border-top: 1px solid var(--border-color-primary); box-shadow: 0 -2px 8px #0002; }
.gradio-container { padding-bottom: 80px !important; }
#status { min-height: 2.5em; display: flex; flex-direction: column; }
/* gradio's progress (queue position, "rendering 13 frames", the bar and the timer) goes under the
   status line, not over it, and the line stays readable while an event is pending. */
#status [data-testid=status-tracker] { position: static !important; order: 2; background: none !important;
  justify-content: flex-start !important; align-items: stretch !important; padding: 0 !important;
  min-height: 0 !important; height: auto !important; flex-direction: column !important; gap: 2px; }
#status [data-testid=status-tracker] svg { display: none; }
#status [data-testid=status-tracker] > * { align-self: flex-start !important; text-align: left !important; }
#status [data-testid=status-tracker] .progress-text, #status [data-testid=status-tracker] .meta-text-center {
  position: static !important; transform: none !important; white-space: normal !important; font-size: 0.85em;
  text-align: left !important; align-self: flex-start; }
#status [data-testid=markdown-wrapper].pending, #status .pending { opacity: 1 !important; }
.kf-row { align-items: center; flex-wrap: nowrap !important; gap: 6px !important; }
.kf-row .kf-image { flex: 0 0 84px !important; min-width: 84px !important; }
.kf-row .kf-image img { image-rendering: pixelated; object-fit: contain; }
.kf-row .kf-image .wrap { font-size: 0.75em; }
.kf-row .kf-lock { flex: 0 0 132px !important; min-width: 132px !important; }
.kf-row .kf-button { flex: 0 0 38px !important; min-width: 38px !important; height: 38px; align-self: center; }
.pixelated img { image-rendering: pixelated; }
#keyframes img, #history img { image-rendering: pixelated; object-fit: contain; }
/* A phone (390 px): a storyboard row wraps (image and fields, then its four buttons on a line of
   their own) instead of running 624 px wide out of reach; the action bar is one short line. */
@media (max-width: 640px) {
  .kf-row { flex-wrap: wrap !important; }
  .kf-row > .form { min-width: 0 !important; flex: 1 1 200px !important; }
  .kf-row > .form > .block { min-width: 0 !important; flex: 1 1 90px !important; }
  .kf-row > .form > .block:first-child { flex-basis: 100% !important; }
  .kf-row .kf-lock { flex: 1 1 auto !important; min-width: 0 !important; }
  .kf-row .kf-button { flex: 1 1 38px !important; }
  #actions { flex-wrap: nowrap !important; gap: 6px !important; padding: 6px 8px !important; }
  #actions button { min-width: 0 !important; flex: 1 1 0 !important; padding: 4px 6px !important;
    font-size: 0.9rem !important; line-height: 1.15 !important; min-height: 40px; }
  .gradio-container { padding-bottom: 64px !important; }
}
"""
CSS = viewer.CSS + share.CSS + PAGE_CSS
# Names and tooltips of the storyboard's symbol buttons (elem_id kf-N-ACTION), set by the page script.
BUTTON_LABELS = {"reroll": "Re-roll seed {n}", "up": "Move keyframe {n} up", "down": "Move keyframe {n} down",
                 "remove": "Remove keyframe {n}"}  # fmt: skip
LABELS_JS = """
<script>
(() => {
  const labels = %s;
  const apply = () => document.querySelectorAll("button[id^=kf-]").forEach((b) => {
    const m = b.id.match(/^kf-(\\d+)-(\\w+)$/);
    if (!m || !labels[m[2]] || b.dataset.labelled) return;
    const text = labels[m[2]].replace("{n}", m[1]);
    b.title = text; b.setAttribute("aria-label", text); b.dataset.labelled = "1";
  });
  new MutationObserver(apply).observe(document.documentElement, {childList: true, subtree: true});
  document.addEventListener("DOMContentLoaded", apply);
})();
</script>
"""
# When a run starts, ends or is refused, the status line (and the result under it) is scrolled into
# view if it is off screen: on a phone the result column sits far below the Morph button.
SCROLL_JS = """
<script>
(() => {
  let seen = "";
  const check = () => {
    const line = document.querySelector("#status [data-status]");
    if (!line) return;
    const now = line.dataset.status + ":" + line.textContent;
    if (now === seen) return;
    seen = now;
    if (!["busy", "done", "error", "cancelled"].includes(line.dataset.status)) return;
    const box = document.querySelector("#status"), bar = document.querySelector("#actions");
    const bottom = innerHeight - (bar ? bar.offsetHeight : 0);
    // a result: the status line and as much of the viewer as fits; else just the status line
    const shown = line.dataset.status === "done" ? document.querySelector("#viewer") || box : box;
    const top = box.getBoundingClientRect().top, end = shown.getBoundingClientRect().bottom;
    if (top < 0 || end > bottom) box.scrollIntoView({block: "start"});
  };
  new MutationObserver(check).observe(document.documentElement, {childList: true, subtree: true, characterData: true});
})();
</script>
"""
# Ctrl+Enter (Cmd+Enter) morphs from anywhere, before a prompt's own Enter (which previews) sees
# it; Escape cancels what renders. Space and the arrows belong to the viewer (`viewer.VIEWER_JS`).
SHORTCUTS_JS = """
<script>
(() => {
  const press = (id) => { const b = document.getElementById(id); if (b && !b.disabled) { b.click(); return true; } };
  document.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault(); e.stopImmediatePropagation();
      press("morph-button");
    } else if (e.key === "Escape" && press("cancel-button")) {
      e.preventDefault();
    }
  }, true);
})();
</script>
"""
HEAD = (
    viewer.VIEWER_JS
    + LABELS_JS % json.dumps(BUTTON_LABELS)
    + UPLOAD_GUARD_JS
    + SCROLL_JS
    + SHORTCUTS_JS
    + share.SHARE_JS
)


def storyboard() -> dict:
    """Create the keyframe slots (prompt, seed, lock, buttons); the first ``count`` are shown."""
    initial = sb.initial_board()
    board: dict[str, Any] = {"count": gr.State(len(initial)), "rows": [], "prompts": [], "seeds": [], "locks": [],
                             "images": [], "buttons": []}  # fmt: skip
    gr.Markdown(
        "### Storyboard\nA keyframe is a prompt, or an image (your sprite; the prompt is then its optional "
        "caption). ↻ re-rolls a seed, ↑ ↓ move a keyframe, ✕ removes it; a locked seed stays on re-roll."
    )
    for i in range(sb.MAX_KEYFRAMES):
        start = initial[i] if i < len(initial) else sb.Keyframe()
        with gr.Row(visible=i < len(initial), elem_classes="kf-row") as row:
            # PNG, not gradio's default WebP: a lossy copy would change the sprite's colours.
            board["images"].append(keyframe_image(label=f"Image {i + 1}", type="filepath", image_mode=None, format="png",
                                            sources=["upload"], height=80, width=80, scale=0, min_width=84,
                                            elem_id=f"kf-{i + 1}-image", elem_classes="kf-image", buttons=[]))  # fmt: skip
            board["prompts"].append(gr.Textbox(label=f"Prompt {i + 1}", value=start.prompt, scale=6, min_width=140,
                                               placeholder=f"(empty) keyframe {i + 1}"))  # fmt: skip
            board["seeds"].append(whole(f"Seed {i + 1}", start.seed, scale=2, min_width=110))  # fmt: skip
            board["locks"].append(
                gr.Checkbox(
                    label=f"Lock seed {i + 1}", value=start.locked, scale=0, min_width=132, elem_classes="kf-lock"
                )
            )
            board["buttons"].append({name: gr.Button(text, size="sm", scale=0, min_width=36, elem_id=f"kf-{i + 1}-{name}",
                                                     elem_classes="kf-button",
                                                     interactive=name != "remove" or len(initial) > sb.MIN_KEYFRAMES)
                                     for name, text in (("reroll", "↻"), ("up", "↑"), ("down", "↓"), ("remove", "✕"))})  # fmt: skip
        board["rows"].append(row)
    with gr.Row():
        board["add"] = gr.Button("Add keyframe", size="sm")
        board["reroll_all"] = gr.Button("Re-roll unlocked seeds", size="sm")
        board["load"] = gr.UploadButton("Load settings JSON", file_types=[".json"], type="filepath", size="sm")
    board["status"] = gr.Markdown(elem_id="board-status")
    return board


def board_outputs(board: dict) -> list:
    return [board["count"], *board["prompts"], *board["seeds"], *board["locks"], *board["images"], *board["rows"], board["add"],
            *(b["remove"] for b in board["buttons"]), board["status"]]  # fmt: skip


def options(values: dict, options: dict) -> dict[str, gr.components.Component]:
    """Create the option components, keyed by form field name: pixel art first, then the diffusion."""
    f: dict[str, gr.components.Component] = {}
    with gr.Accordion("Pixel art", open=True):
        with gr.Row():
            f["pixel_size"] = optional("Pixel size", values["pixel_size"], "auto")
            f["grid"] = gr.Textbox(label="or grid (e.g. 64 or 64x48)", value=values["grid"])
            f["colors"] = optional("Colours", values["colors"], COLORS_HINT)
        with gr.Row():
            f["palette"] = dropdown("Palette (fitted or built-in)", "palette", values, options, custom=False)
            f["dither"] = dropdown("Dither (auto: Bayer for animations)", "dither", values, options, custom=False)
            f["reducer"] = dropdown("Cell reducer", "reducer", values, options, custom=False)
        f["swatches"] = gr.HTML(swatches(values["palette"], None), elem_id="swatches", js_on_load=None)
        with gr.Row():
            f["palette_file"] = gr.File(label=f"or a palette file ({'/'.join(PALETTE_SUFFIXES)})", type="filepath",
                                        file_types=list(PALETTE_SUFFIXES), height=150, min_width=260)  # fmt: skip
            f["palette_status"] = gr.Markdown()
    with gr.Accordion("Morph", open=True):
        with gr.Row():
            # No rounding on the page: 2.5 frames is refused with a message, not rendered as 2 or 3.
            f["frames"] = whole("Frames per transition", values["frames"])
            f["loop"] = gr.Checkbox(label="Loop back to the first prompt", value=values["loop"])
            f["spacing"] = dropdown("Spacing", "spacing", values, options, custom=False)
            f["library"] = gr.Checkbox(label="Sprite library keyframes (bundled model)", value=values["library"])
        with gr.Row():
            f["model"] = dropdown("Model (bundled, a preset, a hub id or a local path)", "model", values, options)
            f["lora"] = dropdown("LoRA (preset, hub id or file)", "lora", values, options)
            f["lora_scale"] = gr.Slider(0, 2, value=values["lora_scale"], step=0.05, label="LoRA scale")
        with gr.Row():
            f["steps"] = optional("Steps", values["steps"])
            f["guidance_scale"] = optional("Guidance", values["guidance_scale"])
            f["scheduler"] = dropdown("Scheduler", "scheduler", values, options, custom=False)
        with gr.Accordion("More morph settings", open=False):
            f["negative_prompt"] = gr.Textbox(label="Negative prompt", value=values["negative_prompt"])
            with gr.Row():
                f["width"] = optional("Width", values["width"])
                f["height"] = optional("Height", values["height"])
                f["batch_size"] = optional("Batch size", values["batch_size"])
            with gr.Row():
                f["easing"] = dropdown("Easing", "easing", values, options, custom=False)
                f["text_interpolation"] = dropdown(
                    "Text interpolation", "text_interpolation", values, options, custom=False
                )
    with gr.Accordion("Output", open=False):
        with gr.Row():
            f["scale"] = dropdown("Upscale of the files (auto: back to render size)", "scale", values, options,
                                   custom=False)  # fmt: skip
            f["duration"] = whole("Frame duration (ms)", values["duration"])
            f["hold"] = whole("Keyframe hold (extra ms)", values["hold"])
        with gr.Row():
            f["loop_count"] = whole("Plays (0: forever)", values["loop_count"])
            f["boomerang"] = gr.Checkbox(label="Boomerang", value=values["boomerang"])
    return f


def results() -> dict:
    """Create the result area: status, the viewer, the keyframe previews, downloads, report and history."""
    out: dict[str, Any] = {"status": gr.Markdown(status(READY), elem_id="status", sanitize_html=False)}
    out["viewer"] = gr.HTML(viewer.empty_html("The morph shows here, zoomed to fit, with play, step and scrub (Ctrl+Enter morphs)."),
                            elem_id="viewer", js_on_load=None, label="Result")  # fmt: skip
    # The API's result (a file path): not shown, the viewer draws the frames.
    out["result"] = gr.Image(label="Result", type="filepath", interactive=False, visible=False, elem_id="result")
    out["keyframes"] = gr.Gallery(
        label="Keyframes",
        columns=4,
        height="auto",
        elem_id="keyframes",
        visible=False,
        elem_classes="pixelated",
        object_fit="contain",
    )
    out["summary"] = gr.Markdown(elem_id="summary")
    with gr.Row():
        out["downloads"] = [gr.DownloadButton(f"Download {FORMATS[f].label}", visible=False, size="sm")
                            for f in formats()]  # fmt: skip
        out["settings"] = gr.DownloadButton("Download settings JSON", visible=False, size="sm")
    out["report"] = gr.Image(label="Smoothness report", type="filepath", interactive=False, visible=False)
    out["history"] = gr.Gallery(label=f"This session's morphs (newest first, up to {HISTORY}): click one to restore it",
                                columns=4, height="auto", visible=False, elem_id="history", object_fit="contain",
                                allow_preview=False)  # fmt: skip
    out["history_state"] = gr.State([])
    return out


def whole(label: str, value, **kwargs) -> gr.Textbox:
    """Return a text field for a whole number that the app checks, not gradio.

    A number box lets gradio refuse a value under its minimum with an "Error" badge before the app
    sees it, rounds 2.5, and sends 1e400 as empty; as text, the app's one message says what is wrong.
    """
    return gr.Textbox(label=label, value=str(value), **kwargs)


def optional(label: str, value, blank: str = "model default") -> gr.Textbox:
    """Return a text field for a number that may be left blank (a number box cannot be empty)."""
    return gr.Textbox(label=f"{label} (blank: {blank})", value="" if value is None else str(value), placeholder=blank)


def dropdown(label: str, name: str, values: dict, options: dict, custom: bool = True) -> gr.Dropdown:
    """Return a drop-down of ``options[name]``; ``custom`` lets the user type another value."""
    return gr.Dropdown(options[name], value=values[name], label=label, allow_custom_value=custom)


READY = "Ready. Write the prompts, **Preview** (or Enter in a prompt), then **Morph**."


def status(text: str, kind: str = "info") -> str:
    """Return the status line (Markdown); ``kind`` ends up as a data attribute the tests read."""
    return f'<span data-status="{kind}">{html.escape(text, quote=False)}</span>'


def swatches(name, palette_file) -> str:
    """Return the swatches of a built-in palette name or an uploaded palette file (HTML)."""
    colours, note = palette_preview(name, palette_file)
    return viewer.swatches_html(colours, note)
