"""The gradio page of `pixelgif serve`: storyboard, options, result. Imported only with gradio installed.

Layout and wiring only: values go through `form.parse_form` into the config dataclasses and one
`Studio` call renders them. The page's handlers never raise: a refused run or edit comes back as
one gradio message plus a status line, and everything already on the page stays as it was (raising
would mark every output with an "Error" badge). The public API (``/morph``, ``/preview``) is wired
to hidden triggers and raises `gr.Error`, so API clients get an AppError with the same message.
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
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from ..errors import PixelgifError, format_error
from ..morph.keyframes import keyframe_label
from . import layout, share, viewer
from . import storyboard as sb
from .form import (
    choices,
    default_model,
    defaults,
    formats,
    keyframes_from_slots,
    parse_form,
    settings_to_form,
)
from .guards import wire_keyframe_uploads
from .studio import HISTORY, Job, Limits, Morphed, Studio, check_keyframe_upload, check_palette_upload
from .wiring import wire_history, wire_link

RENDER = "render"  # concurrency group of Morph and Preview: one render at a time on the device
if TYPE_CHECKING:
    from ..run import RunRequest

LOG = logging.getLogger("pixelgif.web")
CANCELLED = "Cancelled: the render stopped; the last result is still shown."
# Seconds a cancelled run waits before its "Cancelled" answer, so that the Cancel button's own
# "Cancelling…" (an answer to another event, sent as the flag is set) cannot arrive after it.
CANCEL_ANSWER_MARGIN = 0.5


def build_app(studio: Studio | None = None) -> gr.Blocks:
    """Return the pixelgif page as a gradio Blocks app (not launched): the layout, wired to a
    `PageController` (``app.controller``) over ``app.studio``, which runs the jobs."""
    studio = studio or Studio()
    values, options = defaults(), choices()
    extra: dict[str, Any] = {}
    init = inspect.signature(gr.Blocks.__init__).parameters
    if "css" in init:  # older gradio takes css and head here; newer takes them in launch()
        extra.update(css=layout.CSS, head=layout.HEAD)
    with gr.Blocks(title=layout.TITLE, delete_cache=(600, 3600), **extra) as app:
        gr.Markdown("# pixelgif studio\nWrite the keyframes, preview them, lock the seeds you like, then morph.")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=600):
                board = layout.storyboard()
                fields = layout.options(values, options)
                palette_file, palette_status = fields.pop("palette_file"), fields.pop("palette_status")
                swatches = fields.pop("swatches")
                assert isinstance(palette_file, gr.File)
                with gr.Row(elem_id="actions"):
                    preview_button = gr.Button("Preview keyframes", elem_id="preview-button")
                    morph_button = gr.Button("Morph", variant="primary", elem_id="morph-button")
                    cancel_button = gr.Button("Cancel", variant="stop", interactive=False, elem_id="cancel-button")
            with gr.Column(scale=2, min_width=420):
                out = layout.results()
        names = list(fields)
        slot_inputs = [board["count"], *board["prompts"], *board["seeds"], *board["locks"], *board["images"]]
        inputs = [*slot_inputs, *(fields[n] for n in names), palette_file]
        board_outputs = _wire_storyboard(board)
        swatch_inputs = [fields["palette"], palette_file]
        palette_file.upload(_check_upload(studio.limits), inputs=palette_file, queue=False, api_name="check_palette",
                            outputs=[palette_file, palette_status, swatches])  # fmt: skip
        palette = fields["palette"]
        assert isinstance(palette, gr.Dropdown)
        for trigger in (palette.change, palette_file.clear):
            trigger(layout.swatches, inputs=swatch_inputs, outputs=swatches, queue=False, api_visibility="private")

        status, history = out["status"], out["history_state"]
        page = PageController(studio, names, status, cancel_button)
        wire_keyframe_uploads(board["images"], status, studio.limits, layout.status)

        render: dict[str, Any] = {"concurrency_id": RENDER, "concurrency_limit": 1}
        morph_outputs = [out["result"], *out["downloads"], out["settings"], out["summary"], out["report"]]
        api_morph, api_preview = gr.Button(visible=False), gr.Button(visible=False)
        api_morph.click(page.on_morph, inputs=inputs, outputs=morph_outputs, api_name="morph", **render)
        api_preview.click(page.on_preview, inputs=inputs, outputs=[out["keyframes"], out["summary"]], api_name="preview",
                          **render)  # fmt: skip

        events: dict[str, Any] = {
            "api_visibility": "private",
            "show_progress_on": [status],
            "scroll_to_output": True,
            **render,
        }
        morph_button.click(page.started("Morphing"), outputs=[status, cancel_button], queue=False,
                                       api_visibility="private").then(
            page.page_morph, inputs=[*inputs, history], **events,
            outputs=[out["viewer"], *out["downloads"], out["settings"], out["summary"], out["report"], status,
                     out["history"], history, cancel_button])  # fmt: skip
        preview_triggers = [preview_button.click, *(prompt.submit for prompt in board["prompts"])]
        gr.on(preview_triggers, page.started("Previewing"), outputs=[status, cancel_button], queue=False,
                            api_visibility="private").then(
            page.page_preview, inputs=inputs, outputs=[out["keyframes"], out["summary"], status, cancel_button],
            **events)  # fmt: skip
        cancel_button.click(page.on_cancel, outputs=[status, cancel_button], queue=False, api_visibility="private")

        def on_load_settings(path, request: gr.Request):
            updates = _load_settings(path, studio, _session(request), board, fields, names, palette_file, swatches)
            note = html.unescape(str(updates.get(board["status"], ""))).replace("**", "")
            if note:  # the status line says it too, so a refused file is never only a toast
                updates[status] = layout.status(note, "error" if note.startswith("Not loaded") else "info")
            return updates

        load_outputs = [*board_outputs, *(fields[n] for n in names), palette_file, palette_status, swatches, status]
        board["load"].upload(on_load_settings, inputs=board["load"], show_progress="hidden", api_visibility="private",
                             outputs=load_outputs)  # fmt: skip

        wire_link(
            app,
            on_load_settings,
            load_outputs,
            status,
            lambda r: studio.root / _folder_name(_session(r)),
            layout.status,
        )
        wire_history(out["history"], history, [out["viewer"], *out["downloads"], out["settings"], out["summary"],
                     out["report"]], status, on_load_settings, load_outputs, layout.status)  # fmt: skip

        app.unload(page.on_unload)
    app.studio, app.controller = studio, page
    return app


class PageController:
    """What the page's events do, apart from the layout: page values -> a run on the studio, each
    session's cancel flag, and the page's answers to refused, failed or cancelled runs. Testable
    without a browser: `request_of` takes the values of the page's inputs, in order."""

    def __init__(self, studio: Studio, names: list[str], status, cancel_button):
        self.studio, self.names = studio, names  # names: the option fields, in the order of the page's inputs
        self.status, self.cancel_button = status, cancel_button
        # Cancel sets the flag of the session's page job, made when Morph or Preview is clicked, and
        # the render stops at its next step and returns normally. gradio's own `cancels=` would
        # cancel the event task instead, and the page then sometimes shows "Error" badges.
        self.page_jobs: dict[str, Job] = {}  # the flag the session's next run takes (made by `started`)
        # The flags of the session's runs under way: Cancel sets them too, since a later start (a second
        # click, a prompt's Enter) replaces the slot above while an earlier run still renders with its own.
        self.running: dict[str, set[Job]] = {}

    def request_of(self, values_in) -> RunRequest:
        """Return the run that the page's input values (storyboard slots, option fields, palette file) describe."""
        count, rest = values_in[0], values_in[1:]
        k = sb.MAX_KEYFRAMES
        prompts, seeds, locks, images = (rest[j * k : (j + 1) * k] for j in range(4))
        rest = rest[4 * k :]
        form_values, palette_file = dict(zip(self.names, rest[:-1], strict=True)), rest[-1]
        if palette_file:
            check_palette_upload(palette_file, self.studio.limits)
        for image in images[: int(count)]:  # gradio no longer opens them (guards.KeyframeImage): checked here
            if image:
                check_keyframe_upload(image, self.studio.limits)
        keyframes = keyframes_from_slots(count, prompts, seeds, locks, images)
        return parse_form(form_values, keyframes, palette_file)

    def morph_work(self, values_in, request):
        run = self.request_of(values_in)
        desc = f"rendering {run.morph.num_frames} frames"
        return desc, lambda job: self.studio.morph(run, _session(request), job)

    def preview_work(self, values_in, request):
        run = self.request_of(values_in)
        desc = f"rendering {len(run.morph.prompts)} keyframes"
        return desc, lambda job: self.studio.preview(run, _session(request), job)

    # The public API: raises gr.Error, so a client gets one AppError with the message.
    async def on_morph(self, request: gr.Request, progress=gr.Progress(), *values_in):
        try:
            desc, work = self.morph_work(values_in, request)
        except Exception as exc:
            raise user_error(exc) from None
        morphed = await _run(work, progress, desc)
        return [str(morphed.files.get("gif") or next(iter(morphed.files.values()))), *_morph_outputs(morphed)]

    async def on_preview(self, request: gr.Request, progress=gr.Progress(), *values_in):
        try:
            desc, work = self.preview_work(values_in, request)
        except Exception as exc:
            raise user_error(exc) from None
        shown = await _run(work, progress, desc)
        return [(str(path), caption) for path, caption in shown.images], shown.summary

    # The page: never raises; a refusal is a message and a status line, the last result stays.
    async def attempt(self, make_work, values_in, request, progress) -> tuple[Any, dict | None]:
        """Return (what the run made, None), or (None, the page's answer to a refused, failed or cancelled run)."""
        session = _session(request)
        job = self.page_jobs.setdefault(session, Job())
        running = self.running.setdefault(session, set())
        running.add(job)
        try:
            job.check()  # cancelled while waiting in the queue
            desc, work = make_work(values_in, request)
            return await _run(work, progress, desc, job), None
        except Exception as exc:
            if job.cancel.is_set():
                if job.by_button:
                    # The render stops within a step; the Cancel event's own answer ("Cancelling…") may
                    # still be on its way, and whichever reaches the page last is what it shows.
                    await asyncio.sleep(CANCEL_ANSWER_MARGIN)
                return None, {
                    self.status: layout.status(CANCELLED, "cancelled"),
                    self.cancel_button: gr.Button(interactive=False),
                }
            return None, _refused(exc.message if isinstance(exc, gr.Error) else user_error(exc).message, self.status,
                                  self.cancel_button)  # fmt: skip
        finally:
            running.discard(job)
            if not running and self.running.get(session) is running:
                del self.running[session]

    async def page_morph(self, request: gr.Request, progress=gr.Progress(), *values_and_history):
        *values_in, earlier = values_and_history
        morphed, refusal = await self.attempt(self.morph_work, values_in, request, progress)
        if refusal is not None:
            return refusal
        shown = [*_history_item(morphed), *(earlier or [])]
        kept = [item for item in shown if Path(item[0]).exists()][:HISTORY]
        frames = morphed.result.pixel_frames
        title = " → ".join(keyframe_label(k) for k in morphed.result.config.prompts)
        return [viewer.viewer_html(frames, morphed.durations, morphed.result.keyframe_indices, title)
                + share.share_html(morphed.settings),
                *_morph_outputs(morphed), layout.status(f"Done: {morphed.summary.split(';')[0]}", "done"),
                gr.Gallery(value=kept, visible=len(kept) > 1), kept, gr.Button(interactive=False)]  # fmt: skip

    async def page_preview(self, request: gr.Request, progress=gr.Progress(), *values_in):
        shown, refusal = await self.attempt(self.preview_work, values_in, request, progress)
        if refusal is not None:
            return refusal
        images = [(str(path), caption) for path, caption in shown.images]
        return [gr.Gallery(value=images, visible=True), shown.summary, layout.status(f"Preview done: {shown.summary}", "done"),
                gr.Button(interactive=False)]  # fmt: skip

    def started(self, what: str):
        """Return the event that marks a Morph or Preview as started: a fresh cancel flag, a busy status."""

        def start(request: gr.Request):
            self.page_jobs[_session(request)] = Job()  # a fresh cancel flag for this run
            return layout.status(f"{what}: {self.studio.activity()}…", "busy"), gr.Button(interactive=True)

        return start

    def _cancel(self, session: str, forget: bool = False, by_button: bool = False) -> None:
        """Set the cancel flag of the session's next run and of each of its runs under way."""
        slot = self.page_jobs.pop(session, None) if forget else self.page_jobs.get(session)
        for job in [*([slot] if slot is not None else []), *self.running.get(session, ())]:
            job.by_button = job.by_button or by_button  # before the flag: a run that sees the flag sees this
            job.cancel.set()

    def on_cancel(self, request: gr.Request):
        self._cancel(_session(request), by_button=True)
        # "Cancelled" comes when the render has stopped (its event ends then, and Morph works again).
        return layout.status("Cancelling: the render stops at its next step…", "busy"), gr.Button(interactive=False)

    def on_unload(self, request: gr.Request):
        # A closed tab's render stops (before its folder goes), instead of keeping the next tab queued.
        self._cancel(_session(request), forget=True)
        self.studio.close_session(_session(request))


