"""Encoding speed: textclf's Python tokenizer against compiled encodings, same texts, same ids.

    TEXTCLF_DATA=../shared/data python benchmarks/tokenizer_speed.py [--copies 3] [--write]

The texts are 20 Newsgroups bydate's test posts, ``--copies`` times (what ``textclf predict``
encodes in inference_speed.py's end-to-end rows); the vocabulary is the one the default's
pipeline learns from the training posts (study tokenizer, lower case, digits to 0, the default
recipe's preprocess section). Each row turns the texts into token ids and per-document token
counts, best of ``--repeat``:

- textclf's Python path (``re.findall`` per text, a dict lookup per token: the reference), its
  training path (``token_table``: distinct tokens hashed once by pandas, the texts shared among 1
  or 2 forked processes), and ``TextPipeline.encode``, which the Predictor calls: from 64 texts,
  byte classes over one Arrow buffer and pyarrow's ``index_in`` (text/fast_encoding.py), the
  non-ASCII texts the Python way; and the compiled token table that training builds its
  vocabulary from (the same byte classes, Arrow's ``dictionary_encode``), then mapped to ids;
- Hugging Face ``tokenizers`` (Rust): the same normalisation and split as a Tokenizer with a
  WordLevel model over the same vocabulary, ``encode_batch_fast`` on all threads;
- pyarrow compute (C++): lower case and digits as a byte table over the Arrow buffer, a RE2
  split, ``index_in`` against the vocabulary.

The compiled ones use ASCII character classes (their regex engines' ``\\w`` is not Python's), so
"same ids" counts the documents whose ids equal the reference's exactly.
"""

from __future__ import annotations

import argparse

import numpy as np

from lib import ROOT
from lib.results import markdown_table, write_section
from lib.timing import best_of


def _reference(pipeline, texts):
    encoded = pipeline.encode_tokens(*pipeline.tokenize(texts))
    return encoded.ids, encoded.full_lengths


def _pipeline_encode(pipeline, texts):
    encoded = pipeline.encode(texts)
    return encoded.ids, encoded.full_lengths


def _token_table(workers: int):
    def encode(pipeline, texts):
        from textclf.text.encoding import assemble, table_ids
        from textclf.text.token_table import token_table

        table = token_table(texts, pipeline.tokenizer, workers=workers)
        encoded = assemble(table_ids(table, pipeline.vocab_), table.lengths, np.zeros(len(texts), np.int64),
                           pipeline.max_length)
        return encoded.ids, encoded.full_lengths
    return encode


def _compiled_table(pipeline, texts):
    from textclf.text import fast_encoding
    from textclf.text.encoding import assemble, table_ids
    from textclf.text.token_table import token_table

    table = fast_encoding.token_table(texts, fast_encoding.fast_form(pipeline.tokenizer),
                                      lambda others: token_table(others, pipeline.tokenizer))
    encoded = assemble(table_ids(table, pipeline.vocab_), table.lengths, np.zeros(len(texts), np.int64),
                       pipeline.max_length)
    return encoded.ids, encoded.full_lengths


