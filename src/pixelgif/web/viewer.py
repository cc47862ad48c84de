"""The studio's result viewer and palette swatches as HTML, without gradio.

The viewer draws the art-size frames (PNG data URIs, a few KB each) scaled with nearest-neighbour
to fill its panel whatever scale the files are written at (or at 1x/2x/4x/8x, with an optional
pixel grid), over a checkerboard, with play/pause, step, a scrubber, onion skin, a playback speed
(re-timed in the browser, nothing rendered again), a frame strip where keyframes are marked, and
the swatches of the colours the frames use. ``VIEWER_JS`` (page head) drives
every viewer on the page by event delegation, so a new result needs no script of its own.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
from collections.abc import Sequence

import numpy as np
from PIL import Image

CSS = """
.pixelated img, .pg-viewer img { image-rendering: pixelated; }
.pg-checker { background-color: #fff;
  background-image: linear-gradient(45deg, #ccc 25%, transparent 25%), linear-gradient(-45deg, #ccc 25%, transparent 25%),
    linear-gradient(45deg, transparent 75%, #ccc 75%), linear-gradient(-45deg, transparent 75%, #ccc 75%);
  background-size: 16px 16px; background-position: 0 0, 0 8px, 8px -8px, -8px 0; }
.pg-viewer { display: flex; flex-direction: column; gap: 6px; outline-offset: 2px; }
.pg-stage { width: 100%; aspect-ratio: var(--pg-aspect, 1); display: flex; max-height: 70vh; border-radius: 6px;
  overflow: auto; }
.pg-canvas { position: relative; margin: auto !important; flex: none; }
.pg-canvas img { position: absolute; inset: 0; width: 100%; height: 100%; }
.pg-canvas img.pg-onion { opacity: 0.4; pointer-events: none; }
.pg-grid { position: absolute; inset: 0; pointer-events: none;
  background-image: linear-gradient(to right, #0005 1px, transparent 1px), linear-gradient(to bottom, #0005 1px, transparent 1px); }
.pg-stage:fullscreen { aspect-ratio: auto; max-height: none; }
.pg-controls { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; }
.pg-controls button { flex: none; white-space: nowrap; }
.pg-controls button, .pg-controls select { min-width: 34px; padding: 2px 8px; border: 1px solid var(--border-color-primary, #ccc);
  border-radius: 4px; background: var(--button-secondary-background-fill, #eee); cursor: pointer; }
.pg-controls label { display: inline-flex; align-items: center; gap: 4px; font-size: 0.9em; white-space: nowrap; }
.pg-controls input[type=range] { flex: 1; min-width: 60px; }
.pg-count { font-variant-numeric: tabular-nums; min-width: 4.5em; text-align: right; font-size: 0.9em; }
.pg-strip { display: flex; gap: 3px; overflow-x: auto; padding-bottom: 4px; }
.pg-strip img { width: 36px; height: 36px; object-fit: contain; flex: none; cursor: pointer; border: 2px solid transparent;
  border-radius: 3px; }
.pg-strip img.pg-key { border-bottom-color: #e8a33d; }
.pg-strip img.pg-current { border-color: var(--color-accent, #f97316); }
.pg-swatches { display: flex; flex-wrap: wrap; gap: 2px; align-items: center; min-height: 20px; font-size: 0.85em; }
.pg-swatches span.pg-swatch { width: 16px; height: 16px; border-radius: 2px; border: 1px solid #0003; display: inline-block; }
.pg-empty { padding: 24px; text-align: center; opacity: 0.7; border: 1px dashed var(--border-color-primary, #ccc);
  border-radius: 6px; }
"""

ZOOMS = ("fit", "1", "2", "4", "8")  # fit: the largest whole zoom that fits the panel (or smaller, if none does)
SPEEDS = ("0.25", "0.5", "1", "2", "4")  # playback speed: the frame durations divided by it, in the browser only

VIEWER_JS = """
<script>
(() => {
  if (window.pixelgifViewer) return;
  const state = new WeakMap();
  // gradio patches a new result into the old viewer's element: a new run (data-run) starts afresh.
  const get = (v) => {
    let s = state.get(v);
    if (!s || s.run !== v.dataset.run) {
      s = {i: 0, playing: v.dataset.autoplay === "1", last: performance.now(), run: v.dataset.run,
           durations: JSON.parse(v.dataset.durations || "[]")};
      v.dataset.ready = "0";
      state.set(v, s);
    }
    return s;
  };
  // The frame's size on screen: a whole zoom (1x..8x, scrolling if larger than the panel), or the
  // largest whole zoom that fits; the grid's cells are one art pixel.
  const layout = (v) => {
    const stage = v.querySelector(".pg-stage"), canvas = v.querySelector(".pg-canvas");
    const w = +v.dataset.width, h = +v.dataset.height, zoom = v.dataset.zoom || "fit";
    const key = [zoom, stage.clientWidth, stage.clientHeight, v.dataset.grid].join();
    if (!w || !h || key === canvas.dataset.layout) return;
    canvas.dataset.layout = key;
    let scale = +zoom;
    if (zoom === "fit") {
      const fits = Math.min(stage.clientWidth / w, stage.clientHeight / h);
      scale = fits >= 1 ? Math.floor(fits) : fits;
    }
    canvas.style.width = w * scale + "px"; canvas.style.height = h * scale + "px";
    v.dataset.scale = scale;
    const grid = v.querySelector(".pg-grid");
    grid.hidden = v.dataset.grid !== "1";
    grid.style.backgroundSize = scale + "px " + scale + "px";
  };
  const delay = (v) => {
    const s = get(v);
    return (s.durations[s.i] || 100) / (+v.dataset.speed || 1);
  };
  const show = (v, i) => {
    const s = get(v), thumbs = v.querySelectorAll(".pg-strip img"), n = thumbs.length;
    if (!n) return;
    s.i = ((i % n) + n) % n;
    v.querySelector("img.pg-frame").src = thumbs[s.i].src;
    const onion = v.querySelector("img.pg-onion");
    onion.hidden = v.dataset.onion !== "1" || n < 2;
    if (!onion.hidden) onion.src = thumbs[(s.i - 1 + n) % n].src;
    thumbs.forEach((t, k) => t.classList.toggle("pg-current", k === s.i));
    const scrub = v.querySelector(".pg-scrub");
    if (scrub) scrub.value = s.i;
    v.querySelector(".pg-count").textContent = (s.i + 1) + " / " + n;
    v.dataset.frame = s.i;
    v.dataset.delay = Math.round(delay(v));
  };
  const setPlaying = (v, playing) => {
    const s = get(v), b = v.querySelector("[data-act=play]");
    s.playing = playing; s.last = performance.now();
    v.dataset.playing = playing ? "1" : "0";
    b.textContent = playing ? "Pause" : "Play";
    b.title = playing ? "Pause" : "Play";
    b.setAttribute("aria-label", b.title);
  };
  const step = (v, by) => { setPlaying(v, false); show(v, get(v).i + by); };
  document.addEventListener("click", (e) => {
    const t = e.target.closest(".pg-viewer [data-act], .pg-strip img");
    if (!t) return;
    const v = t.closest(".pg-viewer"), s = get(v);
    if (t.matches(".pg-strip img")) { setPlaying(v, false); show(v, +t.dataset.i); return; }
    const act = t.dataset.act;
    if (act === "play") setPlaying(v, !s.playing);
    else if (act === "prev" || act === "next") step(v, act === "next" ? 1 : -1);
    else if (act === "full") { const st = v.querySelector(".pg-stage");
      document.fullscreenElement ? document.exitFullscreen() : st.requestFullscreen && st.requestFullscreen(); }
  });
  // The view settings live on the viewer's element: re-timing or zooming never asks the server.
  document.addEventListener("input", (e) => {
    const t = e.target, v = t.closest && t.closest(".pg-viewer");
    if (!v) return;
    if (t.matches(".pg-scrub")) { setPlaying(v, false); show(v, +t.value); }
    else if (t.matches(".pg-zoom")) { v.dataset.zoom = t.value; layout(v); }
    else if (t.matches(".pg-speed")) { v.dataset.speed = t.value; show(v, get(v).i); }
    else if (t.matches(".pg-grid-toggle")) { v.dataset.grid = t.checked ? "1" : "0"; layout(v); }
    else if (t.matches(".pg-onion-toggle")) { v.dataset.onion = t.checked ? "1" : "0"; show(v, get(v).i); }
  });
  // Keys in the viewer (click it or tab to it): Space plays or pauses, the arrows step, Home/End jump.
  document.addEventListener("keydown", (e) => {
    const v = e.target.closest && e.target.closest(".pg-viewer");
    if (!v || e.ctrlKey || e.metaKey || e.altKey || e.target.matches("select, input")) return;
    if (e.key === " ") setPlaying(v, !get(v).playing);
    else if (e.key === "ArrowRight" || e.key === "ArrowLeft") step(v, e.key === "ArrowRight" ? 1 : -1);
    else if (e.key === "Home" || e.key === "End") { setPlaying(v, false); show(v, e.key === "Home" ? 0 : -1); }
    else return;
    e.preventDefault();
  });
  const tick = (now) => {
    document.querySelectorAll(".pg-viewer").forEach((v) => {
      const s = get(v);
      if (v.dataset.ready !== "1") { v.dataset.ready = "1"; setPlaying(v, s.playing); show(v, s.i); }
      layout(v);
      if (!s.playing) return;
      if (now - s.last >= delay(v)) { s.last = now; show(v, s.i + 1); }
    });
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  window.pixelgifViewer = {show, setPlaying, layout};
})();
</script>
"""


def data_uri(image: Image.Image) -> str:
    """Return ``image`` as a PNG data URI (art-size frames are a few KB)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def viewer_html(
    frames: Sequence[Image.Image],
    durations: Sequence[int] | None = None,
    keyframes: Sequence[int] = (),
    title: str = "",
    autoplay: bool = True,
) -> str:
    """Return the viewer of ``frames`` (art size): the first frame shown, the others in the strip,
    the view controls (zoom, grid, onion skin, speed) and the colours the frames use."""
    if not frames:
        return empty_html("No frames.")
    uris = [data_uri(frame) for frame in frames]
    durations = list(durations or [100] * len(frames))
    keys = {k % len(frames) for k in keyframes}
    width, height = frames[0].size
    strip = "".join(
        f'<img src="{uri}" data-i="{i}" class="{"pg-key" if i in keys else ""}" '
        f'alt="frame {i + 1}{" (keyframe)" if i in keys else ""}" title="frame {i + 1}{" (keyframe)" if i in keys else ""}">'
        for i, uri in enumerate(uris)
    )
    last = len(frames) - 1
    zooms = "".join(f'<option value="{z}">{z if z == "fit" else z + "x"}</option>' for z in ZOOMS)
    speeds = "".join(f'<option value="{x}"{" selected" if x == "1" else ""}>{x}x</option>' for x in SPEEDS)
    colours = frame_colours(frames)
    run = hashlib.sha256("".join([*uris, json.dumps(durations), title]).encode()).hexdigest()[:16]
    return (
        f'<div class="pg-viewer" tabindex="0" data-run="{run}" data-durations="{html.escape(json.dumps(durations))}" data-frame="0" '
        f'data-count="{len(frames)}" data-autoplay="{1 if autoplay and len(frames) > 1 else 0}" '
        f'data-width="{width}" data-height="{height}" data-zoom="fit" data-speed="1" data-grid="0" data-onion="0" '
        f'aria-label="{html.escape(title)} (Space: play or pause, arrows: step)">'
        f'<div class="pg-stage pg-checker" style="--pg-aspect: {width} / {height}"><div class="pg-canvas">'
        f'<img class="pg-frame" src="{uris[0]}" alt="{html.escape(title or "result")}" '
        f'data-width="{width}" data-height="{height}">'
        '<img class="pg-onion" alt="" aria-hidden="true" hidden><div class="pg-grid" hidden></div></div></div>'
        '<div class="pg-controls">'
        '<button type="button" data-act="prev" title="Previous frame" aria-label="Previous frame">Prev</button>'
        '<button type="button" data-act="play" title="Pause" aria-label="Pause">Pause</button>'
        '<button type="button" data-act="next" title="Next frame" aria-label="Next frame">Next</button>'
        f'<input type="range" class="pg-scrub" min="0" max="{last}" value="0" step="1" aria-label="Frame">'
        f'<span class="pg-count">1 / {len(frames)}</span>'
        '<button type="button" data-act="full" title="Fullscreen" aria-label="Fullscreen">Full</button>'
        "</div>"
        '<div class="pg-controls pg-view">'
        f'<label>Zoom <select class="pg-zoom" aria-label="Zoom">{zooms}</select></label>'
        '<label><input type="checkbox" class="pg-grid-toggle"> Grid</label>'
        '<label><input type="checkbox" class="pg-onion-toggle"> Onion skin</label>'
        f'<label>Speed <select class="pg-speed" aria-label="Playback speed">{speeds}</select></label>'
        "</div>"
        f'<div class="pg-strip" aria-label="Frames (keyframes underlined)">{strip}</div>'
        f'<div class="pg-palette">{swatches_html(colours, f"{len(colours)} colours in the frames")}</div>'
        "</div>"
    )


def frame_colours(frames: Sequence[Image.Image], most: int = 256) -> list[tuple[int, int, int]]:
    """Return the colours the visible pixels of ``frames`` use (the fitted palette), dark to light.

    At most ``most``, the commonest first picked: a pixel-art morph uses its palette's few colours.
    """
    pixels = np.concatenate([np.asarray(f.convert("RGBA")).reshape(-1, 4) for f in frames])
    pixels = pixels[pixels[:, 3] > 0, :3]
    if not len(pixels):
        return []
    colours, counts = np.unique(pixels, axis=0, return_counts=True)
    picked = colours[np.argsort(-counts, kind="stable")[:most]]
    luma = picked @ np.array([299, 587, 114])
    return [(int(r), int(g), int(b)) for r, g, b in picked[np.argsort(luma, kind="stable")]]


def empty_html(text: str) -> str:
    """Return the viewer's placeholder."""
    return f'<div class="pg-empty">{html.escape(text)}</div>'


def swatches_html(colours: Sequence[Sequence[int]] | None, note: str = "") -> str:
    """Return a row of colour swatches (RGB triplets), or just ``note`` when there are none."""
    cells = "".join(
        f'<span class="pg-swatch" style="background:#{r:02x}{g:02x}{b:02x}" title="#{r:02x}{g:02x}{b:02x}"></span>'
        for r, g, b, *_ in (colours or [])
    )
    label = html.escape(note) if note else ""
    return f'<div class="pg-swatches" aria-label="Palette colours">{cells}<span>&nbsp;{label}</span></div>'