def _refused(message: str, status, cancel_button) -> dict:
    """Return the page's answer to a refused or failed run: one message, a status line, nothing else changed."""
    gr.Warning(message)
    return {
        status: layout.status(f"Not rendered: {html.unescape(message)}", "error"),
        cancel_button: gr.Button(interactive=False),
    }


def _history_item(morphed: Morphed) -> list[tuple[str, str]]:
    gif = morphed.files.get("gif") or next(iter(morphed.files.values()))
    return [
        (
            str(gif),
            f"{' → '.join(keyframe_label(k) for k in morphed.result.config.prompts)}: {morphed.summary.split(';')[0]}",
        )
    ]


def _morph_outputs(morphed: Morphed) -> list:
    """Return the downloads, settings, summary and report outputs of ``morphed``."""
    downloads = [
        gr.DownloadButton(value=str(morphed.files[f]), visible=True) if f in morphed.files else gr.DownloadButton(visible=False)
        for f in formats()
    ]  # fmt: skip
    notes = "".join(f"\n\n{fmt.upper()} not written: {why}" for fmt, why in morphed.skipped.items())
    report = gr.Image(value=str(morphed.report), visible=True) if morphed.report else gr.Image(visible=False)
    return [*downloads, gr.DownloadButton(value=str(morphed.settings), visible=True), morphed.summary + notes, report]


