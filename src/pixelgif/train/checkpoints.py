"""Training checkpoints without pickle: tensors in ``state.safetensors``, everything else in ``state.json``.

A checkpoint is a folder ``step-000500`` under a run's ``checkpoints/``, written into a hidden
temporary folder first and renamed when complete, so a killed run never leaves half a checkpoint.
Optimizer state dicts are split into their tensors (``optimizer.<param>.<key>``) and their plain
values (``param_groups``, numbers), and put back together on load.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path

import torch

from ..errors import PixelgifError

TENSORS = "state.safetensors"
META = "state.json"
_NAME = re.compile(r"^step-(\d+)$")


def checkpoint_name(step: int) -> str:
    return f"step-{step:06d}"


def list_checkpoints(root: Path) -> list[tuple[int, Path]]:
    """Return the complete checkpoints under ``root`` as (step, folder), oldest first."""
    if not root.is_dir():
        return []
    found = []
    for folder in root.iterdir():
        match = _NAME.match(folder.name)
        if match and (folder / META).is_file() and (folder / TENSORS).is_file():
            found.append((int(match.group(1)), folder))
    return sorted(found)


def latest_checkpoint(root: Path) -> Path | None:
    """Return the newest complete checkpoint folder under ``root``, or None."""
    found = list_checkpoints(root)
    return found[-1][1] if found else None


def save_checkpoint(root: Path, step: int, tensors: dict[str, torch.Tensor], meta: dict, extra=None,
                    keep: int | None = None) -> Path:  # fmt: skip
    """Write ``root/step-N`` with ``tensors`` and ``meta`` (and whatever ``extra(folder)`` adds); return it.

    Only the newest ``keep`` checkpoints stay (None: all).
    """
    from safetensors.torch import save_file

    root.mkdir(parents=True, exist_ok=True)
    final = root / checkpoint_name(step)
    work = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".part", dir=root))
    try:
        save_file({k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}, str(work / TENSORS))
        (work / META).write_text(json.dumps(meta, indent=1, sort_keys=True), encoding="utf-8")
        if extra is not None:
            extra(work)
        if final.exists():
            shutil.rmtree(final)
        work.rename(final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    if keep is not None:
        for _, old in list_checkpoints(root)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(folder: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Return (tensors, meta) of the checkpoint in ``folder``; raise PixelgifError when it is not readable."""
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(folder / TENSORS), device="cpu")
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
    except Exception as exc:  # noqa: BLE001 - truncated files raise many types
        raise PixelgifError(f"checkpoint {str(folder)!r} is not readable: {' '.join(str(exc).split())[:160]}") from exc
    return tensors, meta


def flatten_optimizer(state: dict, prefix: str = "optimizer") -> tuple[dict[str, torch.Tensor], dict]:
    """Return (tensors, JSON-ready rest) of an optimizer ``state_dict``."""
    tensors, plain = {}, {}
    for index, values in state["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}.{index}.{key}"] = value
            else:
                plain.setdefault(str(index), {})[key] = value
    return tensors, {"param_groups": state["param_groups"], "plain": plain}


def unflatten_optimizer(tensors: dict[str, torch.Tensor], rest: dict, prefix: str = "optimizer") -> dict:
    """Return the optimizer ``state_dict`` that ``flatten_optimizer`` split into ``tensors`` and ``rest``."""
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        head, _, key = name.partition(".")[2].partition(".") if name.startswith(prefix + ".") else ("", "", "")
        if key:
            state.setdefault(int(head), {})[key] = value
    for index, values in rest["plain"].items():
        state.setdefault(int(index), {}).update(values)
    return {"state": state, "param_groups": rest["param_groups"]}
