"""The gradio layout: a thin form over `pixelgif.web.form`. Imported only when gradio is installed."""

from __future__ import annotations

import inspect
import tempfile
from pathlib import Path

import gradio as gr

from ..errors import PixelgifError
from .form import COLORS_HINT, EngineCache, choices, defaults, generate, parse_form

TITLE = "pixelgif"
# Upscaled pixel art must not be smoothed by the browser.
CSS = ".pixelated img { image-rendering: pixelated; image-rendering: crisp-edges; }"
EXAMPLE = "snowy cabin in the woods\nancient castle with a fire breathing dragon above"


def build_app(engines: EngineCache | None = None, out_dir: str | Path | None = None) -> gr.Blocks:
    """Return the pixelgif web UI as a gradio Blocks app (not launched)."""
    engines = engines or EngineCache()
    out_dir = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="pixelgif-web-"))
    values, options = defaults(), choices()
    # gradio 6 takes css in launch(); older versions take it here.
    extra = {"css": CSS} if "css" in inspect.signature(gr.Blocks.__init__).parameters else {}
    with gr.Blocks(title=TITLE, **extra) as app:
        gr.Markdown("# pixelgif\nText prompts to a pixel-art animation that morphs from one prompt to the next.")
        with gr.Row():
            with gr.Column(scale=1):
                fields = _inputs(values, options)
                button = gr.Button("Generate", variant="primary")
            with gr.Column(scale=1):
                preview = gr.Image(label="Result", type="filepath", interactive=False, elem_classes="pixelated")
                files = gr.File(label="Download (animation and its settings)", file_count="multiple", interactive=False)
                summary = gr.Markdown()
        names = list(fields)

        def on_generate(*args, progress=gr.Progress(track_tqdm=True)):  # noqa: ARG001 - tracks tqdm bars
            try:
                result = generate(parse_form(dict(zip(names, args))), engines, out_dir)
            except (PixelgifError, ValueError) as exc:
                raise gr.Error(" ".join(str(exc).split())) from exc
            shown = None if result.path.suffix == ".mp4" else str(result.path)
            return shown, [str(result.path), str(result.settings)], result.summary

        inputs = [fields[n] for n in names]
        button.click(on_generate, inputs=inputs, outputs=[preview, files, summary], api_name="generate")
    app.pixelgif_out_dir = out_dir  # launch() lets gradio serve files from here
    return app


def _inputs(values: dict, options: dict) -> dict[str, gr.components.Component]:
    """Create the form's input components, in display order, keyed by form field name."""
    f: dict[str, gr.components.Component] = {}
    f["prompts"] = gr.Textbox(label="Prompts, one per line (two or more)", lines=4, value=values["prompts"],
                              placeholder=EXAMPLE)  # fmt: skip
    with gr.Row():
        f["seed"] = gr.Number(label="Seed", value=values["seed"], precision=0, minimum=0)
        f["frames"] = gr.Slider(2, 48, value=values["frames"], step=1, label="Frames per transition")
        f["loop"] = gr.Checkbox(label="Loop back to the first prompt", value=values["loop"])
    with gr.Row():
        f["model"] = _dropdown("Model (preset, hub id or local path)", "model", values, options)
        f["lora"] = _dropdown("LoRA (preset, hub id or file)", "lora", values, options)
        f["lora_scale"] = gr.Slider(0, 2, value=values["lora_scale"], step=0.05, label="LoRA scale")
    with gr.Accordion("Pixel art", open=True):
        with gr.Row():
            f["grid"] = gr.Textbox(label="Grid (e.g. 64 or 64x48; blank: from the render size)", value=values["grid"])
            f["colors"] = gr.Number(label="Colours", value=values["colors"], precision=0, info=COLORS_HINT)
        with gr.Row():
            f["palette"] = _dropdown("Palette (built-in or file)", "palette", values, options)
            f["dither"] = _dropdown("Dither (auto: Bayer for animations)", "dither", values, options, custom=False)
            f["reducer"] = _dropdown("Cell reducer", "reducer", values, options, custom=False)
    with gr.Accordion("Animation", open=False):
        with gr.Row():
            f["duration"] = gr.Number(label="Frame duration (ms)", value=values["duration"], precision=0)
            f["hold"] = gr.Number(label="Extra hold on keyframes (ms)", value=values["hold"], precision=0)
            f["boomerang"] = gr.Checkbox(label="Boomerang", value=values["boomerang"])
        with gr.Row():
            f["scale"] = _dropdown("Upscale (auto: back to render size)", "scale", values, options, custom=False)
            f["format"] = _dropdown("Format", "format", values, options, custom=False)
    with gr.Accordion("Diffusion", open=False):
        f["negative_prompt"] = gr.Textbox(label="Negative prompt", value=values["negative_prompt"])
        with gr.Row():
            f["steps"] = gr.Number(label="Steps (blank: model default)", value=values["steps"], precision=0)
            f["guidance_scale"] = gr.Number(label="Guidance (blank: model default)", value=values["guidance_scale"])
            f["scheduler"] = _dropdown("Scheduler", "scheduler", values, options, custom=False)
        with gr.Row():
            f["width"] = gr.Number(label="Width (blank: model default)", value=values["width"], precision=0)
            f["height"] = gr.Number(label="Height (blank: model default)", value=values["height"], precision=0)
            f["batch_size"] = gr.Number(label="Batch size (blank: model default)", value=values["batch_size"], precision=0)
        with gr.Row():
            f["easing"] = _dropdown("Easing", "easing", values, options, custom=False)
            f["text_interpolation"] = _dropdown("Text interpolation", "text_interpolation", values, options,
                                                custom=False)  # fmt: skip
    return f


def _dropdown(label: str, name: str, values: dict, options: dict, custom: bool = True) -> gr.Dropdown:
    """Return a drop-down of ``options[name]``; ``custom`` lets the user type another value."""
    return gr.Dropdown(options[name], value=values[name], label=label, allow_custom_value=custom)


def launch(host: str = "127.0.0.1", port: int | None = None, share: bool = False) -> None:
    """Build the UI and serve it until interrupted."""
    app = build_app()
    kwargs = {"server_name": host, "server_port": port, "share": share, "allowed_paths": [str(app.pixelgif_out_dir)]}
    if "css" in inspect.signature(gr.Blocks.launch).parameters:
        kwargs["css"] = CSS
    app.queue().launch(**kwargs)
