"""Tests every registered model must pass (one parametrized suite, as in timm)."""

import pytest
import torch

from conftest import minilm_path
from textclf.config import TrainConfig
from textclf.errors import ConfigError
from textclf.graph_inputs import graph_feeds
from textclf.models import BuildContext, build_model, list_models
from textclf.models.rnn import PaddedRNN, reverse_padded
from textclf.task import get_task
from textclf.training.optimizer import clip_gradients, gradient_values, make_optimizer

VOCAB, CLASSES = 60, 5
# The vocabulary's words (specials blank): words that share character n-grams ("w3", "w13", ...).
TOKENS = ("", "") + tuple(f"w{i}" for i in range(2, VOCAB))
CONTEXT = BuildContext(VOCAB, CLASSES, tokens=TOKENS)
RNN_SMALL = {"embedding_dim": 12, "hidden_size": 10}
# Small parameters and variants of every registered model; a new model must add its entry here.
VARIANTS = {
    "bigru_attention": [RNN_SMALL, {**RNN_SMALL, "num_layers": 2}, {**RNN_SMALL, "bidirectional": False}],
    "lstm": [RNN_SMALL, {**RNN_SMALL, "num_layers": 2, "bidirectional": True}],
    "bag_of_ngrams": [
        {"embedding_dim": 8, "buckets": 97},
        {"embedding_dim": 8, "buckets": 97, "ngrams": 3, "tfidf": True},
        {"embedding_dim": 8, "ngrams": 1, "sparse": False},
        {"embedding_dim": 8, "buckets": 97, "tfidf": True, "minn": 2, "maxn": 3, "char_buckets": 31},
        {"embedding_dim": 8, "buckets": 97, "tfidf": True, "members": 3},
    ],
    "linear": [{"buckets": 97}, {"buckets": 97, "ngrams": 1, "sparse": False, "l2": 0.01},
               {"buckets": 97, "minn": 2, "maxn": 3, "char_buckets": 31, "l2": 0.001}],
    "textcnn": [{"embedding_dim": 12, "num_filters": 4}, {"embedding_dim": 12, "num_filters": 4, "filter_widths": [2, 7]}],
    # The real all-MiniLM-L6-v2 (random ids 2..59 are valid rows of its vocabulary).
    "transformer": [{"pretrained": "MINILM"}, {"pretrained": "MINILM", "pooling": "cls", "dropout": 0.0}],
}
FIT_LR = {"transformer": 2e-4}  # a pretrained encoder takes small steps
SMALL = {name: variants[0] for name, variants in VARIANTS.items()}
LOSS = get_task("multiclass").criterion(None)  # the training loss (a model with members gives each its own)


def batch(seed=0):
    torch.manual_seed(seed)
    lengths = torch.tensor([9, 4, 1, 6])
    ids = torch.randint(2, VOCAB, (4, 9))
    ids[torch.arange(9)[None, :] >= lengths[:, None]] = 0
    return ids, lengths


def variants():
    for name in list_models():
        for i, params in enumerate(VARIANTS[name]):
            yield pytest.param(name, params, id=f"{name}-{i}")


def resolved(params):
    return {k: minilm_path() if v == "MINILM" else v for k, v in params.items()}


def fitted(name, params):
    """A model with random weights, its training statistics (if any) taken from random batches."""
    model = build_model(name, resolved(params), CONTEXT)
    if model.needs_statistics:
        model.fit_statistics([batch(seed) for seed in range(3)])
    return model


def test_every_registered_model_has_test_variants():
    assert sorted(VARIANTS) == list_models()


@pytest.mark.parametrize("name,params", list(variants()))
def test_logits_do_not_depend_on_padding(name, params):
    torch.manual_seed(1)
    model = fitted(name, params).eval()
    ids, lengths = batch()
    logits = model(ids, lengths)
    assert logits.shape == (4, CLASSES)
    padded = torch.cat([ids, torch.zeros(4, 23, dtype=ids.dtype)], dim=1)
    torch.testing.assert_close(model(padded, lengths), logits, rtol=0, atol=1e-6)
    # Each document alone, padded only to its own length, gives the same logits as in the batch.
    for row in range(4):
        alone = model(ids[row : row + 1, : lengths[row]], lengths[row : row + 1])
        torch.testing.assert_close(alone, logits[row : row + 1], rtol=0, atol=1e-5)


