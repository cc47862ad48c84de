"""The gradio page of `pixelgif serve`: storyboard, options, result. Imported only with gradio installed.

Layout and wiring only: values go through `form.parse_form` into the config dataclasses and one
`Studio` call renders them; errors come back as one gradio message and the page stays usable.
"""

from __future__ import annotations

import asyncio
import contextvars
import html
import inspect
import logging
import random
import signal
import threading
from typing import Any

import gradio as gr

from ..encode import FORMATS
from ..errors import PixelgifError
from ..pixelate.palettes import PALETTE_SUFFIXES
from . import storyboard as sb
from .form import COLORS_HINT, choices, defaults, formats, keyframes_from_slots, parse_form
from .studio import Job, Limits, Studio, check_palette_upload

TITLE = "pixelgif studio"
# Upscaled pixel art must not be smoothed by the browser.
CSS = ".pixelated img { image-rendering: pixelated; }"
RENDER = "render"  # concurrency group of Morph and Preview: one render at a time on the device
LOG = logging.getLogger("pixelgif.web")
# Button names; a format the encoder adds later shows under its own name.


def build_app(studio: Studio | None = None) -> gr.Blocks:
    """Return the pixelgif page as a gradio Blocks app (not launched); ``app.studio`` runs the jobs."""
    studio = studio or Studio()
    values, options = defaults(), choices()
    extra: dict[str, Any] = {"css": CSS} if "css" in inspect.signature(gr.Blocks.__init__).parameters else {}
    with gr.Blocks(title=TITLE, delete_cache=(600, 3600), **extra) as app:
        gr.Markdown("# pixelgif studio\nWrite the keyframes, preview them, lock the seeds you like, then morph.")
        with gr.Row():
            with gr.Column(scale=3):
                board = _storyboard()
                fields = _options(values, options)
                palette_file, palette_status = fields.pop("palette_file"), fields.pop("palette_status")
                assert isinstance(palette_file, gr.File)
                with gr.Row():
                    preview_button = gr.Button("Preview keyframes")
                    morph_button = gr.Button("Morph", variant="primary")
                    cancel_button = gr.Button("Cancel", variant="stop")
            with gr.Column(scale=2):
                out = _results()
        names = list(fields)
        slot_inputs = [board["count"], *board["prompts"], *board["seeds"], *board["locks"]]
        inputs = [*slot_inputs, *(fields[n] for n in names), palette_file]
        _wire_storyboard(board)
        palette_file.upload(_check_upload(studio.limits), inputs=palette_file, outputs=[palette_file, palette_status],
                            queue=False, api_name="check_palette")  # fmt: skip

        def request_of(values_in):
            count, rest = values_in[0], values_in[1:]
            k = sb.MAX_KEYFRAMES
            prompts, seeds, locks, rest = rest[:k], rest[k : 2 * k], rest[2 * k : 3 * k], rest[3 * k :]
            form_values, palette_file = dict(zip(names, rest[:-1], strict=True)), rest[-1]
            if palette_file:
                check_palette_upload(palette_file, studio.limits)
            return parse_form(form_values, keyframes_from_slots(count, prompts, seeds, locks), palette_file)

        async def on_morph(request: gr.Request, progress=gr.Progress(), *values_in):
            morphed = await _run(lambda job: studio.morph(request_of(values_in), _session(request), job), progress)
            downloads = [
                gr.DownloadButton(value=str(morphed.files[f]), visible=True) if f in morphed.files else gr.DownloadButton(visible=False)
                for f in formats()
            ]  # fmt: skip
            notes = "".join(f"\n\n{fmt.upper()} not written: {why}" for fmt, why in morphed.skipped.items())
            shown = morphed.files.get("gif") or next(iter(morphed.files.values()))
            report = gr.Image(value=str(morphed.report), visible=True) if morphed.report else gr.Image(visible=False)
            return [str(shown), *downloads, gr.DownloadButton(value=str(morphed.settings), visible=True),
                    morphed.summary + notes, report]  # fmt: skip

        async def on_preview(request: gr.Request, progress=gr.Progress(), *values_in):
            shown = await _run(lambda job: studio.preview(request_of(values_in), _session(request), job), progress)
            return [(str(path), caption) for path, caption in shown.images], shown.summary

        render: dict[str, Any] = {"concurrency_id": RENDER, "concurrency_limit": 1}
        morph_event = morph_button.click(on_morph, inputs=inputs, api_name="morph", **render,
                                         outputs=[out["result"], *out["downloads"], out["settings"], out["summary"], out["report"]])  # fmt: skip
        preview_event = preview_button.click(on_preview, inputs=inputs, outputs=[out["keyframes"], out["summary"]],
                                             api_name="preview", **render)  # fmt: skip
        cancel_button.click(None, cancels=[morph_event, preview_event], api_name="cancel")

        def on_unload(request: gr.Request):
            studio.close_session(_session(request))

        app.unload(on_unload)
    app.studio = studio
    return app