def _load_settings(path, studio: Studio, session: str, board: dict, fields: dict, names: list, palette_file, swatches):
    """Return the page updates that put a settings JSON back into the form; a bad file is a message only."""
    if not path:
        return {}
    from ..settings import read_settings

    try:
        data = read_settings(path)
        values, keyframes, notes = settings_to_form(data)
    except (PixelgifError, ValueError, TypeError) as exc:
        message = " ".join(str(exc).replace(str(path), Path(path).name).split())
        gr.Warning(html.escape(message, quote=False))
        return {board["status"]: f"**Not loaded:** {html.escape(message, quote=False)}"}
    updates: dict[Any, Any] = dict(zip(layout.board_outputs(board), _write_slots(keyframes), strict=True))
    note = f"Loaded {Path(path).name}: {len(keyframes)} keyframes, seeds locked."
    if notes:
        note += " " + "; ".join(notes).capitalize() + "."
    updates[board["status"]] = html.escape(note, quote=False)
    for name in names:
        if name in values:
            updates[fields[name]] = values[name]
    colours = values.get("palette_colours")
    if colours:
        folder = studio.root / "".join(c for c in session if c.isalnum() or c in "-_") / "loaded"
        folder.mkdir(parents=True, exist_ok=True)
        hex_file = folder / f"{Path(path).stem}-palette.hex"
        hex_file.write_text("".join(f"{r:02x}{g:02x}{b:02x}\n" for r, g, b in colours))
        updates[palette_file] = str(hex_file)
        updates[swatches] = viewer.swatches_html(colours, f"{len(colours)} colours from the settings file")
    else:
        updates[palette_file] = None
        updates[swatches] = layout.swatches(values["palette"], None)
    return updates


