"""Stratified, seeded splits (scikit-learn's ``train_test_split``)."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split

from textclf.errors import DataError

__all__ = ["stratified_split"]


def stratified_split(
    labels: np.ndarray, fraction: float, seed: int, what: str = "data"
) -> tuple[np.ndarray, np.ndarray]:
    """Split positions ``0..n-1`` into (kept, held_out); ``held_out`` has ``ceil(fraction * n)``."""
    labels = np.asarray(labels)
    positions = np.arange(len(labels))
    try:
        kept, held = train_test_split(
            positions, test_size=fraction, stratify=labels, random_state=seed
        )
    except ValueError as exc:
        raise DataError(
            f"cannot split {what} ({len(labels)} examples) with a stratified "
            f"{fraction:.3g} fraction: {exc}; use more data or a larger fraction"
        ) from None
    return kept, held