def _storyboard() -> dict:
    """Create the keyframe slots (prompt, seed, lock, buttons); the first ``count`` are shown."""
    initial = sb.initial_board()
    board: dict[str, Any] = {"count": gr.State(len(initial)), "rows": [], "prompts": [], "seeds": [], "locks": [],
                             "buttons": []}  # fmt: skip
    gr.Markdown("### Storyboard")
    for i in range(sb.MAX_KEYFRAMES):
        start = initial[i] if i < len(initial) else sb.Keyframe()
        with gr.Row(visible=i < len(initial), equal_height=True) as row:
            board["prompts"].append(gr.Textbox(label=f"Prompt {i + 1}", value=start.prompt, scale=6,
                                               placeholder="a red dragon"))  # fmt: skip
            board["seeds"].append(gr.Number(label=f"Seed {i + 1}", value=start.seed, precision=0, minimum=0, scale=2))
            board["locks"].append(gr.Checkbox(label=f"Lock seed {i + 1}", value=start.locked, scale=1, min_width=120))
            board["buttons"].append({name: gr.Button(text, size="sm", scale=0, min_width=40)
                                     for name, text in (("reroll", "↻"), ("up", "↑"), ("down", "↓"), ("remove", "✕"))})  # fmt: skip
        board["rows"].append(row)
    with gr.Row():
        board["add"] = gr.Button("Add keyframe", size="sm")
        board["reroll_all"] = gr.Button("Re-roll unlocked seeds", size="sm")
    return board


def _wire_storyboard(board: dict) -> None:
    """Connect the storyboard buttons: each edit reads every slot and writes them all back."""
    slots = [board["count"], *board["prompts"], *board["seeds"], *board["locks"]]
    outputs = [*slots, *board["rows"]]

    def edit(change):
        def handler(count, *values):
            try:
                return _write_slots(change(_read_slots(count, values)))
            except ValueError as exc:
                raise user_error(exc) from None

        return handler

    private = {"queue": False, "api_visibility": "private"}  # page-only edits, not part of the API
    board["add"].click(edit(sb.add_keyframe), inputs=slots, outputs=outputs, **private)
    board["reroll_all"].click(edit(sb.reroll), inputs=slots, outputs=outputs, **private)
    for i, buttons in enumerate(board["buttons"]):
        changes = {"reroll": lambda b, i=i: sb.reroll(b, i), "up": lambda b, i=i: sb.move_keyframe(b, i, -1),
                   "down": lambda b, i=i: sb.move_keyframe(b, i, 1), "remove": lambda b, i=i: sb.remove_keyframe(b, i)}  # fmt: skip
        for name, button in buttons.items():
            button.click(edit(changes[name]), inputs=slots, outputs=outputs, **private)


