"""Atomic writing of output files: never leave a partial file behind."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from .errors import PixelgifError


def check_writable(path: str | os.PathLike) -> Path:
    """Return ``path`` as a Path after checking that its folder exists and is writable."""
    path = Path(path)
    if path.is_dir():
        raise PixelgifError(f"output path {str(path)!r} is a folder; give a file name")
    _check_parent(path)
    return path


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only if the block succeeds."""
    path = check_writable(path)
    tmp_path = _temp_file(path)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise


@contextlib.contextmanager
def atomic_outputs(paths: Sequence[str | os.PathLike]) -> Iterator[list[Path]]:
    """Yield temporary paths for several files that belong together (a spritesheet and its data).

    Every file is complete on disk before the first one is renamed into place, so an existing file
    is only ever replaced by a finished new one; if the block fails, none of them is touched.
    """
    checked = [check_writable(p) for p in paths]
    temps: list[Path] = []
    try:
        for path in checked:
            temps.append(_temp_file(path))
        yield temps
        for tmp, path in zip(temps, checked, strict=True):
            os.replace(tmp, path)
    finally:
        for tmp in temps:
            with contextlib.suppress(OSError):
                tmp.unlink()


def _temp_file(path: Path) -> Path:
    """Return a new empty temporary file next to ``path``, with the usual permissions."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part" + path.suffix, dir=path.parent or ".")
    os.close(fd)
    # mkstemp makes the file private (0600); outputs get the usual permissions under the umask.
    os.chmod(tmp, 0o666 & ~_umask())
    return Path(tmp)


def check_folder_output(path: str | os.PathLike, owned: Callable[[Path], bool]) -> Path:
    """Return ``path`` after checking that a folder can be written there.

    An existing folder is only replaced if it is empty or every file in it satisfies ``owned``
    (files an earlier run wrote): a folder of the user's own files is never deleted.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise PixelgifError(f"output {str(path)!r} is a file; give a folder name for the frames")
    if path.is_dir():
        strangers = [p.name for p in path.iterdir() if not (p.is_file() and owned(p))]
        if strangers:
            raise PixelgifError(
                f"folder {str(path)!r} already holds other files ({strangers[0]}, ...); give a new or empty folder"
            )
    _check_parent(path)
    return path


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike, owned: Callable[[Path], bool]) -> Iterator[Path]:
    """Yield a temporary folder next to ``path``; it replaces ``path`` only if the block succeeds.

    An existing folder (see ``check_folder_output``) is moved aside, the new one renamed into
    place, and only then is the old one deleted, so a failure leaves the old folder as it was.
    """
    path = check_folder_output(path, owned)
    parent = path.parent if str(path.parent) else Path(".")
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".part", dir=parent))
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        yield tmp
        if path.is_dir():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=parent))
            os.replace(path, old / "x")
            try:
                os.replace(tmp, path)
            except BaseException:
                os.replace(old / "x", path)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _check_parent(path: Path) -> None:
    """Raise PixelgifError unless the folder ``path`` goes into exists and is writable."""
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise PixelgifError(f"cannot write {str(path)!r}: folder {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK):
        raise PixelgifError(f"cannot write {str(path)!r}: folder {str(parent)!r} is not writable")
    try:  # permissions are not everything (read-only or special file systems): try it, before any work
        with tempfile.TemporaryFile(dir=parent, prefix=f".{path.name}.", suffix=".probe"):
            pass
    except OSError as exc:
        raise PixelgifError(f"cannot write {str(path)!r}: {exc.strerror or exc} in folder {str(parent)!r}") from None


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask
