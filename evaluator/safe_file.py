"""Writing an output file without losing what the officer has (issue 25).

An output is written to a temporary file in the same folder and renamed over the target, so that a
full disk, a crash or a kill leaves the previous file whole (the rename is atomic on one file
system, POSIX ``rename(2)``); and an output path that names an input of the same command or the
scenario store (the decision record) is refused before anything is written.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterable

from evaluator.errors import SettingsError

#: The first bytes of every SQLite database file (https://www.sqlite.org/fileformat.html, 1.3).
SQLITE_HEADER = b"SQLite format 3\x00"


class OutputError(SettingsError, OSError):
    """An output that cannot or must not be written; ``str(exc)`` is one line naming the path and why.

    A command's output option (a settings error of the family) that is also an ``OSError``, so that
    callers catching file-system errors still catch it."""


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name the same file (the same inode when both exist, else the same resolved path)."""
    pa, pb = Path(a).expanduser(), Path(b).expanduser()
    try:
        return os.path.samefile(pa, pb)
    except OSError:
        return pa.resolve() == pb.resolve()


def check_output_path(out: str | os.PathLike, inputs: Iterable[tuple[str, str | os.PathLike | None]]) -> None:
    """Refuse an output path that is one of ``inputs`` (``(what, path)``) or an existing SQLite database.

    Raises
    ------
    OutputError
        Naming the output and the input (or the store) it would overwrite.
    """
    out = Path(out).expanduser()
    for what, path in inputs:
        if path and same_file(out, path):
            raise OutputError(f"{out} is the {what}: writing there would overwrite it; choose another output file")
    try:
        with open(out, "rb") as fh:
            head = fh.read(len(SQLITE_HEADER))
    except OSError:
        return
    if head == SQLITE_HEADER:  # a scenario store (the decision record), whatever its name
        raise OutputError(f"{out} is an SQLite database (a scenario store?): writing there would overwrite it; "
                          "choose another output file")


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename it over ``path``.

    The previous file stays whole until the new one is complete and synced; on failure the temporary
    file is removed and nothing else changes.

    Raises
    ------
    OutputError
        One line naming the path (and the folder of the temporary file) and the system's reason.
    """
    path = Path(path).expanduser()
    folder = path.parent if str(path.parent) else Path(".")
    if path.exists() and not path.is_file():  # a folder, a device, a pipe: never replaced by a file
        raise OutputError(f"cannot write {path}: not a regular file")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: cannot create a temporary file in {folder.resolve()} "
                          f"({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; an output reads like any file the user writes
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise OutputError(f"cannot write {path}: {exc.strerror or exc} (in {folder.resolve()}; "
                          "the previous file, if any, is unchanged)") from None