def _wire_storyboard(board: dict) -> list:
    """Connect the storyboard buttons: each edit reads every slot and writes them all back.

    An edit that cannot be made (a third-from-last ✕, an eighth-plus keyframe) leaves the board as
    it is and says why under it; the buttons for those edits are disabled anyway. No handler raises.
    """
    slots = [board["count"], *board["prompts"], *board["seeds"], *board["locks"], *board["images"]]
    outputs = layout.board_outputs(board)

    def edit(change):
        def handler(count, *values):
            current = _read_slots(count, values)
            try:
                return _write_slots(change(current))
            except ValueError as exc:
                return _write_slots(current, f"**Not changed:** {html.escape(str(exc), quote=False)}")

        return handler

    private = {"queue": False, "api_visibility": "private"}  # page-only edits, not part of the API
    board["add"].click(edit(sb.add_keyframe), inputs=slots, outputs=outputs, **private)
    board["reroll_all"].click(edit(sb.reroll), inputs=slots, outputs=outputs, **private)
    for i, buttons in enumerate(board["buttons"]):
        changes = {"reroll": lambda b, i=i: sb.reroll(b, i), "up": lambda b, i=i: sb.move_keyframe(b, i, -1),
                   "down": lambda b, i=i: sb.move_keyframe(b, i, 1), "remove": lambda b, i=i: sb.remove_keyframe(b, i)}  # fmt: skip
        for name, button in buttons.items():
            button.click(edit(changes[name]), inputs=slots, outputs=outputs, **private)
    return outputs


