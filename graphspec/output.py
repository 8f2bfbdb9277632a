"""Writing output files atomically: into a temporary file beside the target, renamed into
place only when complete, so a failure or an interrupt never leaves a partial or clobbered
file.

`check_target` looks at an output path before any work starts (a missing or read-only folder,
a directory in the way, a wrong suffix), and the writers turn what can still go wrong while
writing (a full disk, a permission) into an `OutputError` that names the file.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
import zipfile
from pathlib import Path
from typing import Iterable, Iterator

from .errors import OutputError

__all__ = [
    "OutputError",
    "atomic_path",
    "check_target",
    "read_metadata",
    "save_model",
    "write_text",
]

METADATA_FILE = "graphspec.json"  # graphspec's own entry inside a saved .keras archive


def check_target(path: str | os.PathLike, suffixes: Iterable[str]) -> Path:
    """`path` as a Path when a file can be written there: its suffix is one of `suffixes`
    (e.g. (".keras",); empty for any), its folder exists and takes new files, and it is not a
    directory or a device. Raises OutputError(usage=True) otherwise. Call it before any work,
    so that a long build or training run does not find out at the end."""
    target = Path(path)
    suffixes = tuple(s.lower() for s in suffixes)
    try:
        info = target.stat()
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise OutputError(
            f"cannot use the output '{path}': {_reason(exc)}", path, usage=True
        ) from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise OutputError(
            f"the output '{path}' is a directory; give a file name inside it, "
            f"e.g. '{target / ('model' + (suffixes[0] if suffixes else ''))}'",
            path,
            usage=True,
        )
    if suffixes and target.suffix.lower() not in suffixes:
        raise OutputError(
            f"the output must be a {_choices(suffixes)} file. Received: '{path}'", path, usage=True
        )
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise OutputError(f"the output '{path}' exists and is not a regular file", path, usage=True)
    folder = _real(target).parent
    if not folder.is_dir():
        raise OutputError(f"the output folder does not exist: '{folder}'", path, usage=True)
    try:
        # Asking the file system is the only reliable test (read-only mounts, ACLs, root).
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise OutputError(
            f"cannot write in the output folder '{folder}': {_reason(exc)}", path, usage=True
        ) from None
    return target


def _choices(suffixes: tuple[str, ...]) -> str:
    return suffixes[0] if len(suffixes) == 1 else ", ".join(suffixes[:-1]) + " or " + suffixes[-1]


def _reason(exc: OSError) -> str:
    return exc.strerror.lower() if exc.strerror else str(exc)


def _real(path: Path) -> Path:
    # Replacing a symlink would cut the link; write where it points instead.
    return path.resolve() if path.is_symlink() else path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yields a temporary path with the same suffix; renames it to `path` on success. An
    OSError on the way (a full disk, a permission) becomes an OutputError naming `path`, and
    the temporary file is removed whatever happens."""
    shown = path
    path = _real(Path(path))
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"cannot write '{shown}': {_reason(exc)}", shown) from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def save_model(model, path: str | os.PathLike, metadata: dict) -> None:
    """`model.save` plus graphspec's metadata (which spec and parameters built the model)
    as an extra file in the archive; Keras ignores it on load."""
    with atomic_path(path) as tmp:
        model.save(tmp)
        with zipfile.ZipFile(tmp, "a") as archive:
            archive.writestr(METADATA_FILE, json.dumps(metadata, indent=2, sort_keys=True))


def read_metadata(path: str | os.PathLike) -> dict | None:
    """graphspec's metadata in a saved .keras archive, or None when it has none. A file that
    is not a readable archive raises OutputError naming it."""
    try:
        with zipfile.ZipFile(path) as archive:
            if METADATA_FILE not in archive.namelist():
                return None
            data = json.loads(archive.read(METADATA_FILE))
    except OSError as exc:
        raise OutputError(f"cannot read '{path}': {_reason(exc)}", path) from None
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        EOFError,
        NotImplementedError,
        RuntimeError,
    ) as exc:  # RuntimeError: encrypted; NotImplementedError: compression
        raise OutputError(
            f"cannot read '{path}': it is not a readable .keras archive ({exc})", path
        ) from None
    except ValueError as exc:  # the metadata entry is not JSON
        raise OutputError(f"cannot read the graphspec metadata in '{path}': {exc}", path) from None
    return data if isinstance(data, dict) else None
