"""Full training of the bundled sprite architecture on user data: settings in ``config``, the trainer in ``trainer``."""

from .config import FullTrainConfig, FullTrainResult, SpriteData, check_inputs, sprite_from_image, train_full

__all__ = ["FullTrainConfig", "FullTrainResult", "SpriteData", "check_inputs", "sprite_from_image", "train_full"]
