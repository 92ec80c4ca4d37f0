"""Where data files are looked for: ``$TEXTCLF_DATA``, else ``data.root``.

Both sources use it: 20 Newsgroups finds its archive there, and the ``files`` source resolves
relative ``data.train``/``val``/``test`` paths against it, so a shipped config can name
``sms_spam.csv`` and each user points the variable (or the key) at their own copy.
"""

from __future__ import annotations

import os
from pathlib import Path

from textclf.config import DataConfig

__all__ = ["ENV_VAR", "data_location", "resolve_data_path"]

ENV_VAR = "TEXTCLF_DATA"


def data_location(config: DataConfig) -> tuple[Path | None, str]:
    """(folder or file, where that came from); (None, ...) when neither is set."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser(), f"the environment variable {ENV_VAR}"
    if config.root:
        return Path(config.root).expanduser(), "data.root"
    return None, "nothing (neither data.root nor TEXTCLF_DATA is set)"


def resolve_data_path(name: str, config: DataConfig) -> Path:
    """An absolute path stays; a relative one is taken inside the data location (or the cwd)."""
    path = Path(name).expanduser()
    if path.is_absolute():
        return path
    base, _ = data_location(config)
    if base is not None and base.is_dir():
        return base / path
    return path
