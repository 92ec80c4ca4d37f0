"""Stratified, seeded splits (scikit-learn's ``train_test_split``)."""

from __future__ import annotations

import numpy as np

from textclf.errors import DataError

__all__ = ["stratified_split", "split_train_val_test", "strata"]


def strata(labels: np.ndarray) -> np.ndarray:
    """What to stratify by: the class itself, or for a multilabel (n, C) matrix each document's
    rarest class (documents without a class form their own group). Groups too small to be split
    are pooled, so that rare classes still spread over the splits in proportion."""
    labels = np.asarray(labels)
    if labels.ndim == 1:
        return labels
    counts = labels.sum(axis=0).astype(np.float64)
    rarity = np.where(labels > 0, counts, np.inf)  # (n, C)
    key = np.where(np.isfinite(rarity.min(axis=1)), rarity.argmin(axis=1), labels.shape[1])
    sizes = np.bincount(key, minlength=labels.shape[1] + 1)
    small = sizes[key] < 3
    if small.any():
        key = np.where(small, labels.shape[1] + 1, key)
        if small.sum() < 3:  # too few to be a group of their own: join the largest group
            key = np.where(small, np.bincount(key).argmax(), key)
    return key


def stratified_split(
    labels: np.ndarray, fraction: float, seed: int, what: str = "data"
) -> tuple[np.ndarray, np.ndarray]:
    """Split positions ``0..n-1`` into (kept, held_out); ``held_out`` has ``ceil(fraction * n)``.
    Multilabel labels (an (n, C) matrix) are stratified by :func:`strata`."""
    from sklearn.model_selection import train_test_split  # (here: predicting reads files without it)

    labels = strata(labels)
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


def split_train_val_test(
    labels: np.ndarray, test_size: float, val_size: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions of train, val and test: first ``test_size`` of the pool, then ``val_size`` of the
    pool (not of the rest) from what is left; both stratified and seeded."""
    if test_size + val_size >= 1:
        raise DataError(f"data.val_size + data.test_size must be below 1 (got {val_size + test_size:g})")
    rest, test = stratified_split(labels, test_size, seed, "the data")
    train, val = stratified_split(labels[rest], val_size / (1.0 - test_size), seed, "the non-test data")
    return rest[train], rest[val], test
