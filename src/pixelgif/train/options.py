"""Choices shared by the training settings and the loop; no torch here (``pixelgif --help`` reads them)."""

LR_SCHEDULES = ("constant", "constant_with_warmup", "linear", "cosine", "cosine_with_restarts", "polynomial")
MIXED_PRECISION = ("no", "bf16", "fp16")
