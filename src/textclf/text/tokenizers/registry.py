"""Named tokenizers: text → list of tokens.

A tokenizer is a small class registered with :func:`register_tokenizer`. Its constructor takes
keyword settings (``lowercase`` at least), it is called on one text, and ``settings()`` returns
its name and settings, which is all a model artifact stores to rebuild it::

    @register_tokenizer("whitespace")
    class WhitespaceTokenizer:
        def __init__(self, lowercase: bool = True): ...
        def __call__(self, text: str) -> list[str]: ...
        def settings(self) -> dict: return {"name": "whitespace", "lowercase": self.lowercase}

A class may declare ``version`` (an int, 1 when absent): raise it whenever a change to the code
changes any text's tokens. The encoding cache is keyed by it, so a changed tokenizer never
serves encodings made by the old one.

An unknown name is an error that lists the registered ones. Any tokenizer can also have its
digits replaced by ``0`` first (``digits_to_zero``, applied here around it): phone numbers,
prices and codes of one shape then share a token, which the vocabulary keeps even when no one
number repeats.
"""

from __future__ import annotations

import inspect
import re
from typing import Any, Callable, Protocol

from textclf.errors import ConfigError
from textclf.registry import Registry

__all__ = ["Tokenizer", "register_tokenizer", "build_tokenizer", "list_tokenizers", "check_tokenizer_name",
           "tokenizer_version", "takes_setting"]


class Tokenizer(Protocol):
    def __call__(self, text: str) -> list[str]: ...

    def settings(self) -> dict[str, Any]: ...


_REGISTRY: Registry[type] = Registry("tokenizer", "textclf.text.tokenizers")


def register_tokenizer(name: str) -> Callable[[type], type]:
    def decorate(cls: type) -> type:
        return _REGISTRY.add(name, cls)

    return decorate


def list_tokenizers() -> list[str]:
    return _REGISTRY.names()


def check_tokenizer_name(name: str) -> str | None:
    """None when ``name`` is registered, else a message listing the valid names."""
    return _REGISTRY.unknown(name)


def tokenizer_version(name: str) -> int:
    """The code version of the registered tokenizer ``name`` (its class's ``version``, else 1)."""
    return int(getattr(_REGISTRY[name], "version", 1)) if name in _REGISTRY else 1


def takes_setting(name: str, key: str) -> bool:
    """Whether the registered tokenizer ``name`` takes the keyword setting ``key`` (``study`` and
    ``wordpunct`` take ``unicode_words``; ``whitespace`` and a tokenizer of yours may not)."""
    if name not in _REGISTRY:
        return False
    return key in inspect.signature(_REGISTRY[name].__init__).parameters


def build_tokenizer(settings: dict[str, Any] | str = "study", **kwargs: Any) -> Tokenizer:
    """A tokenizer from its settings (``{"name": "study", "lowercase": True}``) or a name."""
    if isinstance(settings, str):
        settings = {"name": settings, **kwargs}
    settings = dict(settings)
    name = settings.pop("name")
    digits_to_zero = settings.pop("digits_to_zero", False)
    problem = check_tokenizer_name(name)
    if problem:
        raise ConfigError(f"preprocess.tokenizer: {problem}")
    tokenizer = _REGISTRY[name](**settings)
    return DigitsToZero(tokenizer) if digits_to_zero else tokenizer


_DIGITS = re.compile(r"\d")


class DigitsToZero:
    """``tokenizer`` applied after every digit of the text became ``0`` (the settings say so)."""

    def __init__(self, tokenizer: Tokenizer):
        self.tokenizer = tokenizer

    def __call__(self, text: str) -> list[str]:
        # A tokenizer that normalizes its text first (study, wordpunct) has its digits zeroed in
        # between, so that a digit the normal form makes is zeroed too, and the text is
        # normalized once.
        normalize = getattr(self.tokenizer, "normalize", None)
        if normalize is None:
            return self.tokenizer(_DIGITS.sub("0", text))
        return self.tokenizer.cut(_DIGITS.sub("0", normalize(text)))

    def settings(self) -> dict[str, Any]:
        return {**self.tokenizer.settings(), "digits_to_zero": True}
