"""The built-in data sources: importing this module registers them. The sources' registry
imports it the first time a source's name is read (``data/sources.py``), so that a process that
only reads a table to predict it (``data/tables.py``) imports none of them, nor pydantic."""

from __future__ import annotations

from textclf.data import files, hf, newsgroups  # noqa: F401  (registration side effect)
