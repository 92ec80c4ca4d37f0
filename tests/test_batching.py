import numpy as np
import torch

from textclf.batching import BucketBatchSampler, collate, make_train_loader, sorted_batches, take
from textclf.text.encoding import EncodedSplit


def make_split(lengths) -> EncodedSplit:
    lengths = np.asarray(lengths)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    ids = np.arange(2, 2 + offsets[-1], dtype=np.int32)
    n = len(lengths)
    return EncodedSplit(ids, offsets, np.arange(n) % 3, lengths, np.zeros(n, dtype=np.int64))


def test_collate_pads_to_the_longest_member_and_carries_lengths():
    ids, lengths, labels = collate([(np.array([5, 6, 7]), 1), (np.array([8]), 0)])
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]]
    assert lengths.tolist() == [3, 1] and labels.tolist() == [1, 0]


def test_bucket_sampler_visits_every_index_once_and_replays_by_epoch():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 400, size=1000)
    sampler = BucketBatchSampler(lengths, batch_size=32, seed=7, pool_batches=10)
    sampler.set_epoch(1)
    epoch1 = list(sampler)
    assert sorted(i for b in epoch1 for i in b) == list(range(1000))
    assert len(epoch1) == len(sampler) == 32
    sampler.set_epoch(1)
    assert list(sampler) == epoch1
    sampler.set_epoch(2)
    assert list(sampler) != epoch1
    # Bucketing: far less padding than random batches.
    def padding(batches):
        return sum(max(lengths[b]) * len(b) - lengths[b].sum() for b in batches)

    plain = BucketBatchSampler(lengths, batch_size=32, seed=7, bucket=False)
    assert padding(epoch1) < 0.2 * padding(list(plain))
    assert sorted(i for b in plain for i in b) == list(range(1000))


def test_train_loader_and_sorted_batches_cover_the_split():
    split = make_split([3, 1, 4, 1, 5, 9, 2, 6])
    loader = make_train_loader(split, batch_size=3, bucket=True, seed=0)
    seen = []
    for ids, lengths, labels, weights in loader:
        assert weights is None
        assert ids.shape == (len(lengths), int(lengths.max()))
        seen += labels.tolist()
    assert sorted(seen) == sorted(split.labels.tolist())
    order = np.concatenate([idx for idx, _ in sorted_batches(split, 3)])
    assert sorted(order.tolist()) == list(range(8))


def test_weighted_sampler_balances_classes():
    lengths = np.full(1000, 5)
    split = make_split(lengths)
    split.labels = (np.arange(1000) < 900).astype(np.int64)  # 100 of class 0, 900 of class 1
    loader = make_train_loader(split, batch_size=50, bucket=True, seed=3, balance_classes=True)
    labels = np.concatenate([y.numpy() for _, _, y, _ in loader])
    assert len(labels) == 1000
    assert 0.4 < (labels == 0).mean() < 0.6


def test_sorted_batches_keep_to_a_token_budget_and_cover_the_split():
    """Long documents go in smaller evaluation batches (a transformer's attention memory grows
    with batch × length²); every document still comes exactly once, in length order."""
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 300, size=500)
    split = EncodedSplit(np.ones(lengths.sum(), dtype=np.int32), np.concatenate([[0], np.cumsum(lengths)]),
                         np.zeros(500, dtype=np.int64), lengths, np.zeros(500, dtype=np.int64))
    seen, sizes = [], []
    for indices, (ids, batch_lengths, _) in sorted_batches(split, 64, max_tokens=4096):
        assert ids.shape[0] * ids.shape[1] <= 4096 and len(indices) <= 64
        seen += indices.tolist()
        sizes.append(len(indices))
    assert sorted(seen) == list(range(500)) and list(lengths[seen]) == sorted(lengths)
    assert sizes[0] == 64 and 1 < min(sizes[:-1]) <= 4096 // int(np.sort(lengths)[-2])  # short ones full, long ones few
    huge = EncodedSplit(np.ones(5000, dtype=np.int32), np.array([0, 5000]), np.zeros(1, dtype=np.int64),
                        np.array([5000]), np.zeros(1, dtype=np.int64))
    assert [len(i) for i, _ in sorted_batches(huge, 64, max_tokens=2048)] == [1]  # one document over the budget


def test_take_is_collate_of_the_same_documents():
    """``take`` gathers a batch from the flat ids in array operations: the same ids, lengths and
    labels as padding each document in turn, for empty documents, repeats and label rows too."""
    rng = np.random.default_rng(0)
    lengths = rng.integers(0, 9, size=40)
    lengths[[3, 17]] = 0
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    ids = rng.integers(2, 50, size=int(offsets[-1])).astype(np.int32)
    for labels in (rng.integers(0, 3, size=40), rng.integers(0, 2, size=(40, 4)).astype(np.uint8)):
        split = EncodedSplit(ids, offsets, labels, lengths.copy(), np.zeros(40, dtype=np.int64))
        for indices in ([5, 3, 17, 5, 39], [3, 17], list(range(40)), []):
            expected = collate([(split.document(i), split.labels[i]) for i in indices]) if indices else None
            got = take(split, indices)
            if expected is None:
                assert got[0].shape == (0, 0) and got[1].numel() == 0
                continue
            for a, b in zip(got, expected):
                assert a.dtype == b.dtype and torch.equal(a, b)