def _read_slots(count, values) -> list[sb.Keyframe]:
    """Return the shown keyframes; a blank or odd seed in a slot becomes a random one."""
    k = sb.MAX_KEYFRAMES
    prompts, seeds, locks = values[:k], values[k : 2 * k], values[2 * k :]
    board = []
    for i in range(int(count)):
        try:
            seed = int(seeds[i])
        except (TypeError, ValueError):
            seed = random.randrange(sb.REROLL_RANGE)
        board.append(sb.Keyframe(str(prompts[i] or ""), seed, bool(locks[i])))
    return board


def _write_slots(board: list[sb.Keyframe]) -> list:
    """Return new values of every slot and row for ``board``."""
    padded = board + [sb.Keyframe()] * (sb.MAX_KEYFRAMES - len(board))
    return [len(board), *(k.prompt for k in padded), *(k.seed for k in padded), *(k.locked for k in padded),
            *(gr.Row(visible=i < len(board)) for i in range(sb.MAX_KEYFRAMES))]  # fmt: skip


def _options(values: dict, options: dict) -> dict[str, gr.components.Component]:
    """Create the option components, keyed by form field name."""
    f: dict[str, gr.components.Component] = {}
    with gr.Accordion("Morph", open=True):
        with gr.Row():
            f["frames"] = gr.Number(label="Frames per transition", value=values["frames"], precision=0, minimum=2)
            f["loop"] = gr.Checkbox(label="Loop back to the first prompt", value=values["loop"])
            f["spacing"] = _dropdown("Spacing", "spacing", values, options, custom=False)
        with gr.Row():
            f["model"] = _dropdown("Model (bundled, a preset, a hub id or a local path)", "model", values, options)
            f["lora"] = _dropdown("LoRA (preset, hub id or file)", "lora", values, options)
            f["lora_scale"] = gr.Slider(0, 2, value=values["lora_scale"], step=0.05, label="LoRA scale")
        with gr.Row():
            f["steps"] = _optional("Steps", values["steps"])
            f["guidance_scale"] = _optional("Guidance", values["guidance_scale"])
            f["scheduler"] = _dropdown("Scheduler", "scheduler", values, options, custom=False)
        with gr.Accordion("More morph settings", open=False):
            f["negative_prompt"] = gr.Textbox(label="Negative prompt", value=values["negative_prompt"])
            with gr.Row():
                f["width"] = _optional("Width", values["width"])
                f["height"] = _optional("Height", values["height"])
                f["batch_size"] = _optional("Batch size", values["batch_size"])
            with gr.Row():
                f["easing"] = _dropdown("Easing", "easing", values, options, custom=False)
                f["text_interpolation"] = _dropdown(
                    "Text interpolation", "text_interpolation", values, options, custom=False
                )
    with gr.Accordion("Pixel art", open=False):
        with gr.Row():
            f["pixel_size"] = _optional("Pixel size", values["pixel_size"], "auto")
            f["grid"] = gr.Textbox(label="or grid (e.g. 64 or 64x48)", value=values["grid"])
            f["colors"] = _optional("Colours", values["colors"], COLORS_HINT)
        with gr.Row():
            f["palette"] = _dropdown("Palette (fitted or built-in)", "palette", values, options, custom=False)
            f["dither"] = _dropdown("Dither (auto: Bayer for animations)", "dither", values, options, custom=False)
            f["reducer"] = _dropdown("Cell reducer", "reducer", values, options, custom=False)
        with gr.Row():
            f["palette_file"] = gr.File(label=f"or a palette file ({'/'.join(PALETTE_SUFFIXES)})", type="filepath",
                                        file_types=list(PALETTE_SUFFIXES), height=90)  # fmt: skip
            f["palette_status"] = gr.Markdown()
    with gr.Accordion("Output", open=False):
        with gr.Row():
            f["scale"] = _dropdown("Upscale (auto: back to render size)", "scale", values, options, custom=False)
            f["duration"] = gr.Number(label="Frame duration (ms)", value=values["duration"], precision=0)
            f["hold"] = gr.Number(label="Keyframe hold (extra ms)", value=values["hold"], precision=0)
        with gr.Row():
            f["loop_count"] = gr.Number(label="Plays (0: forever)", value=values["loop_count"], precision=0)
            f["boomerang"] = gr.Checkbox(label="Boomerang", value=values["boomerang"])
    return f


