"""LoRA fine-tuning of a Stable Diffusion model: settings in ``config``, the trainer in ``trainer``."""

from .config import LORA_FILE, LoraTrainConfig, LoraTrainResult, check_inputs, train_lora

__all__ = ["LORA_FILE", "LoraTrainConfig", "LoraTrainResult", "check_inputs", "train_lora"]