def _read_slots(count, values) -> list[sb.Keyframe]:
    """Return the shown keyframes; a blank or odd seed in a slot becomes a random one."""
    k = sb.MAX_KEYFRAMES
    prompts, seeds, locks, images = values[:k], values[k : 2 * k], values[2 * k : 3 * k], values[3 * k :]
    board = []
    for i in range(int(count)):
        try:
            seed = int(seeds[i])
        except (TypeError, ValueError):
            seed = random.randrange(sb.REROLL_RANGE)
        board.append(sb.Keyframe(str(prompts[i] or ""), seed, bool(locks[i]), images[i] or None))
    return board


def _write_slots(board: list[sb.Keyframe], message: str = "") -> list:
    """Return new values of every slot, row and limit-bound button for ``board``, and the board's status."""
    padded = board + [sb.Keyframe()] * (sb.MAX_KEYFRAMES - len(board))
    can_remove = len(board) > sb.MIN_KEYFRAMES
    return [len(board), *(k.prompt for k in padded), *(k.seed for k in padded), *(k.locked for k in padded),
            *(k.image for k in padded),
            *(gr.Row(visible=i < len(board)) for i in range(sb.MAX_KEYFRAMES)),
            gr.Button(interactive=len(board) < sb.MAX_KEYFRAMES),
            *(gr.Button(interactive=can_remove) for _ in range(sb.MAX_KEYFRAMES)), message]  # fmt: skip


def _check_upload(limits: Limits):
    def on_upload(path):
        if not path:
            return None, "", layout.swatches(None, None)
        try:
            check_palette_upload(path, limits)
        except PixelgifError as exc:
            return None, f"**Not used:** {html.escape(str(exc), quote=False)}", layout.swatches(None, None)
        from ..pixelate.palettes import load_palette_file

        count = len(load_palette_file(path))
        return path, f"Palette file: {count} colours (replaces the palette drop-down)", layout.swatches(None, path)

    return on_upload


async def _run(work, progress, desc: str = "rendering", job: Job | None = None):
    """Return ``work(job)`` run in a thread; a cancelled event sets the job's flag so the render stops.

    Progress is shown as a fraction with the number of frames that come out in ``desc``: the engine
    counts renders (even spacing renders extra in-between frames), which would read as "1.5/19 frames".
    """
    job = job or Job()
    job.report = lambda done, total: progress(min(1.0, done / max(total, 1)), desc=desc)
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
    if not isinstance(exc, (PixelgifError, ValueError)):
        LOG.error("render failed", exc_info=exc)
    return gr.Error(html.escape(format_error(exc), quote=False), print_exception=False)  # the CLI's wording


def _folder_name(session: str) -> str:
    return "".join(c for c in session if c.isalnum() or c in "-_") or "anonymous"


def _session(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "anonymous"


def launch(
    host: str = "127.0.0.1", port: int = 7860, share: bool = False, limits: Limits | None = None, preload: bool = True
) -> None:
    """Build the page and serve it until interrupted; session folders are removed on the way out.

    ``preload``: start loading the default model in the background, so the first render does not wait for it.
    """
    limits = limits or Limits()
    studio = Studio(limits)
    app = build_app(studio)
    kwargs = {"server_name": host, "server_port": port, "share": share, "allowed_paths": [str(studio.root)],
              "max_file_size": limits.max_upload_bytes}  # fmt: skip
    if "css" in inspect.signature(gr.Blocks.launch).parameters:
        kwargs.update(css=layout.CSS, head=layout.HEAD)
    previous = _stop_on_sigterm()
    if preload:
        studio.preload(default_model())
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
