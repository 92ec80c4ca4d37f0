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
    labels: np.ndarray, fraction: float, seed: int, what: str = "data", names: list[str] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Split positions ``0..n-1`` into (kept, held_out), about ``fraction`` held out, stratified
    and seeded. Multilabel labels (an (n, C) matrix) are stratified by :func:`strata`.

    Small data is split as far as it can be, with a warning on stderr rather than an error: a
    class with one example cannot be on both sides, so it stays in the kept part (training); and
    where the held-out part is too small to hold every class (or the kept part), the examples are
    split at random, unstratified. ``names``: the class names the warning uses."""
    from sklearn.model_selection import train_test_split  # (here: predicting reads files without it)

    groups = strata(labels)
    positions = np.arange(len(groups))
    values, counts = np.unique(groups, return_counts=True)
    single = values[counts < 2]
    alone = np.isin(groups, single)
    if len(single):
        shown = ", ".join(repr(names[int(v)]) if names is not None and np.ndim(labels) == 1 else str(v)
                          for v in single[:5])
        more = "" if len(single) <= 5 else f" and {len(single) - 5} more"
        _warn_once(f"warning: {what}: {len(single)} class(es) with a single example ({shown}{more}) stay "
                   "in training: a held-out split cannot have them too", key=f"single {shown}{more}")
    pool = positions[~alone]
    try:
        kept, held = train_test_split(pool, test_size=fraction, stratify=groups[pool], random_state=seed)
    except ValueError as exc:
        try:  # (too few examples for a stratified held-out part: an unstratified one)
            kept, held = train_test_split(pool, test_size=fraction, random_state=seed)
        except ValueError:
            raise DataError(
                f"cannot split {what} ({len(groups)} examples) with a {fraction:.3g} fraction: {exc}; "
                "use more data, or give the val and test splits as files (data.val, data.test)"
            ) from None
        _warn_once(f"warning: {what}: {len(pool)} examples of {len(values)} classes are too few for a "
                   f"stratified {fraction:.3g} held-out fraction ({exc}); it is drawn at random, and some "
                   "classes may be missing from it")
    return np.sort(np.concatenate([kept, positions[alone]])) if len(single) else kept, held


_WARNED: set[str] = set()  # (a run reads its data several times: each warning once a process)


def _warn_once(message: str, key: str | None = None) -> None:
    """Print ``message`` unless this process printed it (or one of the same ``key``) before."""
    import sys

    key = key or message
    if key not in _WARNED:
        _WARNED.add(key)
        print(message, file=sys.stderr)


def split_train_val_test(
    labels: np.ndarray, test_size: float, val_size: float, seed: int, names: list[str] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions of train, val and test: first ``test_size`` of the pool, then ``val_size`` of the
    pool (not of the rest) from what is left; both stratified and seeded."""
    if test_size + val_size >= 1:
        raise DataError(f"data.val_size + data.test_size must be below 1 (got {val_size + test_size:g})")
    rest, test = stratified_split(labels, test_size, seed, "the data", names)
    train, val = stratified_split(labels[rest], val_size / (1.0 - test_size), seed, "the data without its test split",
                                  names)
    return rest[train], rest[val], test
