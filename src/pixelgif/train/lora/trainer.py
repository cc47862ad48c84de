"""The LoRA recipe behind ``pixelgif.train.lora.train_lora``: model parts, batches and files for the shared loop.

Training follows diffusers' ``train_text_to_image_lora`` example: frozen VAE, text encoder and
UNet, peft LoRA layers on the UNet attention projections (and optionally the text encoder),
noise-prediction MSE against the scheduler's ``prediction_type`` (epsilon, or v for SD 2.x 768).
The loop itself (optimizer, schedule, mixed precision, ``accelerate launch``) is ``loop.TrainLoop``.
The data order, crops and flips come from one seeded generator and all noise from another; both
go into checkpoints, so a resumed run continues exactly as an uninterrupted one would.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ...errors import PixelgifError
from ...outputs import atomic_output
from .. import checkpoints as ckpt
from ..data import BatchOrder, Example
from ..loop import LoopSettings, TrainLoop, diffusion_loss, drop_captions, lr_schedule, make_accelerator
from ..options import resolve_mixed_precision
from ..preprocess import crop_square, resize, to_rgb
from ..results import CHECKPOINTS, RUN_FILE
from .config import AUTO_PRECISION_ON_GPU, LORA_FILE, LoraTrainConfig

TEXT_ENCODER_TARGETS = ("q_proj", "k_proj", "v_proj", "out_proj")
CHECKPOINT_FORMAT = "pixelgif-lora-checkpoint-2"
RUN_FORMAT = "pixelgif-lora-run-1"


def load_base(model: str, device: str | None = "cpu"):
    """Return the Stable Diffusion pipeline ``model`` in float32 on ``device``, all weights frozen."""
    from ...models.loading import load_pipeline

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
    pipe.set_progress_bar_config(disable=True)
    return pipe


class LoraTrainer(ckpt.RunFiles):
    """A peft LoRA on ``pipe`` with its loop, data order and random state; ``run`` trains it."""

    checkpoint_format, run_format, run_file, checkpoints = CHECKPOINT_FORMAT, RUN_FORMAT, RUN_FILE, CHECKPOINTS
    foreign_checkpoint = "{folder} is not a pixelgif LoRA training checkpoint"
    config: LoraTrainConfig

    def __init__(self, pipe, examples: list[Example], config: LoraTrainConfig, progress: bool = True):
        from diffusers import DDPMScheduler

        self.pipe, self.unet, self.examples, self.config = pipe, pipe.unet, examples, config
        precision = resolve_mixed_precision(config.mixed_precision, config.device, AUTO_PRECISION_ON_GPU)
        self.accelerator = make_accelerator(precision, config.device)
        self.device = self.accelerator.device
        self.resolution = self._resolution()
        self.noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
        if self.noise_scheduler.config.prediction_type not in ("epsilon", "v_prediction", "sample"):
            raise PixelgifError(f"model {config.model!r} predicts {self.noise_scheduler.config.prediction_type!r}, "
                                "which training does not know")  # fmt: skip
        pipe.to(self.device)
        if self.accelerator.mixed_precision != "no" and self.device.type == "cuda":
            # Frozen weights in half precision halve GPU memory; the LoRA itself stays float32 below.
            half = torch.float16 if self.accelerator.mixed_precision == "fp16" else torch.bfloat16
            for part in (pipe.vae, pipe.text_encoder, self.unet):
                part.to(dtype=half)
        params = self._add_lora()
        self.order_generator = torch.Generator().manual_seed(config.seed)
        # Each process draws its own noise; the data order is shared and each takes its slice of a batch.
        self.noise_generator = torch.Generator().manual_seed(config.seed + 1 + self.accelerator.process_index)
        self.order = BatchOrder(len(examples), self.order_generator)
        self.latent_cache: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}
        self.text_cache: dict[str, torch.Tensor] = {}
        self.validation_files: list[Path] = []
        models = [self.unet] + ([pipe.text_encoder] if config.train_text_encoder else [])
        out = config.output
        settings = LoopSettings(
            steps=config.steps, learning_rate=config.learning_rate, gradient_accumulation=config.gradient_accumulation,
            max_grad_norm=config.max_grad_norm, checkpoint_every=config.checkpoint_every, final_checkpoint=True,
            validate_every=config.validate_every, log_every=config.log_every, log_file=out / "log.txt",
            tensorboard_dir=out / "tensorboard" if config.tensorboard else None, progress=progress,
            description="training LoRA",
        )  # fmt: skip
        lr_factor = lr_schedule(config.lr_scheduler, config.warmup_steps, config.steps)
        self.loop = TrainLoop(settings, self.accelerator, models, params, lr_factor)

    @property
    def step(self) -> int:
        return self.loop.step

    def _resolution(self) -> int:
        """Return the training size: the config's, or the model's own; checked against the UNet's levels."""
        factor = self.pipe.vae_scale_factor
        native = self.unet.config.sample_size * factor
        resolution = self.config.resolution or native
        multiple = factor * 2 ** (len(self.unet.config.block_out_channels) - 1)
        if resolution % multiple:
            raise PixelgifError(f"resolution {resolution} does not fit this model: use a multiple of {multiple} "
                                f"(its own is {native})")  # fmt: skip
        return resolution

    def _add_lora(self) -> list[torch.nn.Parameter]:
        """Add the LoRA layers to the UNet (and text encoder); return their (float32, trainable) parameters."""
        from peft import LoraConfig, inject_adapter_in_model

        config = self.config
        torch.manual_seed(config.seed)  # peft draws lora_A from the global generator
        parts = [(self.unet, config.target_modules, "UNet")]
        if config.train_text_encoder:
            parts.append((self.pipe.text_encoder, TEXT_ENCODER_TARGETS, "text encoder"))
        for model, targets, what in parts:
            # peft annotates lora_alpha as int, but only ever divides by it: a float alpha is fine.
            lora = LoraConfig(r=config.rank, lora_alpha=config.alpha, init_lora_weights="gaussian",  # type: ignore[arg-type]
                              target_modules=list(targets))  # fmt: skip
            try:
                # peft directly, not transformers' add_adapter: that one refuses the peft versions diffusers needs.
                inject_adapter_in_model(lora, model)
            except ValueError as exc:
                detail = " ".join(str(exc).split())[:160]
                raise PixelgifError(f"the {what} of {config.model!r} has no layers {', '.join(targets)} to put a "
                                    f"LoRA on (--target-modules): {detail}") from None  # fmt: skip
            if config.gradient_checkpointing:
                if what == "UNet":
                    model.enable_gradient_checkpointing()
                else:  # transformers 5 renamed it
                    (getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable)()
            model.train()
        params = [p for _, p in self._named_lora()]
        for p in params:
            p.data = p.data.float()  # the LoRA trains in float32 even when the frozen model is half precision
        return params

    def _named_lora(self) -> list[tuple[str, torch.nn.Parameter]]:
        """Return (name, parameter) of each LoRA weight, in a fixed order."""
        named = [(f"unet.{n}", p) for n, p in self.unet.named_parameters() if p.requires_grad]
        if self.config.train_text_encoder:
            named += [(f"text_encoder.{n}", p) for n, p in self.pipe.text_encoder.named_parameters() if p.requires_grad]
        return named

    # -- training -----------------------------------------------------------------------------
    def run(self) -> list[float]:
        """Train from the current step to ``config.steps``; return each step's loss."""
        return self.loop.run(self.batch_loss, on_checkpoint=self.save_checkpoint, on_validate=self.validate)

    def train_step(self) -> float:
        """Run one optimizer step; return its loss (for tests and notebooks)."""
        return self.loop.train_step(self.batch_loss)

    def batch_loss(self) -> torch.Tensor:
        """Return the noise-prediction MSE of the UNet on this process's share of the next batch."""
        size, world, rank = self.config.batch_size, self.accelerator.num_processes, self.accelerator.process_index
        indices = self.order.next(size * world)[rank * size : (rank + 1) * size]
        latents = self.encode_images(indices)
        captions = [self.examples[i].caption for i in indices]
        if self.config.caption_dropout:
            dropped = drop_captions(len(captions), self.config.caption_dropout,
                                    lambda n: torch.rand(n, generator=self.order_generator).numpy())  # fmt: skip
            captions = ["" if drop else caption for caption, drop in zip(captions, dropped.tolist(), strict=True)]
        context = self.encode_captions(captions)
        unet = self.loop.models[0]

        def forward(noisy, timesteps):
            with self.loop.autocast():
                return unet(noisy.to(self.unet.dtype), timesteps, encoder_hidden_states=context).sample

        return diffusion_loss(forward, self.noise_scheduler, latents, self.noise_generator, self.config.snr_gamma)

    def encode_images(self, indices: list[int]) -> torch.Tensor:
        """Return scaled VAE latents of the images at ``indices`` (cropped and flipped as configured)."""
        views = [self._view(i) for i in indices]
        missing = {key: pixels for key, pixels in views if key not in self.latent_cache}
        found = dict(self._encode_distributions(missing)) if missing else {}
        if self.config.cache and self.config.crop == "center":  # random crops rarely repeat: not worth keeping
            self.latent_cache.update(found)
        found.update({key: self.latent_cache[key] for key, _ in views if key not in found})
        mean = torch.stack([found[key][0] for key, _ in views])
        std = torch.stack([found[key][1] for key, _ in views])
        sample = mean + std * torch.randn(mean.shape, generator=self.noise_generator)
        vae = self.pipe.vae.config
        shift = getattr(vae, "shift_factor", None) or 0.0
        return ((sample - shift) * vae.scaling_factor).to(self.device)

    def _view(self, index: int):
        """Return ((index, corner, flip), pixels or None) for one image: its crop and flip drawn here."""
        flip = bool(self.config.flip) and bool(torch.rand((), generator=self.order_generator) < 0.5)
        if self.config.crop == "center":
            key = (index, None, flip)
            if key in self.latent_cache:
                return key, None
            return key, crop_square(self._resized(index), self.resolution, None, flip)
        image = self._resized(index)
        left, top = (int(torch.randint(0, room + 1, (), generator=self.order_generator))
                     for room in (image.width - self.resolution, image.height - self.resolution))  # fmt: skip
        corner = (left, top)
        return (index, corner, flip), crop_square(image, self.resolution, corner, flip)

    def _resized(self, index: int):
        """Return example ``index`` as RGB, resized for training (short side at least the resolution)."""
        example = self.examples[index]
        try:
            image = to_rgb(example.open())
        except ValueError as exc:
            raise PixelgifError(f"image {example.name}: {exc}") from None
        return resize(image, self.resolution, self.config.resample)

    @torch.no_grad()
    def _encode_distributions(self, pixels: dict):
        """Yield (key, (mean, std)) of each image's VAE latent distribution, on the CPU in float32."""
        import numpy as np

        keys = list(pixels)
        images = torch.from_numpy(np.stack([pixels[k] for k in keys])).permute(0, 3, 1, 2).float().div(127.5).sub(1)
        vae = self.pipe.vae
        dist = vae.encode(images.to(self.device, vae.dtype)).latent_dist
        for row, key in enumerate(keys):
            yield key, (dist.mean[row].float().cpu(), dist.std[row].float().cpu())

    def encode_captions(self, captions: list[str]) -> torch.Tensor:
        """Return the text-encoder states of ``captions``, made as the pipeline makes them when it renders."""
        if self.config.train_text_encoder:  # the encoder learns: no cache, gradients flow
            with self.loop.autocast():
                return self._text_states(captions, self.loop.models[1])
        missing = [c for c in dict.fromkeys(captions) if c not in self.text_cache]
        found = {}
        if missing:
            with torch.no_grad(), self.loop.autocast():
                found = dict(zip(missing, self._text_states(missing, self.pipe.text_encoder), strict=True))
        if self.config.cache:
            self.text_cache.update(found)
        return torch.stack([found[c] if c in found else self.text_cache[c] for c in captions])

    def _text_states(self, captions: list[str], encoder) -> torch.Tensor:
        """Return the last hidden states of ``encoder`` for ``captions``, tokenized as StableDiffusionPipeline does."""
        tokenizer = self.pipe.tokenizer
        tokens = tokenizer(captions, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                           return_tensors="pt")  # fmt: skip
        mask = None
        if getattr(self.pipe.text_encoder.config, "use_attention_mask", False):
            mask = tokens.attention_mask.to(self.device)
        return encoder(tokens.input_ids.to(self.device), attention_mask=mask)[0]

    # -- files --------------------------------------------------------------------------------
    def fingerprint(self) -> dict:
        """Return what a checkpoint must share with this run to be resumed by it."""
        path = Path(self.config.model).expanduser()
        model = str(path.resolve()) if path.exists() else str(self.config.model)
        return {"model": model, "rank": self.config.rank, "alpha": self.config.alpha, "resolution": self.resolution,
                "images": len(self.examples), "targets": ",".join(self.config.target_modules),
                "text_encoder": self.config.train_text_encoder}  # fmt: skip

    def save_checkpoint(self) -> Path:
        """Write the whole training state to OUTPUT/checkpoints/step-N (safetensors + JSON); return the folder."""
        optimizer_tensors, optimizer_rest = ckpt.flatten_optimizer(self.loop.optimizer.state_dict())
        tensors: dict[str, torch.Tensor] = {f"lora.{name}": p for name, p in self._named_lora()}
        tensors.update(optimizer_tensors)
        tensors["random.order"] = self.order_generator.get_state()
        tensors["random.noise"] = self.noise_generator.get_state()
        tensors["data.order"] = self.order.order
        scaler = self.accelerator.scaler.state_dict() if self.accelerator.scaler is not None else None
        meta = {"optimizer": optimizer_rest, "data_position": self.order.position, "scaler": scaler}
        return self._save_checkpoint(tensors, meta, extra=lambda folder: self.save_lora(folder / LORA_FILE))

    def load_checkpoint(self, folder: Path) -> None:
        """Restore the state ``save_checkpoint`` wrote; raise PixelgifError if it belongs to another run."""
        tensors, meta = self._read_checkpoint(folder)
        with torch.no_grad():
            for name, p in self._named_lora():
                p.copy_(tensors[f"lora.{name}"])
        self.loop.optimizer.load_state_dict(ckpt.unflatten_optimizer(tensors, meta["optimizer"]))
        if self.accelerator.scaler is not None and meta.get("scaler"):
            self.accelerator.scaler.load_state_dict(meta["scaler"])
        self.order_generator.set_state(tensors["random.order"])
        self.noise_generator.set_state(tensors["random.noise"])
        if self.accelerator.process_index:  # the checkpoint holds the main process's noise: reseed the others
            reseed = self.config.seed + 1 + self.accelerator.process_index + 7919 * int(meta["step"])
            self.noise_generator.manual_seed(reseed)
        self.order.load_state_dict({"order": tensors["data.order"], "position": meta["data_position"]})
        self.loop.step = int(meta["step"])

    def save_lora(self, path: Path) -> Path:
        """Write the LoRA as diffusers-format safetensors at ``path`` (atomically); return ``path``."""
        from diffusers import StableDiffusionPipeline
        from diffusers.utils import convert_state_dict_to_diffusers
        from peft.utils import get_peft_model_state_dict

        # Loaders assume alpha = rank unless told; baking alpha / rank into the up weights makes the
        # file mean the same to every loader (diffusers, pixelgif, other tools).
        scale = self.config.alpha / self.config.rank

        def layers(model):
            state = convert_state_dict_to_diffusers(get_peft_model_state_dict(model))
            return {k: (v.detach().to("cpu", torch.float32) * (scale if ".up." in k or "lora_B" in k else 1.0))
                    .contiguous() for k, v in state.items()}  # fmt: skip

        text = layers(self.pipe.text_encoder) if self.config.train_text_encoder else None
        with atomic_output(path) as tmp:
            StableDiffusionPipeline.save_lora_weights(tmp.parent, unet_lora_layers=layers(self.unet),
                                                      text_encoder_lora_layers=text, weight_name=tmp.name)  # fmt: skip
        return path

    def save_final(self) -> Path:
        """Write OUTPUT/pytorch_lora_weights.safetensors (main process); return its path."""
        if self.accelerator.is_main_process:
            self._write_run_file()
            self.save_lora(self.config.lora_file)
        self.accelerator.wait_for_everyone()
        return self.config.lora_file

    @torch.no_grad()
    def validate(self) -> list[Path]:
        """Render the validation prompts and a morph GIF into OUTPUT/validation/step-N.*; return the files."""
        from ...models.loading import presets_of
        from ..validation import render_validation

        prompts = list(self.config.validation_prompts) or self.default_prompts()
        trained = [self.unet] + ([self.pipe.text_encoder] if self.config.train_text_encoder else [])
        for model in trained:
            model.eval()
        try:
            with self.loop.autocast():
                files = render_validation(self.pipe, prompts, self.config.output / "validation",
                                          ckpt.checkpoint_name(self.step), seed=self.config.seed,
                                          frames=self.config.validation_frames, steps=self.config.validation_steps,
                                          size=self.resolution, presets=presets_of(self.config.model))  # fmt: skip
        finally:
            for model in trained:
                model.train()
        self.validation_files.extend(files)
        return files

    def default_prompts(self) -> list[str]:
        """Return up to two distinct captions of the data, the validation prompts when none are given."""
        captions = list(dict.fromkeys(e.caption for e in self.examples if e.caption))
        return captions[:2]
