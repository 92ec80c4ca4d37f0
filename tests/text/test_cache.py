"""The encoded-corpus cache: a folder of .npy arrays, read back memory-mapped and equal."""

from __future__ import annotations

import numpy as np

from textclf.config import load_config
from textclf.text.prepare import prepare_data


def test_a_cached_corpus_is_memory_mapped_and_equal(mini_config):
    config = load_config(mini_config)
    config.data.cache_dir = str(mini_config.parent / "cache-mmap")
    first = prepare_data(config)
    cached = prepare_data(config)
    assert not first.from_cache and cached.from_cache
    for split in ("train", "val", "test"):
        a, b = first.splits[split], cached.splits[split]
        assert isinstance(b.ids, np.memmap) and isinstance(b.offsets, np.memmap)
        for field in ("ids", "offsets", "labels", "full_lengths", "unk_counts"):
            assert np.array_equal(getattr(a, field), getattr(b, field)), (split, field)
    assert cached.vocab.itos_ == first.vocab.itos_
