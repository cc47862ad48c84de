"""User-facing errors. The CLI prints these as one line, without a traceback."""


class PixelgifError(Exception):
    """An error caused by the user's input or environment, with a message that says what to do."""


class ModelNotFoundError(PixelgifError):
    """A model, LoRA or checkpoint could not be found or loaded."""
