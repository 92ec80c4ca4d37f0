"""One registry for every kind of named, pluggable part: models, tokenizers, data sources.

Each kind keeps a :class:`Registry`; its own module adds the decorator users write
(``@register_model``, ``@register_tokenizer``, ``@register_source``) and what is special to it.
The registry holds what the decorator stores, imports the package that registers the built-in
ones the first time the names are read, refuses a name registered twice, and words an unknown
name the same way for every kind: the closest registered name (one it begins, or one spelled
alike) and the valid ones. :func:`check_params` validates the keys of a part that brings its
own pydantic parameter class (models, data sources) and words their problems alike.
"""

from __future__ import annotations

import difflib
import importlib
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = ["Registry", "check_params"]

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str, builtin: str):
        self.kind = kind  # "model", "tokenizer", "data source": how messages name it
        self._builtin = builtin  # the package whose import registers the built-in ones
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def remove(self, name: str) -> T:
        """Take ``name`` out again (a test's or a plugin's temporary entry)."""
        return self._entries.pop(name)

    def names(self) -> list[str]:
        importlib.import_module(self._builtin)
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self.names()
        return isinstance(name, str) and name in self._entries

    def __getitem__(self, name: str) -> T:
        """The entry of a registered ``name`` (check with ``in`` or :meth:`unknown` first)."""
        return self._entries[name]

    def unknown(self, name: object) -> str | None:
        """None when ``name`` is registered, else the message that says so: the closest name
        (one it begins, as bigru for bigru_attention, or one spelled alike) and the valid ones."""
        valid = self.names()
        if name in self:
            return None
        text = str(name)
        close = sorted(n for n in valid if text and n.startswith(text)) or \
            difflib.get_close_matches(text, valid, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return f"unknown {self.kind} {name!r}; {hint}valid names: {', '.join(valid)}"


def check_params(params: type[BaseModel], values: dict[str, Any],
                 owner: str) -> tuple[list[tuple[str, str]], BaseModel | None]:
    """``values`` checked against the parameter class ``params`` of ``owner`` (``model 'lstm'``,
    ``source 'files'``): (problems as (key, message), the validated object or None). An unknown
    key's message names the closest valid key, or all of them."""
    from pydantic import ValidationError  # (here: the tokenizers' registry is read by a prediction)

    try:
        return [], params.model_validate(values)
    except ValidationError as exc:
        problems = []
        valid = list(params.model_fields)
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"])
            if err["type"] == "extra_forbidden":
                close = difflib.get_close_matches(key, valid, n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"valid keys: {', '.join(valid)}"
                problems.append((key, f"unknown key for {owner}; {hint}"))
            elif err["type"] == "missing":
                problems.append((key, f"required for {owner}"))
            else:
                message, got = err["msg"].removeprefix("Value error, "), err.get("input")
                problems.append((key, message if got is None or isinstance(got, dict) else f"{message} (got {got!r})"))
        return problems, None
