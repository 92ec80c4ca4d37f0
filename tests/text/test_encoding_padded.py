"""EncodedSplit.padded: the same batch whether it is gathered by index arrays (narrow batches)
or a row at a time (wide ones)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from textclf.text import encoding
from textclf.text.encoding import EncodedSplit
from textclf.text.vocabulary import PAD_ID


@settings(max_examples=60, deadline=None)
@given(lengths=st.lists(st.integers(0, 40), min_size=1, max_size=12), data=st.data())
def test_padding_a_row_at_a_time_gives_the_batch_the_index_arrays_give(lengths, data):
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    ids = np.arange(2, 2 + int(offsets[-1]), dtype=np.int32)
    n = len(lengths)
    split = EncodedSplit(ids, offsets, np.arange(n), np.asarray(lengths), np.zeros(n, dtype=np.int64))
    indices = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=2 * n))
    saved = encoding.LONG_ROWS
    try:
        encoding.LONG_ROWS = 10 ** 9  # index arrays
        wide = split.padded(indices)
        encoding.LONG_ROWS = 0  # a row at a time
        rows = split.padded(indices)
    finally:
        encoding.LONG_ROWS = saved
    for a, b in zip(wide, rows):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    padded, got_lengths, _ = rows
    for row, i in enumerate(indices):
        assert padded[row, : lengths[i]].tolist() == split.document(i).tolist()
        assert (padded[row, lengths[i]:] == PAD_ID).all()
    assert got_lengths.tolist() == [lengths[i] for i in indices]