@pytest.mark.parametrize("name,params", list(variants()))
def test_every_parameter_gets_a_gradient(name, params):
    model = fitted(name, params).train()
    ids, lengths = batch()
    LOSS(model(ids, lengths), torch.tensor([0, 1, 2, 3])).backward()
    for pname, param in model.named_parameters():
        grad = gradient_values(param)
        assert grad is not None and torch.isfinite(grad).all(), pname
        if pname == "attention.bias":
            continue  # softmax ignores a shift of all scores: its gradient is 0 up to rounding
        assert grad.abs().sum() > 0, pname


@pytest.mark.parametrize("name,params", list(variants()))
def test_a_few_steps_fit_a_batch_and_state_dict_round_trips(name, params):
    """The run's own optimizer (SparseAdam for sparse tables) trains every model, and a model
    rebuilt from its state dict (buffers included) gives the same logits."""
    torch.manual_seed(0)
    model = fitted(name, params).train()
    optimizer = make_optimizer(TrainConfig(lr=FIT_LR.get(name, 0.05)), model)
    ids, lengths = batch()
    labels = torch.tensor([0, 1, 2, 3])
    for step in range(1, 61):  # at most 60 steps; done once the batch is fit (checked every 5)
        optimizer.zero_grad()
        loss = LOSS(model(ids, lengths), labels)
        loss.backward()
        clip_gradients(model.parameters(), 5.0)
        optimizer.step()
        if step % 5 == 0:
            with torch.no_grad():
                if model.eval()(ids, lengths).argmax(1).tolist() == labels.tolist():
                    break
            model.train()
    model.eval()
    assert model(ids, lengths).argmax(1).tolist() == labels.tolist()
    copy = build_model(name, resolved(params), CONTEXT).eval()
    copy.load_state_dict(model.state_dict())
    torch.testing.assert_close(copy(ids, lengths), model(ids, lengths))


def test_unknown_model_and_parameter_errors_list_valid_choices():
    with pytest.raises(ConfigError, match="valid names: bag_of_ngrams, bigru_attention, linear, lstm, textcnn, transformer"):
        build_model("bert", {}, CONTEXT)
    with pytest.raises(ConfigError, match="did you mean 'hidden_size'"):
        build_model("lstm", {"hiden_size": 3}, CONTEXT)


def test_study_model_has_the_study_size():
    model = build_model("bigru_attention", {}, BuildContext(50000, 20))
    assert sum(p.numel() for p in model.parameters()) == 10_461_973  # "~10.46 M" in the study


def test_attention_is_exactly_zero_on_padding():
    model = build_model("bigru_attention", RNN_SMALL, CONTEXT).eval()
    ids, lengths = batch()
    _, weights = model(ids, lengths, return_attention=True)
    mask = torch.arange(9)[None, :] < lengths[:, None]
    assert torch.all(weights[~mask] == 0)
    torch.testing.assert_close(weights.sum(1), torch.ones(4))


@pytest.mark.parametrize("params", VARIANTS["bigru_attention"])
def test_the_bigru_predicts_by_its_step_loop_what_pytorchs_gru_computes(params):
    """Prediction on a CPU (no gradients) reads each distinct word's input projection once and
    runs ``rnn.gru_steps``; training and explanations (gradients) run ``nn.GRU``. Same logits
    and attention, to float rounding, one- and two-layer, one- and two-directional."""
    model = build_model("bigru_attention", params, CONTEXT).eval()
    ids, lengths = batch(3)
    ids[1, :3] = ids[0, :3]  # words repeated across documents
    reference, reference_weights = model.classify(model.embed(ids), ids, lengths, return_attention=True)
    calls = []
    original = model.gru.forward_ids
    model.gru.forward_ids = lambda *a: calls.append(1) or original(*a)
    with torch.no_grad():
        assert model.gru.reads_ids(ids)
        logits, weights = model(ids, lengths, return_attention=True)
    assert calls  # the step loop ran
    torch.testing.assert_close(logits, reference.detach(), rtol=0, atol=1e-5)
    torch.testing.assert_close(weights, reference_weights.detach(), rtol=0, atol=1e-6)
    assert not model.gru.reads_ids(ids)  # with gradients: nn.GRU


def test_reverse_padded_reverses_within_length():
    x = torch.arange(8.0).view(2, 4, 1)
    out = reverse_padded(x, torch.tensor([3, 4]))
    assert out.squeeze(-1).tolist() == [[2, 1, 0, 3], [7, 6, 5, 4]]


