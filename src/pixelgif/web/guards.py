"""What keeps the studio page from getting stuck on input gradio itself would refuse. gradio only.

gradio refuses some input before a handler of ours runs: an upload over ``max_file_size`` or of a
type outside ``file_types`` (a red "Error" toast, and the status line never hears of it), and a
keyframe image PIL cannot open (gradio's `Image.preprocess` raises, and every output of the event
gets an "Error" badge). Here those checks move to where the page can answer them with one line in
the status: `UPLOAD_GUARD_JS` checks a file's size and type in the browser before gradio sees it,
`keyframe_image` hands the uploaded file to the app unopened, and `wire_keyframe_uploads` checks a
keyframe image as it arrives (`check_keyframe_upload`), so a bad one is cleared at once.
"""

from __future__ import annotations

import abc
import html
from collections.abc import Callable, Sequence

import gradio as gr

from ..errors import PixelgifError
from .studio import Limits, check_keyframe_upload

# Runs before gradio's own upload handlers (capture phase at the document): a file over the
# server's limit or of a type the field does not take is refused here, with the status line saying
# why, instead of gradio's "Error" toast. The limit is the one gradio got (`max_file_size`).
UPLOAD_GUARD_JS = """
<script>
(() => {
  if (window.pixelgifUploadGuard) return;
  const say = (text) => {
    const line = document.querySelector("#status [data-status]");
    if (line) { line.dataset.status = "error"; line.textContent = text; }
  };
  const typeOk = (file, accept) => {
    const kinds = (accept || "").split(",").map((s) => s.trim().toLowerCase()).filter(Boolean);
    if (!kinds.length) return true;
    const name = file.name.toLowerCase(), mime = (file.type || "").toLowerCase();
    return kinds.some((k) => k.startsWith(".") ? name.endsWith(k)
      : k.endsWith("/*") ? mime.startsWith(k.slice(0, -1)) : mime === k);
  };
  const refusal = (files, input) => {
    const limit = (window.gradio_config || {}).max_file_size;
    for (const file of files) {
      if (limit && file.size > limit) return "Not used: " + file.name + " is " + file.size.toLocaleString("en")
        + " bytes; the server accepts up to " + limit.toLocaleString("en") + " (pixelgif serve --max-upload-size)";
      if (input && !typeOk(file, input.accept)) return "Not used: " + file.name + " is not a "
        + input.accept.split(",").map((s) => s.trim()).join(" / ") + " file";
    }
    return "";
  };
  const guard = (event, files, input) => {
    const why = refusal(files || [], input);
    if (!why) return;
    event.preventDefault(); event.stopImmediatePropagation();
    if (input) input.value = "";
    say(why);
  };
  document.addEventListener("change", (e) => {
    if (e.target.matches && e.target.matches("input[type=file]")) guard(e, e.target.files, e.target);
  }, true);
  document.addEventListener("drop", (e) => {
    const block = e.target.closest && e.target.closest(".block");
    const input = block && block.querySelector("input[type=file]");
    if (input && e.dataTransfer) guard(e, e.dataTransfer.files, input);
  }, true);
  window.pixelgifUploadGuard = {refusal};
})();
</script>
"""


def _preprocess(self, payload):
    """Return the uploaded file's path without opening it (gradio's `Image.preprocess` opens it)."""
    path = getattr(payload, "path", None)
    url = getattr(payload, "url", None) or ""
    if path and not url.startswith("data:"):
        return str(path)
    try:
        return gr.Image.preprocess(self, payload)
    except Exception:  # e.g. a data URL that is no image: the same as no image
        return None


# A keyframe's image box whose input is the uploaded file's path, never opened by gradio: its own
# `Image.preprocess` raised on a text file named .png or a 14000x14000 PNG before the app could
# say anything; `check_keyframe_upload` says it instead. A subclass, since gradio rebuilds a
# component from its class when an event updates it (an instance's own method would be lost). It
# is made with ABCMeta.__new__, skipping gradio's ComponentMeta.__new__: that writes a .pyi stub
# next to the module of every component class (which mypy would then read instead of this file);
# a subclass that adds no events and no __init__ needs nothing else from it.
KeyframeImage: type[gr.Image] = abc.ABCMeta.__new__(
    type(gr.Image),
    "KeyframeImage",
    (gr.Image,),
    {"__module__": __name__, "__qualname__": "KeyframeImage", "preprocess": _preprocess,
     "get_block_name": lambda self: "image"},
)  # fmt: skip


def keyframe_image(**kwargs) -> gr.Image:
    """Return a keyframe's image box (`KeyframeImage`)."""
    return KeyframeImage(**kwargs)


def wire_keyframe_uploads(
    images: Sequence[gr.Image], status: gr.components.Component, limits: Limits, status_html: Callable[..., str]
) -> None:
    """Check each keyframe image as it is uploaded: a bad one is cleared, and the status line says why."""

    def check(path):
        if not path:
            return gr.skip(), gr.skip()
        try:
            check_keyframe_upload(path, limits)
        except PixelgifError as exc:
            message = " ".join(str(exc).split())
            gr.Warning(html.escape(message, quote=False))
            return None, status_html(f"Not used: {message}", "error")
        return gr.skip(), gr.skip()

    for image in images:
        image.upload(check, inputs=image, outputs=[image, status], queue=False, api_visibility="private",
                     show_progress="hidden")  # fmt: skip
