"""Settings to share from the studio page: "Copy settings", "Copy link", and the link's way back in.

The link is the page's address with ``?settings=`` and the run's settings file (without its
``run`` and ``versions`` records, minified, base64url): opening it fills the form the way
**Load settings JSON** does. No gradio here; the page script (`SHARE_JS`) does the copying.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
from pathlib import Path

from ..errors import PixelgifError

LINK_PARAMETER = "settings"
MAX_LINK_BYTES = 64_000  # a settings file is 1-2 KB; a longer link is not one this page made
LINK_LEAVES_OUT = ("run", "versions")  # records of where and with what a file was made, not settings

CSS = """
.pg-share { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; margin-top: 4px; font-size: 0.9em; }
.pg-share button { flex: none; padding: 2px 10px; border: 1px solid var(--border-color-primary, #ccc); border-radius: 4px;
  background: var(--button-secondary-background-fill, #eee); cursor: pointer; white-space: nowrap; }
.pg-share a.pg-link { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; max-width: 100%; }
"""

# Copies what the buttons name; the note next to them says whether it worked (a page opened over
# plain http from another machine has no clipboard API: then the text is selected to copy by hand).
SHARE_JS = """
<script>
(() => {
  const copy = async (text, note) => {
    try { await navigator.clipboard.writeText(text); note.textContent = "Copied."; }
    catch (err) {
      const area = document.createElement("textarea");
      area.value = text; document.body.appendChild(area); area.select();
      const ok = document.execCommand && document.execCommand("copy");
      area.remove();
      note.textContent = ok ? "Copied." : "Could not copy here: use the link's context menu.";
    }
  };
  document.addEventListener("click", (e) => {
    const b = e.target.closest && e.target.closest(".pg-share [data-share]");
    if (!b) return;
    const box = b.closest(".pg-share"), note = box.querySelector(".pg-share-note");
    const link = new URL(box.querySelector("a.pg-link").getAttribute("href"), location.href).href;
    copy(b.dataset.share === "link" ? link : box.dataset.settings, note);
  });
})();
</script>
"""


def link_query(data: dict) -> str:
    """Return the ``?settings=...`` query that reopens the page with the settings ``data``."""
    kept = {key: value for key, value in data.items() if key not in LINK_LEAVES_OUT}
    packed = json.dumps(kept, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return f"?{LINK_PARAMETER}=" + base64.urlsafe_b64encode(packed).decode("ascii").rstrip("=")


def share_html(settings: Path) -> str:
    """Return the "Copy settings" / "Copy link" block for the settings file of a run."""
    text = Path(settings).read_text(encoding="utf-8")
    query = link_query(json.loads(text))
    return (
        f'<div class="pg-share" data-settings="{html.escape(text)}">'
        '<button type="button" data-share="settings" title="Copy the settings JSON (pixelgif morph --from takes it)">'
        "Copy settings</button>"
        '<button type="button" data-share="link" title="Copy a link that opens the page with these settings">'
        "Copy link</button>"
        f'<a class="pg-link" href="{html.escape(query)}">Link with these settings</a>'
        '<span class="pg-share-note" aria-live="polite"></span></div>'
    )


def settings_from_link(value: str, folder: Path) -> Path:
    """Return a settings file in ``folder`` written from a link's ``settings`` value; PixelgifError if it is not one."""
    value = value.strip()
    if len(value) > MAX_LINK_BYTES:
        raise PixelgifError(f"the link's settings are {len(value):,} characters; a studio link has far fewer")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        data = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError):
        raise PixelgifError("the link's settings are damaged (copy the link again)") from None
    if not isinstance(data, dict):
        raise PixelgifError("the link's settings are damaged (copy the link again)")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "settings-from-link.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path