def test_lstm_final_state_is_the_true_last_step_not_the_padded_one():
    """Compare with PyTorch's own LSTM run on each unpadded sequence."""
    torch.manual_seed(0)
    rnn = PaddedRNN("lstm", 3, 4, bidirectional=True)
    x = torch.randn(2, 6, 3)
    lengths = torch.tensor([6, 2])
    _, last = rnn(x, lengths)
    fwd, bwd = rnn.layers[0]
    for row in range(2):
        seq = x[row : row + 1, : lengths[row]]
        _, (h_f, _) = fwd(seq)
        _, (h_b, _) = bwd(seq.flip(1))
        torch.testing.assert_close(last[row], torch.cat([h_f[0, 0], h_b[0, 0]]))


@pytest.mark.parametrize("max_df", [1.0, 0.5])
def test_bag_of_ngrams_tfidf_equals_scikit_learn(max_df):
    """With an identity embedding, the document vector is the TF-IDF vector: sublinear tf, smooth
    idf from the training documents, L2 norm — TfidfVectorizer's numbers; with max_df, without the
    words of more than that share of the training documents (word 2: 3 of 4), as its max_df."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vocab = 12
    train_docs = [[2, 3, 3, 4], [3, 5], [6, 7, 7, 7, 2], [2, 2, 8]]
    test_docs = [[3, 3, 3, 2, 9], [7, 1]]
    model = build_model("bag_of_ngrams", {"embedding_dim": vocab, "ngrams": 1, "tfidf": True, "max_df": max_df},
                        BuildContext(vocab, 2))

    def as_batch(docs):
        lengths = torch.tensor([len(d) for d in docs])
        ids = torch.zeros(len(docs), int(lengths.max()), dtype=torch.long)
        for i, d in enumerate(docs):
            ids[i, : len(d)] = torch.tensor(d)
        return ids, lengths

    model.fit_statistics([as_batch(train_docs)])
    with torch.no_grad():
        model.embedding.weight.copy_(torch.eye(vocab))
    ids, lengths = as_batch(test_docs)
    feats, valid = model.features(ids, lengths)
    weights = model._weights(feats, valid)
    ours = torch.bmm(weights.unsqueeze(1), model.embedding(ids)).squeeze(1)

    # scikit-learn learns its vocabulary from the training documents, so words never seen there
    # (9, and <unk> = 1) weigh nothing; ours gives them idf 0.
    words = lambda docs: [" ".join(f"w{i}" for i in d) for d in docs]  # noqa: E731
    vectorizer = TfidfVectorizer(sublinear_tf=True, token_pattern=r"\S+", lowercase=False, max_df=max_df)
    vectorizer.fit(words(train_docs))
    assert ("w2" in vectorizer.vocabulary_) == (max_df == 1.0)
    sk = vectorizer.transform(words(test_docs)).toarray()
    expected = torch.zeros(len(test_docs), vocab)
    for word, column in vectorizer.vocabulary_.items():
        expected[:, int(word[1:])] = torch.tensor(sk[:, column], dtype=torch.float32)
    torch.testing.assert_close(ours, expected)


@pytest.mark.parametrize("name", ["bag_of_ngrams", "linear"])
def test_the_sorted_tfidf_sums_are_the_token_aligned_ones(name):
    """``forward`` sums each document's sorted distinct features (``_sorted_tfidf``), with and
    without gradients (two code paths in ``_bag``); ``classify`` (explanations) weighs every token
    occurrence in place. Both are the same TF-IDF document: repeats and bigrams included."""
    params = {"ngrams": 3, "buckets": 50} if name == "linear" else {"embedding_dim": 8, "ngrams": 3, "buckets": 50,
                                                                   "tfidf": True}
    model = build_model(name, params, BuildContext(vocab_size=9, num_classes=3))
    generator = torch.Generator().manual_seed(0)
    lengths = torch.tensor([30, 1, 7, 0, 18])
    ids = torch.randint(1, 9, (5, 30), generator=generator)  # 8 words: many repeats
    ids[torch.arange(30)[None] >= lengths[:, None]] = 0
    model.fit_statistics([(ids[:3], lengths[:3])])  # some words and bigrams unseen: idf 0
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(generator=generator)
    model.eval()
    aligned = model.classify(model.embed(ids), ids, lengths)
    torch.testing.assert_close(model(ids, lengths), aligned, rtol=0, atol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(model(ids, lengths), aligned, rtol=0, atol=1e-5)


def test_hashed_bigrams_are_deterministic_and_spread():
    from textclf.models.bag_of_ngrams import hashed_ngrams

    ids = torch.arange(2, 1002).view(1, -1)
    buckets, valid = hashed_ngrams(ids, torch.tensor([1000]), 2, 5000, 100_000)
    assert valid.all() and buckets.shape == (1, 999)
    assert len(set(buckets[0].tolist())) >= 990  # few collisions among 999 distinct bigrams
    again, _ = hashed_ngrams(ids, torch.tensor([1000]), 2, 5000, 100_000)
    assert torch.equal(buckets, again)
    _, valid = hashed_ngrams(ids, torch.tensor([1]), 2, 5000, 100_000)
    assert not valid.any()  # a one-word document has no bigram


def test_the_hash_is_the_floor_division_it_has_always_been():
    """The n-gram hash keeps the high bits of the mixed key by an exact division (the form that
    exports as three ONNX operators); its buckets must stay those of rounding_mode="floor", or
    every saved model would read other rows."""
    from textclf.graph_inputs import MIX
    from textclf.models.bag_of_ngrams import hashed_ngrams

    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 200_000, (64, 300), generator=generator)
    ids[0, :4] = torch.tensor([0, 1, 199_999, 2])
    lengths = torch.full((64,), 300)
    for n, vocab, buckets in ((2, 200_000, 200_000), (3, 5_000, 500_000)):
        got, _ = hashed_ngrams(ids, lengths, n, vocab, buckets)
        width = ids.size(1) - n + 1
        key = ids[:, :width]
        for k in range(1, n):
            key = key * vocab + ids[:, k: k + width]
        floor = torch.div(key * MIX, 1 << 20, rounding_mode="floor")
        assert torch.equal(got, torch.remainder(floor, buckets))


def test_bag_of_ngrams_sparse_gradients_hold_each_batch_row_once():
    """A word that occurs many times in a batch is one row of the sparse gradient (SparseAdam's
    step costs per row), with the sum of its occurrences' gradients."""
    params = {"embedding_dim": 8, "buckets": 97, "minn": 2, "maxn": 3, "char_buckets": 31}
    model = build_model("bag_of_ngrams", params, CONTEXT)
    ids, lengths = batch()
    model(ids, lengths).sum().backward()
    for table in (model.embedding, model.ngram_embedding, model.char_embedding):
        grad = table.weight.grad
        assert grad.is_sparse
        rows = grad._indices()[0]
        assert rows.numel() == rows.unique().numel()
    dense = build_model("bag_of_ngrams", {**params, "sparse": False}, CONTEXT)
    dense.load_state_dict(model.state_dict())
    dense(ids, lengths).sum().backward()
    for name in ("embedding", "ngram_embedding", "char_embedding"):
        torch.testing.assert_close(getattr(model, name).weight.grad.to_dense(), getattr(dense, name).weight.grad)


