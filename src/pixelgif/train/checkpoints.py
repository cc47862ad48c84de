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
from dataclasses import Field, asdict
from pathlib import Path
from typing import Any, ClassVar, Protocol

import torch

from ..errors import PixelgifError
from ..outputs import atomic_output

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
    except Exception as exc:
        raise PixelgifError(f"checkpoint {str(folder)!r} is not readable: {' '.join(str(exc).split())[:160]}") from exc
    return tensors, meta


def flatten_optimizer(state: dict, prefix: str = "optimizer") -> tuple[dict[str, torch.Tensor], dict]:
    """Return (tensors, JSON-ready rest) of an optimizer ``state_dict``."""
    tensors: dict[str, torch.Tensor] = {}
    plain: dict[str, dict] = {}
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


class RunConfig(Protocol):
    """What `RunFiles` reads of a trainer's config: a dataclass with an output folder."""

    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]
    output: Path
    keep_checkpoints: int


class RunFiles:
    """The run file and checkpoint checks both trainers share; a trainer sets the class names, ``config``,
    ``step``, ``fingerprint`` and ``load_checkpoint``.

    ``foreign_checkpoint`` is the message for a checkpoint of another format; ``{folder}`` is its quoted path.
    """

    checkpoint_format: str
    run_format: str
    run_file: str
    checkpoints: str
    foreign_checkpoint: str
    config: RunConfig

    @property
    def step(self) -> int:
        """Return the optimizer steps taken so far."""
        raise NotImplementedError

    def fingerprint(self) -> dict:
        """Return what a checkpoint must share with this run to be resumed by it."""
        raise NotImplementedError

    def load_checkpoint(self, folder: Path) -> None:
        """Restore the training state of the checkpoint in ``folder``."""
        raise NotImplementedError

    def _settings(self) -> dict:
        """Return the config as JSON-ready values."""
        plain = (int, float, bool, str, type(None))
        return {k: v if isinstance(v, plain) else list(v) if isinstance(v, tuple) else str(v)
                for k, v in asdict(self.config).items()}  # fmt: skip

    def _write_run_file(self) -> None:
        """Write OUTPUT/training.json once: it marks the folder as this run's (checked by --resume)."""
        path = self.config.output / self.run_file
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_output(path) as tmp:
                tmp.write_text(json.dumps({"format": self.run_format, "fingerprint": self.fingerprint(),
                                           "config": self._settings()}, indent=1))  # fmt: skip

    def _save_checkpoint(self, tensors: dict[str, torch.Tensor], meta: dict, extra=None) -> Path:
        """Write the run file, then ``tensors`` and ``meta`` (with format, step, fingerprint, config) as step-N."""
        self._write_run_file()
        meta = {"format": self.checkpoint_format, "step": self.step, "fingerprint": self.fingerprint(), **meta,
                "config": self._settings()}  # fmt: skip
        return save_checkpoint(self.config.output / self.checkpoints, self.step, tensors, meta, extra=extra,
                               keep=self.config.keep_checkpoints)  # fmt: skip

    def load_latest_checkpoint(self) -> Path:
        """Restore the newest checkpoint of the output folder; return its folder."""
        folder = latest_checkpoint(self.config.output / self.checkpoints)
        if folder is None:
            raise PixelgifError(f"nothing to resume: {str(self.config.output)!r} holds no checkpoint")
        self.load_checkpoint(folder)
        return folder

    def _read_checkpoint(self, folder: Path) -> tuple[dict[str, torch.Tensor], dict]:
        """Return (tensors, meta) of ``folder``; raise PixelgifError if it is another format or another run's."""
        tensors, meta = load_checkpoint(folder)
        if meta.get("format") != self.checkpoint_format:
            raise PixelgifError(self.foreign_checkpoint.format(folder=repr(str(folder))))
        mine, theirs = self.fingerprint(), meta["fingerprint"]
        changed = [f"{k} {theirs.get(k)!r} -> {v!r}" for k, v in mine.items() if theirs.get(k) != v]
        if changed:
            raise PixelgifError(f"checkpoint {str(folder)!r} is from a different run ({'; '.join(changed)}); "
                                "train into another --output to start over")  # fmt: skip
        return tensors, meta
