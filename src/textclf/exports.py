"""Names a package re-exports but imports only when first used (PEP 562), so that importing the
package stays cheap: a Predictor's process never imports the training code, the corpus reader's
pandas, or the metrics' scikit-learn and matplotlib::

    __getattr__ = exports_on_first_use(__name__, {"Predictor": "textclf.inference.predictor"})
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Callable

__all__ = ["exports_on_first_use"]


def exports_on_first_use(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """The module ``__getattr__`` of ``package``: ``exports`` maps each name to the module that
    defines it; a name is imported on first use and kept in the package."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name]), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