@pytest.mark.parametrize("form", ["rows", "offsets"])
@pytest.mark.parametrize("padding", [0, 12, 39])
def test_a_sparse_bag_has_autograds_gradient_one_entry_a_distinct_row_and_none_for_padding(form, padding):
    """sparse_bag's own backward gives what embedding + embedding_bag give through autograd:
    rows repeated within and across bags, weights, the padding row (the first, a middle or the
    last row read) read with weight 0, and (1-D) an empty bag."""
    from textclf.models.base import sparse_bag

    torch.manual_seed(0)
    table = torch.nn.Embedding(40, 6, sparse=True)
    rows = torch.tensor([[3, 3, 7, 0], [7, 12, 39, 0], [5, 3, 12, 12]])
    weights = torch.rand(3, 4) * (rows != padding)
    offsets = None
    if form == "offsets":  # the same bags flattened, with an empty one between the first two
        rows, weights, offsets = rows.reshape(-1), weights.reshape(-1), torch.tensor([0, 4, 4, 8])
    out = sparse_bag(table, rows, weights, offsets, padding_idx=padding)
    upstream = torch.randn_like(out)
    (out * upstream).sum().backward()
    reference = torch.nn.Embedding(40, 6, padding_idx=padding)
    reference.weight.data.copy_(table.weight.data)
    expected = torch.nn.functional.embedding_bag(rows, reference.weight, offsets, mode="sum", per_sample_weights=weights,
                                                 padding_idx=padding)
    torch.testing.assert_close(out, expected)
    (expected * upstream).sum().backward()
    grad = table.weight.grad
    assert grad.is_sparse
    torch.testing.assert_close(grad.to_dense(), reference.weight.grad)
    assert grad._indices()[0].tolist() == [row for row in (0, 3, 5, 7, 12, 39) if row != padding]  # each once


