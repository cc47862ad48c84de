"""The studio's result viewer and palette swatches as HTML, without gradio.

The viewer draws the art-size frames (PNG data URIs, a few KB each) scaled with nearest-neighbour
to fill its panel whatever scale the files are written at, over a checkerboard, with play/pause,
step, a scrubber and a frame strip where keyframes are marked. ``VIEWER_JS`` (page head) drives
every viewer on the page by event delegation, so a new result needs no script of its own.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Sequence

from PIL import Image

CSS = """
.pixelated img, .pg-viewer img { image-rendering: pixelated; }
.pg-checker { background-color: #fff;
  background-image: linear-gradient(45deg, #ccc 25%, transparent 25%), linear-gradient(-45deg, #ccc 25%, transparent 25%),
    linear-gradient(45deg, transparent 75%, #ccc 75%), linear-gradient(-45deg, transparent 75%, #ccc 75%);
  background-size: 16px 16px; background-position: 0 0, 0 8px, 8px -8px, -8px 0; }
.pg-viewer { display: flex; flex-direction: column; gap: 6px; }
.pg-stage { width: 100%; aspect-ratio: var(--pg-aspect, 1); display: flex; align-items: center; justify-content: center;
  max-height: 70vh; border-radius: 6px; overflow: hidden; }
.pg-stage img.pg-frame { width: 100%; height: 100%; object-fit: contain; }
.pg-stage:fullscreen { aspect-ratio: auto; }
.pg-controls { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; }
.pg-controls button { flex: none; white-space: nowrap; }
.pg-controls button { min-width: 34px; padding: 2px 8px; border: 1px solid var(--border-color-primary, #ccc);
  border-radius: 4px; background: var(--button-secondary-background-fill, #eee); cursor: pointer; }
.pg-controls input[type=range] { flex: 1; min-width: 60px; }
.pg-count { font-variant-numeric: tabular-nums; min-width: 5.5em; text-align: right; font-size: 0.9em; }
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

VIEWER_JS = """
<script>
(() => {
  if (window.pixelgifViewer) return;
  const state = new WeakMap();
  const get = (v) => {
    let s = state.get(v);
    if (!s) {
      s = {i: 0, playing: v.dataset.autoplay === "1", last: performance.now(),
           durations: JSON.parse(v.dataset.durations || "[]")};
      state.set(v, s);
    }
    return s;
  };
  const show = (v, i) => {
    const s = get(v), thumbs = v.querySelectorAll(".pg-strip img"), n = thumbs.length;
    if (!n) return;
    s.i = ((i % n) + n) % n;
    v.querySelector("img.pg-frame").src = thumbs[s.i].src;
    thumbs.forEach((t, k) => t.classList.toggle("pg-current", k === s.i));
    const scrub = v.querySelector(".pg-scrub");
    if (scrub) scrub.value = s.i;
    v.querySelector(".pg-count").textContent = (s.i + 1) + " / " + n;
    v.dataset.frame = s.i;
  };
  const setPlaying = (v, playing) => {
    const s = get(v), b = v.querySelector("[data-act=play]");
    s.playing = playing; s.last = performance.now();
    v.dataset.playing = playing ? "1" : "0";
    b.textContent = playing ? "Pause" : "Play";
    b.title = playing ? "Pause" : "Play";
    b.setAttribute("aria-label", b.title);
  };
  document.addEventListener("click", (e) => {
    const t = e.target.closest(".pg-viewer [data-act], .pg-strip img");
    if (!t) return;
    const v = t.closest(".pg-viewer"), s = get(v);
    if (t.matches(".pg-strip img")) { setPlaying(v, false); show(v, +t.dataset.i); return; }
    const act = t.dataset.act;
    if (act === "play") setPlaying(v, !s.playing);
    else if (act === "prev" || act === "next") { setPlaying(v, false); show(v, s.i + (act === "next" ? 1 : -1)); }
    else if (act === "full") { const st = v.querySelector(".pg-stage");
      document.fullscreenElement ? document.exitFullscreen() : st.requestFullscreen && st.requestFullscreen(); }
  });
  document.addEventListener("input", (e) => {
    if (!e.target.matches(".pg-viewer .pg-scrub")) return;
    const v = e.target.closest(".pg-viewer");
    setPlaying(v, false); show(v, +e.target.value);
  });
  const tick = (now) => {
    document.querySelectorAll(".pg-viewer").forEach((v) => {
      const s = get(v);
      if (v.dataset.ready !== "1") { v.dataset.ready = "1"; setPlaying(v, s.playing); show(v, s.i); }
      if (!s.playing) return;
      const d = s.durations[s.i] || 100;
      if (now - s.last >= d) { s.last = now; show(v, s.i + 1); }
    });
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  window.pixelgifViewer = {show, setPlaying};
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
    """Return the viewer of ``frames`` (art size): the first frame shown, the others in the strip."""
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
    return (
        f'<div class="pg-viewer" data-durations="{html.escape(json.dumps(durations))}" data-frame="0" '
        f'data-count="{len(frames)}" data-autoplay="{1 if autoplay and len(frames) > 1 else 0}" '
        f'aria-label="{html.escape(title)}">'
        f'<div class="pg-stage pg-checker" style="--pg-aspect: {width} / {height}">'
        f'<img class="pg-frame" src="{uris[0]}" alt="{html.escape(title or "result")}" '
        f'data-width="{width}" data-height="{height}"></div>'
        '<div class="pg-controls">'
        '<button type="button" data-act="prev" title="Previous frame" aria-label="Previous frame">Prev</button>'
        '<button type="button" data-act="play" title="Pause" aria-label="Pause">Pause</button>'
        '<button type="button" data-act="next" title="Next frame" aria-label="Next frame">Next</button>'
        f'<input type="range" class="pg-scrub" min="0" max="{last}" value="0" step="1" aria-label="Frame">'
        f'<span class="pg-count">1 / {len(frames)}</span>'
        '<button type="button" data-act="full" title="Fullscreen" aria-label="Fullscreen">Full</button>'
        "</div>"
        f'<div class="pg-strip" aria-label="Frames (keyframes underlined)">{strip}</div>'
        "</div>"
    )


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
