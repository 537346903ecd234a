"""Atomic file writes: write to a temporary name in the target directory, then rename.

A killed process never leaves a file under the final name that looks finished. An output path
that cannot be written (a directory, below a regular file, no permission) is reported as a
one-line :class:`~deblur.errors.DeblurError` naming the path, before anything is written; a
disk that fills up while writing (``ENOSPC``, ``EDQUOT``, or ``EFBIG`` from a file-size limit)
is reported the same way, naming the path and "no space left", with the temporary file removed.
:func:`write_set` writes several files as one set (every file in full before any is renamed).
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from deblur.errors import DeblurError

# errors of a write that ran out of room: disk full, quota exceeded, file-size limit reached
NO_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` if the block succeeds.

    ``suffix`` defaults to the target's suffix so that writers choosing a format by extension
    (PIL, pandas) still work. Raises :class:`DeblurError` (see :func:`output_error`) when the
    folder cannot be made or written or ``path`` is a directory.
    """
    path = Path(path)
    check_output_file(path)
    suffix = path.suffix if suffix is None else suffix
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp.", suffix=suffix, dir=path.parent)
    except OSError as exc:
        raise output_error(path, exc) from None
    os.close(fd)
    tmp = Path(tmp)
    # mkstemp makes the file owner-only; give it the permissions a plain open() would
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o666 & ~umask)
    try:
        try:
            yield tmp
        except OSError as exc:
            if exc.errno in NO_SPACE_ERRNOS:
                raise output_error(path, exc) from None
            raise
        try:
            os.replace(tmp, path)
        except OSError as exc:
            raise output_error(path, exc) from None
    finally:
        tmp.unlink(missing_ok=True)


def write_set(contents: Mapping[str | os.PathLike, bytes]) -> None:
    """Write several files as one set: each file's bytes go to a temporary name; only when
    every one has been written in full are they all renamed onto their paths (the last path
    first).

    A failure or a kill while writing (a full disk, say) leaves the previous set as it was:
    nothing is renamed until everything is written, and the temporaries are removed.
    """
    with contextlib.ExitStack() as stack:
        temps = [(stack.enter_context(atomic_path(path)), data) for path, data in contents.items()]
        for tmp, data in temps:
            tmp.write_bytes(data)
        # leaving the stack renames each file (atomic_path's exits)


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (serialize to memory first, so that a full disk is
    reported by the OS write as "no space left", whatever the serializer)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def check_output_file(path: str | os.PathLike) -> Path:
    """Check, before any work, that a file can be written at ``path``; returns it as a Path.

    Raises
    ------
    DeblurError
        If ``path`` is a directory, one of its parents is not a directory, or the nearest
        existing parent is not writable (as far as ``os.access`` can tell; writes that fail
        later are reported the same way by :func:`atomic_path`).
    """
    path = Path(path)
    if path.is_dir():
        raise output_error(path, IsADirectoryError(errno.EISDIR, "is a directory", str(path)))
    check_output_dir(path.parent, what=str(path))
    return path


def check_distinct_outputs(outputs: Mapping[str, str | os.PathLike | None]) -> None:
    """Refuse two outputs of one command that are the same file (one would overwrite the
    other); ``outputs`` maps each option name to its path (None: not written).

    Raises
    ------
    DeblurError
        Naming both options and the path.
    """
    seen: dict[Path, str] = {}
    for option, path in outputs.items():
        if path is None:
            continue
        key = Path(os.path.abspath(path))
        key = key.parent.resolve() / key.name  # a link to the folder names the same file
        if key in seen:
            raise DeblurError(
                f"{seen[key]} and {option} are the same file ({path}); give each output its "
                "own path"
            )
        seen[key] = option


def check_output_dir(path: str | os.PathLike, what: str | None = None) -> Path:
    """Check that directory ``path`` exists or can be created and written into.

    ``what`` names the output in the message (default: ``path`` itself). Nothing is created.
    """
    path = Path(path)
    what = str(path) if what is None else what
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        error = NotADirectoryError(errno.ENOTDIR, "not a directory", str(existing))
        raise output_error(Path(what), error)
    if not os.access(existing, os.W_OK | os.X_OK):
        error = PermissionError(errno.EACCES, "permission denied", str(existing))
        raise output_error(Path(what), error)
    return path


def output_error(path: Path, exc: OSError) -> DeblurError:
    """The one-line error for an output ``path`` that ``exc`` stopped us from writing."""
    # os.replace names the target second; mkdir and mkstemp name the folder they failed on
    where = exc.filename2 or exc.filename or path
    if isinstance(exc, IsADirectoryError) and Path(where) == path:
        fix = "it is a directory; give the path of a file to write"
    elif isinstance(exc, (NotADirectoryError, FileExistsError, IsADirectoryError)):
        fix = f"{where} is a file, not a directory; choose another output folder or move it"
    elif isinstance(exc, PermissionError):
        fix = f"permission denied on {where}; choose a writable location or fix its permissions"
    elif exc.errno in NO_SPACE_ERRNOS:
        fix = (
            f"no space left ({exc.strerror or exc}) while writing it; free space on its disk "
            "or choose another location"
        )
    else:
        fix = f"{exc.strerror or exc} ({where}); choose another location"
    return DeblurError(f"cannot write {path}: {fix}")
