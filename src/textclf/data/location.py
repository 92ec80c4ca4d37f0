"""Where data files are looked for: ``$TEXTCLF_DATA``, else ``data.root``.

When both are set and differ, the variable wins and a warning says so once per process (a
config moved to a machine where the variable points elsewhere should not fail silently).

Both sources use it: 20 Newsgroups finds its archive there, and the ``files`` source resolves
relative ``data.train``/``val``/``test`` paths against it, so a shipped config can name
``sms_spam.csv`` and each user points the variable (or the key) at their own copy.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from textclf.data.sources import SourceParams

__all__ = ["ENV_VAR", "data_location", "resolve_data_path"]

ENV_VAR = "TEXTCLF_DATA"


_warned: set[tuple[str, str]] = set()


def data_location(config: SourceParams) -> tuple[Path | None, str]:
    """(folder or file, where that came from); (None, ...) when neither is set."""
    if os.environ.get(ENV_VAR):
        # Absolute when read: a process that runs elsewhere (torchrun, a Dask worker) sees the same files.
        env = Path(os.environ[ENV_VAR]).expanduser().absolute()
        if config.root and Path(config.root).expanduser().resolve() != env.resolve():
            key = (config.root, str(env))
            if key not in _warned:
                _warned.add(key)
                print(f"warning: data.root {config.root} is overridden by {ENV_VAR}={env}; unset "
                      f"{ENV_VAR} to use data.root", file=sys.stderr)
        return env, f"the environment variable {ENV_VAR}"
    if config.root:
        return Path(config.root).expanduser(), "data.root"
    return None, "nothing (neither data.root nor TEXTCLF_DATA is set)"


def resolve_data_path(name: str, config: SourceParams) -> Path:
    """An absolute path stays; a relative one is taken inside the data location (or the cwd)."""
    path = Path(name).expanduser()
    if path.is_absolute():
        return path
    base, _ = data_location(config)
    if base is not None and base.is_dir():
        return base / path
    return path
