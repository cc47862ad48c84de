"""User-facing errors. The CLI, the web page and batch reports show these as one line, without a traceback."""


class PixelgifError(Exception):
    """An error caused by the user's input or environment, with a message that says what to do."""


class ModelNotFoundError(PixelgifError):
    """A model, LoRA or checkpoint could not be found or loaded."""


def format_error(exc: BaseException) -> str:
    """Return a one-line, user-facing message for ``exc`` (the CLI, the web page and batch reports show it)."""
    return " ".join(_message(exc).split())


def _message(exc: BaseException) -> str:
    if isinstance(exc, PixelgifError):
        return str(exc)
    if isinstance(exc, ValueError):
        return str(exc)
    if isinstance(exc, (FileNotFoundError, IsADirectoryError, NotADirectoryError)):
        name = f": {exc.filename}" if getattr(exc, "filename", None) else ""
        return f"{exc.strerror or exc}{name}"
    if isinstance(exc, PermissionError):
        return f"permission denied: {exc.filename or exc}"
    if isinstance(exc, MemoryError):
        return "out of memory: try a smaller --batch-size, width/height, or fewer frames"
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
    return f"unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)"