def _hf_tokenizers(pipeline):
    from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers
    from tokenizers.models import WordLevel

    tokenizer = Tokenizer(WordLevel(vocab=pipeline.vocab_.stoi_, unk_token="<unk>"))
    tokenizer.normalizer = normalizers.Sequence([normalizers.Replace(Regex("[0-9]"), "0"), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex("[A-Za-z0-9_]+"), behavior="removed", invert=True)

    def encode(pipeline, texts):
        from itertools import chain

        ids = [e.ids for e in tokenizer.encode_batch_fast(texts, add_special_tokens=False)]
        lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        flat = np.fromiter(chain.from_iterable(ids), dtype=np.int32, count=int(lengths.sum()))
        return _truncated(flat, lengths, pipeline.max_length)
    return encode


def _pyarrow(pipeline):
    import pyarrow as pa
    import pyarrow.compute as pc

    from textclf.text.fast_encoding import fast_form

    vocabulary = pa.array(pipeline.vocab_.itos_)
    # (lower case, digits to 0: the compiled path's table of what each byte becomes)
    table = np.frombuffer(fast_form(pipeline.tokenizer)["lower"], dtype=np.uint8)

    def encode(pipeline, texts):
        array = pa.array(texts, pa.large_string())
        _, offsets, data = array.buffers()
        normalised = pa.py_buffer(table[np.frombuffer(data, dtype=np.uint8)])
        array = pa.Array.from_buffers(pa.large_string(), len(array), [None, offsets, normalised])
        tokens = pc.split_pattern_regex(array, "[^a-z0-9_]+")
        flat, parents = tokens.flatten(), pc.list_parent_indices(tokens)
        kept = pc.not_equal(flat, "")
        ids = pc.index_in(flat.filter(kept), value_set=vocabulary).fill_null(1).to_numpy().astype(np.int32)
        lengths = np.bincount(parents.filter(kept).to_numpy(), minlength=len(texts)).astype(np.int64)
        return _truncated(ids, lengths, pipeline.max_length)
    return encode


def _truncated(ids, lengths, max_length):
    from textclf.text.encoding import assemble

    encoded = assemble(ids, lengths, np.zeros(len(lengths), np.int64), max_length)
    return encoded.ids, encoded.full_lengths


def _same(reference, got, max_length: int) -> float:
    """The share of documents whose ids equal the reference's (one by one: a document with other
    ids may have another length, which shifts every later one)."""
    (ref_ids, ref_full), (ids, full) = reference, got
    if len(ref_full) != len(full):
        return 0.0

    def offsets(full_lengths):  # (truncated to max_length; an empty document is one <unk>)
        return np.r_[0, np.cumsum(np.maximum(np.minimum(full_lengths, max_length), 1))]

    ref_at, at = offsets(ref_full), offsets(full)
    same = ref_full == full
    for i in np.flatnonzero(same):
        same[i] = np.array_equal(ref_ids[ref_at[i]:ref_at[i + 1]], ids[at[i]:at[i + 1]])
    return float(same.mean())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="write the table into benchmarks/RESULTS.md")
    args = parser.parse_args()

    import torch

    from textclf.config import load_config
    from textclf.data import load_corpus
    from textclf.text.pipeline import TextPipeline

    torch.set_num_threads(2)
    config = load_config(ROOT / "configs/20newsgroups_default.yaml", ["data.protocol=bydate"])
    corpus = load_corpus(config)
    pipeline = TextPipeline.from_preprocess(config.preprocess).fit(list(corpus["train"].texts))
    texts = list(corpus["test"].texts) * args.copies
    systems = [("textclf's Python path (re.findall, dict lookups: the reference)", _reference),
               ("textclf TextPipeline.encode (the Predictor's: byte classes, pyarrow index_in)", _pipeline_encode),
               ("textclf token_table, 1 process (pandas factorize)", _token_table(1)),
               ("textclf token_table, 2 processes", _token_table(2)),
               ("textclf compiled token table (training's: byte classes, Arrow dictionary_encode)", _compiled_table)]
    try:
        systems.append(("Hugging Face tokenizers (Rust), WordLevel, all threads", _hf_tokenizers(pipeline)))
    except ImportError:
        print("tokenizers is not installed: its row is left out")
    try:
        systems.append(("pyarrow compute (C++, RE2 split, index_in)", _pyarrow(pipeline)))
    except ImportError:
        print("pyarrow is not installed: its row is left out")
    reference = _reference(pipeline, texts)
    rows = []
    for name, encode in systems:
        best, got = best_of(lambda: encode(pipeline, texts), args.repeat)
        rows.append({"system": name, "seconds": best, "docs_s": len(texts) / best,
                     "ratio": (len(texts) / best) / rows[0]["docs_s"] if rows else 1.0,
                     "same": 100 * _same(reference, got, pipeline.max_length)})
        print(rows[-1], flush=True)
    table = markdown_table(rows, [("system", "system", ""), ("seconds", "s", ".2f"), ("docs_s", "docs/s", ",.0f"),
                                  ("ratio", "× the Python path", ".2f"), ("same", "documents with the same ids %", ".2f")])
    print(table)
    if args.write:
        write_section("tokenizer-speed", "Encoding: the Python tokenizer against compiled ones",
                      f"20 Newsgroups bydate test posts ×{args.copies} ({len(texts):,} texts), the default's "
                      "vocabulary and tokenizer settings (study, lower case, digits to 0); best of "
                      f"{args.repeat}, torch threads 2.\n\n" + table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
