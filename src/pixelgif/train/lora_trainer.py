"""The LoRA training loop behind ``pixelgif.train.lora.train_lora``: model, steps, checkpoints, export.

Training follows diffusers' ``train_text_to_image_lora`` example: frozen VAE, text encoder and
UNet, peft LoRA layers on the UNet attention projections, noise-prediction MSE against the
scheduler's ``prediction_type`` (epsilon, or v for SD 2.x 768). All randomness after the LoRA's
initialisation comes from one seeded generator whose state goes into checkpoints, so a resumed run
continues exactly as an uninterrupted one would.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import asdict
from pathlib import Path

import torch

from ..errors import PixelgifError
from ..outputs import atomic_output
from .lora import LoraTrainConfig
from .lora_data import BatchOrder, Example, load_image

TARGET_MODULES = ("to_q", "to_k", "to_v", "to_out.0")
CHECKPOINT_FORMAT = "pixelgif-lora-checkpoint-1"


def load_base(model: str, device: str | None = None):
    """Return the Stable Diffusion pipeline ``model`` in float32 on ``device``, all weights frozen."""
    from ..models.loading import load_pipeline

    pipe = load_pipeline(model, device=device, dtype=torch.float32)
    missing = [name for name in ("vae", "text_encoder", "tokenizer", "unet") if getattr(pipe, name, None) is None]
    if missing:
        raise PixelgifError(
            f"model {model!r} is a {type(pipe).__name__} without {', '.join(missing)}; pixelgif train fine-tunes "
            "Stable Diffusion models (VAE, CLIP text encoder, UNet)"
        )
    for part in (pipe.vae, pipe.text_encoder, pipe.unet):
        part.requires_grad_(False)
        part.eval()
    return pipe


def autocast_dtype(mixed_precision: str, device: torch.device) -> torch.dtype | None:
    """Return the autocast dtype for ``mixed_precision`` on ``device`` (None: full float32)."""
    if mixed_precision == "no":
        return None
    if mixed_precision == "fp16" and device.type != "cuda":
        raise PixelgifError(f"--mixed-precision fp16 needs a CUDA GPU (device here: {device.type}); on CPU use bf16")
    if mixed_precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise PixelgifError("this GPU has no bfloat16 support; use --mixed-precision fp16")
    return torch.float16 if mixed_precision == "fp16" else torch.bfloat16


class LoraTrainer:
    """A peft LoRA on ``pipe.unet`` with its optimizer, data order and random state; ``run`` trains it."""

    def __init__(self, pipe, examples: list[Example], config: LoraTrainConfig):
        from diffusers import DDPMScheduler

        self.pipe, self.unet, self.examples, self.config = pipe, pipe.unet, examples, config
        self.device = self.unet.device
        self.autocast = autocast_dtype(config.mixed_precision, self.device)
        self.resolution = self._resolution()
        self.noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
        self.prediction_type = self.noise_scheduler.config.prediction_type
        if self.prediction_type not in ("epsilon", "v_prediction", "sample"):
            raise PixelgifError(f"model {config.model!r} predicts {self.prediction_type!r}, which training does not know")
        if self.autocast is not None and self.device.type == "cuda":
            # Frozen weights in half precision halve GPU memory; the LoRA itself stays float32 below.
            for part in (pipe.vae, pipe.text_encoder, self.unet):
                part.to(dtype=self.autocast)
        self.params = self._add_lora()
        self.optimizer = torch.optim.AdamW(self.params, lr=config.learning_rate, weight_decay=1e-2)
        self.scaler = torch.amp.GradScaler("cuda") if self.autocast == torch.float16 else None
        self.generator = torch.Generator().manual_seed(config.seed)
        self.order = BatchOrder(len(examples), self.generator)
        self.latent_cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.text_cache: dict[str, torch.Tensor] = {}
        self.step = 0

    def _resolution(self) -> int:
        """Return the training size: the config's, or the model's own; checked against the UNet's levels."""
        factor = self.pipe.vae_scale_factor
        native = self.unet.config.sample_size * factor
        resolution = self.config.resolution or native
        multiple = factor * 2 ** (len(self.unet.config.block_out_channels) - 1)
        if resolution % multiple:
            raise PixelgifError(f"resolution {resolution} does not fit this model: use a multiple of {multiple} (its own is {native})")
        return resolution

    def _add_lora(self) -> list[torch.nn.Parameter]:
        """Add the LoRA layers to the UNet; return their (float32, trainable) parameters."""
        from peft import LoraConfig

        torch.manual_seed(self.config.seed)  # peft draws lora_A from the global generator
        lora = LoraConfig(r=self.config.rank, lora_alpha=self.config.rank, init_lora_weights="gaussian",
                          target_modules=list(TARGET_MODULES))  # fmt: skip
        try:
            self.unet.add_adapter(lora)
        except ValueError as exc:
            raise PixelgifError(f"model {self.config.model!r} has no attention layers to put a LoRA on: {exc}") from exc
        params = [p for p in self.unet.parameters() if p.requires_grad]
        for p in params:
            p.data = p.data.float()  # the LoRA trains in float32 even when the frozen UNet is half precision
        if self.config.gradient_checkpointing:
            self.unet.enable_gradient_checkpointing()
        self.unet.train()
        return params

    def run(self, progress: bool = True) -> list[float]:
        """Train from the current step up to ``config.steps``; return each step's loss."""
        from tqdm import tqdm

        losses = []
        bar = tqdm(total=self.config.steps, initial=self.step, desc="training LoRA", unit="step", disable=not progress,
                   dynamic_ncols=True, mininterval=0.5)  # fmt: skip
        smooth = None
        try:
            while self.step < self.config.steps:
                loss = self.train_step()
                losses.append(loss)
                # One step's loss swings with its random timesteps; the bar shows a running average.
                smooth = loss if smooth is None else 0.9 * smooth + 0.1 * loss
                bar.set_postfix(loss=f"{smooth:.4f}", refresh=False)
                bar.update(1)
                every = self.config.checkpoint_every
                if every and self.step % every == 0 and self.step < self.config.steps:
                    self.save_checkpoint(self.config.checkpoint)
        finally:
            bar.close()
        return losses

    def train_step(self) -> float:
        """Run one optimizer step over ``gradient_accumulation`` batches; return its mean loss."""
        accumulation = self.config.gradient_accumulation
        total = 0.0
        for _ in range(accumulation):
            loss = self.batch_loss(self.order.next(self.config.batch_size)) / accumulation
            if not math.isfinite(loss.item()):
                hint = " or --mixed-precision no" if self.autocast is not None else ""
                raise PixelgifError(f"training diverged: the loss is {loss.item()} at step {self.step + 1}; "
                                    f"try a lower --learning-rate{hint}")  # fmt: skip
            (self.scaler.scale(loss) if self.scaler else loss).backward()
            total += loss.item()
        self._optimizer_step()
        self.step += 1
        return total

    def _optimizer_step(self) -> None:
        """Clip, step and clear the gradients, with the learning rate of the warm-up at this step."""
        for group in self.optimizer.param_groups:
            group["lr"] = self.config.learning_rate * min(1.0, (self.step + 1) / (self.config.warmup_steps + 1))
        if self.scaler:
            self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.params, self.config.max_grad_norm)
        if self.scaler:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def batch_loss(self, indices: list[int]) -> torch.Tensor:
        """Return the noise-prediction MSE of the UNet on the examples at ``indices``."""
        latents = self.encode_images(indices)
        context = self.encode_captions([self.examples[i].caption for i in indices])
        noise = torch.randn(latents.shape, generator=self.generator).to(self.device)
        steps = self.noise_scheduler.config.num_train_timesteps
        timesteps = torch.randint(0, steps, (len(indices),), generator=self.generator).to(self.device)
        noisy = self.noise_scheduler.add_noise(latents, noise, timesteps)
        if self.prediction_type == "epsilon":
            target = noise
        elif self.prediction_type == "v_prediction":
            target = self.noise_scheduler.get_velocity(latents, noise, timesteps)
        else:
            target = latents
        autocast = torch.autocast(self.device.type, dtype=self.autocast) if self.autocast else contextlib.nullcontext()
        with autocast:
            prediction = self.unet(noisy.to(self.unet.dtype), timesteps, encoder_hidden_states=context).sample
        return torch.nn.functional.mse_loss(prediction.float(), target.float())

    def encode_images(self, indices: list[int]) -> torch.Tensor:
        """Return scaled VAE latents of the images at ``indices``, sampled from each image's latent distribution."""
        missing = [i for i in dict.fromkeys(indices) if i not in self.latent_cache]
        found = dict(self._encode_distributions(missing)) if missing else {}
        if self.config.cache:
            self.latent_cache.update(found)
        found.update({i: self.latent_cache[i] for i in indices if i not in found})
        mean = torch.stack([found[i][0] for i in indices])
        std = torch.stack([found[i][1] for i in indices])
        sample = mean + std * torch.randn(mean.shape, generator=self.generator)
        vae = self.pipe.vae.config
        shift = getattr(vae, "shift_factor", None) or 0.0
        return ((sample - shift) * vae.scaling_factor).to(self.device)

    @torch.no_grad()
    def _encode_distributions(self, indices: list[int]):
        """Yield (index, (mean, std)) of each image's VAE latent distribution, on the CPU in float32."""
        import numpy as np

        pixels = np.stack([load_image(self.examples[i].path, self.resolution, self.config.resample) for i in indices])
        images = torch.from_numpy(pixels).permute(0, 3, 1, 2).float().div(127.5).sub(1)
        vae = self.pipe.vae
        dist = vae.encode(images.to(self.device, vae.dtype)).latent_dist
        for row, index in enumerate(indices):
            yield index, (dist.mean[row].float().cpu(), dist.std[row].float().cpu())

    @torch.no_grad()
    def encode_captions(self, captions: list[str]) -> torch.Tensor:
        """Return the text-encoder states of ``captions``, made as the pipeline makes them when it renders."""
        missing = [c for c in dict.fromkeys(captions) if c not in self.text_cache]
        found = {}
        if missing:
            states = self.pipe.encode_prompt(missing, self.device, 1, False)[0]
            found = dict(zip(missing, states))
        if self.config.cache:
            self.text_cache.update(found)
        return torch.stack([found[c] if c in found else self.text_cache[c] for c in captions])

    def fingerprint(self) -> dict:
        """Return what a checkpoint must share with this run to be resumed by it."""
        model = Path(self.config.model).expanduser()
        model = str(model.resolve()) if model.exists() else str(self.config.model)
        return {"model": model, "rank": self.config.rank, "resolution": self.resolution,
                "images": len(self.examples), "targets": ",".join(TARGET_MODULES)}  # fmt: skip

    def save_checkpoint(self, path: Path) -> None:
        """Write LoRA weights, optimizer, data order and random state to ``path`` (atomically)."""
        state = {
            "format": CHECKPOINT_FORMAT, "step": self.step, "fingerprint": self.fingerprint(),
            "lora": {name: p.detach().cpu() for name, p in self._named_lora()},
            "optimizer": self.optimizer.state_dict(), "generator": self.generator.get_state(),
            "order": self.order.state_dict(), "scaler": self.scaler.state_dict() if self.scaler else None,
            "config": {k: v if isinstance(v, (int, float, bool, type(None))) else str(v) for k, v in asdict(self.config).items()},
        }  # fmt: skip
        with atomic_output(path) as tmp:
            torch.save(state, tmp)

    def load_checkpoint(self, path: Path) -> None:
        """Restore the state saved by ``save_checkpoint``; raise PixelgifError if it belongs to another run."""
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - truncated files and foreign pickles raise many types
            raise PixelgifError(f"checkpoint {str(path)!r} is not readable: {' '.join(str(exc).split())[:160]}") from exc
        if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
            raise PixelgifError(f"{str(path)!r} is not a pixelgif LoRA training checkpoint")
        mine, theirs = self.fingerprint(), state["fingerprint"]
        changed = [f"{k} {theirs.get(k)!r} -> {v!r}" for k, v in mine.items() if theirs.get(k) != v]
        if changed:
            raise PixelgifError(f"checkpoint {str(path)!r} is from a different run ({'; '.join(changed)}); "
                                "train without --resume to start over")  # fmt: skip
        with torch.no_grad():
            for name, p in self._named_lora():
                p.copy_(state["lora"][name])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scaler and state["scaler"]:
            self.scaler.load_state_dict(state["scaler"])
        self.generator.set_state(state["generator"])
        self.order.load_state_dict(state["order"])
        self.step = int(state["step"])

    def _named_lora(self):
        """Return (name, parameter) of each LoRA weight, in a fixed order."""
        return [(name, p) for name, p in self.unet.named_parameters() if p.requires_grad]

    def save_lora(self, path: Path) -> Path:
        """Write the LoRA as diffusers-format safetensors at ``path`` (atomically); return ``path``."""
        from diffusers import StableDiffusionPipeline
        from diffusers.utils import convert_state_dict_to_diffusers
        from peft.utils import get_peft_model_state_dict

        layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(self.unet))
        layers = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in layers.items()}
        with atomic_output(path) as tmp:
            StableDiffusionPipeline.save_lora_weights(tmp.parent, unet_lora_layers=layers, weight_name=tmp.name)
        return path
