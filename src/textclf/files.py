"""Writing files so that a crash never leaves a half-written one under its final name.

Every output of textclf goes through :func:`atomic_path`: the caller writes to a temporary name in
the destination folder, and only a complete file is renamed into place (``os.replace`` is atomic
on POSIX and Windows when both names are on one file system, which the shared folder guarantees).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

from textclf.errors import UsageError

__all__ = ["atomic_path", "write_text", "write_json", "append_jsonl"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it to ``path``."""
    path = Path(path)
    if path.is_dir():  # say so before writing anything, naming the path given, not a temporary one
        raise UsageError(f"{path}: is a folder, not a file; give the path of a file to write "
                         f"(for example {path / 'predictions.csv'})")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs follow the umask like any file
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()  # read once: os.umask can only be read by setting it


def write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def append_jsonl(path: str | os.PathLike, record: dict) -> None:
    """Append one JSON line; the whole file is rewritten atomically so no line is ever cut."""
    path = Path(path)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    write_text(path, old + json.dumps(record, ensure_ascii=False) + "\n")