def _results() -> dict:
    """Create the result area: the animation, the keyframe previews, downloads and a summary line."""
    out: dict[str, Any] = {
        "result": gr.Image(
            label="Result", type="filepath", interactive=False, elem_id="result", elem_classes="pixelated"
        )
    }
    out["keyframes"] = gr.Gallery(
        label="Keyframes", columns=4, height="auto", elem_id="keyframes", elem_classes="pixelated"
    )
    out["summary"] = gr.Markdown(elem_id="summary")
    with gr.Row():
        out["downloads"] = [gr.DownloadButton(f"Download {FORMATS[f].label}", visible=False, size="sm")
                            for f in formats()]  # fmt: skip
        out["settings"] = gr.DownloadButton("Download settings JSON", visible=False, size="sm")
    out["report"] = gr.Image(label="Smoothness report", type="filepath", interactive=False, visible=False)
    return out


def _optional(label: str, value, blank: str = "model default") -> gr.Textbox:
    """Return a text field for a number that may be left blank (a number box cannot be empty)."""
    return gr.Textbox(label=f"{label} (blank: {blank})", value="" if value is None else str(value), placeholder=blank)


def _dropdown(label: str, name: str, values: dict, options: dict, custom: bool = True) -> gr.Dropdown:
    """Return a drop-down of ``options[name]``; ``custom`` lets the user type another value."""
    return gr.Dropdown(options[name], value=values[name], label=label, allow_custom_value=custom)


def _check_upload(limits: Limits):
    def on_upload(path):
        if not path:
            return None, ""
        try:
            check_palette_upload(path, limits)
        except PixelgifError as exc:
            gr.Warning(html.escape(str(exc), quote=False))
            return None, f"**Not used:** {exc}"
        from ..pixelate.palettes import load_palette_file

        return path, f"Palette file: {len(load_palette_file(path))} colours (replaces the palette drop-down)"

    return on_upload


async def _run(work, progress):
    """Return ``work(job)`` run in a thread; a cancelled event sets the job's flag so the render stops."""
    job = Job(report=lambda done, total: progress((done, total), desc="rendering", unit="frames"))
    # gradio finds the event of a progress report in context variables: the thread gets a copy.
    future = asyncio.get_running_loop().run_in_executor(None, contextvars.copy_context().run, work, job)
    try:
        return await future
    except asyncio.CancelledError:
        job.cancel.set()  # the thread sees it at its next denoising step
        raise
    except Exception as exc:
        raise user_error(exc) from None


def user_error(exc: BaseException) -> gr.Error:
    """Return the one-line gradio message for ``exc``; unexpected errors are also logged with their traceback."""
    from ..cli import format_error

    if not isinstance(exc, (PixelgifError, ValueError)):
        LOG.error("render failed", exc_info=exc)
    message = " ".join(format_error(exc).split())  # the CLI's wording, on one line
    return gr.Error(html.escape(message, quote=False), print_exception=False)


def _session(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "anonymous"


def launch(host: str = "127.0.0.1", port: int = 7860, share: bool = False, limits: Limits | None = None) -> None:
    """Build the page and serve it until interrupted; session folders are removed on the way out."""
    limits = limits or Limits()
    studio = Studio(limits)
    app = build_app(studio)
    kwargs = {"server_name": host, "server_port": port, "share": share, "allowed_paths": [str(studio.root)],
              "max_file_size": limits.max_upload_bytes}  # fmt: skip
    if "css" in inspect.signature(gr.Blocks.launch).parameters:
        kwargs["css"] = CSS
    previous = _stop_on_sigterm()
    try:
        app.queue(max_size=limits.queue_size).launch(**kwargs)
    finally:
        studio.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _stop_on_sigterm():
    """Make SIGTERM stop the server like Ctrl+C, so that the session folders are removed; return the old handler."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, interrupt)