def test_bag_of_ngrams_members_are_an_ensemble_trained_side_by_side():
    torch.manual_seed(0)
    params = {"embedding_dim": 4, "buckets": 97, "tfidf": True, "members": 3, "sparse": False}
    model = fitted("bag_of_ngrams", params).train()
    ids, lengths = batch()
    labels = torch.tensor([0, 1, 2, 3])
    members = model(ids, lengths)
    assert members.shape == (4, 3, CLASSES)  # in training, each member's logits
    own = [torch.nn.functional.cross_entropy(members[:, k], labels) for k in range(3)]
    torch.testing.assert_close(LOSS(members, labels), sum(own) / 3)
    # A member's loss moves only its own columns of the tables and its own output layer.
    own[1].backward()
    touched = model.embedding.weight.grad.abs().sum(0) > 0
    assert touched.nonzero().flatten().tolist() == [4, 5, 6, 7]
    assert model.member_fc.weight.grad[[0, 2]].abs().sum() == 0
    # Predictions are the members' mean probabilities.
    model.eval()
    mean = torch.softmax(members.detach(), dim=-1).mean(1)
    torch.testing.assert_close(torch.softmax(model(ids, lengths), dim=1), mean)


@pytest.mark.parametrize("name", [n for n in list_models() if n != "transformer"])
def test_a_model_that_says_it_uses_every_parameter_does_on_one_word_documents(name):
    """DistributedDataParallel runs without find_unused_parameters for such a model: a step whose
    loss left a parameter out would fail there. One-word documents have no word n-grams."""
    from textclf.models.registry import model_class

    if not model_class(name).uses_every_parameter:
        pytest.skip(f"{name} does not declare it")
    for params in VARIANTS[name]:
        model = fitted(name, params).train()
        ids, lengths = torch.tensor([[5], [7], [9], [3]]), torch.tensor([1, 1, 1, 1])
        LOSS(model(ids, lengths), torch.tensor([0, 1, 2, 3])).backward()
        missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
        assert not missing, (params, missing)


@pytest.mark.parametrize("task", ["multiclass", "multilabel"])
@pytest.mark.parametrize("members,dim,classes,chars,projected", [
    (4, 32, 5, False, True),  # 20 output columns < 128 table columns: tables exported projected
    (1, 16, 3, True, True),
    (3, 8, 30, True, False),  # 90 output columns >= 24: tables exported as they are
])
def test_the_bags_export_form_gives_its_logits(task, members, dim, classes, chars, projected):
    """The module ONNX traces (``export_module``) against the model itself, in PyTorch: the
    projected tables, the sorted counting of character n-grams and the padded sums included."""
    ctx = BuildContext(vocab_size=500, num_classes=classes, pad_id=0, task=task, tokens=[f"w{i}" for i in range(500)])
    params = {"embedding_dim": dim, "members": members, "ngrams": 2, "buckets": 1000, "tfidf": True}
    if chars:
        params.update(minn=2, maxn=4, char_buckets=700)
    model = build_model("bag_of_ngrams", params, ctx)
    generator = torch.Generator().manual_seed(0)
    lengths = torch.tensor([12, 5, 1, 8, 12, 3])
    ids = torch.randint(1, 500, (6, 12), generator=generator)
    ids[torch.arange(12)[None] >= lengths[:, None]] = 0
    model.fit_statistics([(ids, lengths)])
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(generator=generator)
    model.eval()
    export = model.export_module()
    assert (export.projected_bias is not None) == projected
    # The graph is fed the word features (and character n-grams) that numpy makes of the ids.
    inputs = model.export_inputs()
    assert inputs["form"] == "word_features" and bool(inputs.get("chars")) == chars
    subwords = (model.subword_offsets.numpy(), model.subword_rows.numpy()) if chars else None
    feeds = graph_feeds(inputs, ids.numpy(), lengths.numpy(), subwords)
    with torch.no_grad():
        got = export(*(torch.from_numpy(a) for a in feeds.values()))
        torch.testing.assert_close(got, model(ids, lengths), rtol=0, atol=1e-5)
