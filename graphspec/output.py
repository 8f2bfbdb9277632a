"""Writing output files atomically: into a temporary file beside the target, renamed into
place only when complete, so a failure or an interrupt never leaves a partial or clobbered
file."""

from __future__ import annotations

import contextlib
import json
import os
import zipfile
from pathlib import Path
from typing import Iterator

METADATA_FILE = "graphspec.json"  # graphspec's own entry inside a saved .keras archive


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yields a temporary path with the same suffix; renames it to `path` on success."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
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
    """graphspec's metadata in a saved .keras archive, or None when it has none."""
    with zipfile.ZipFile(path) as archive:
        if METADATA_FILE not in archive.namelist():
            return None
        return json.loads(archive.read(METADATA_FILE))
