"""Building a vocabulary's character n-gram table: as arrays against a word at a time.

    TEXTCLF_DATA=../shared/data python benchmarks/subword_table.py [--write]

A model with character n-grams (the default's ``linear_chars`` and ``bag_chars``) builds the
table of each vocabulary word's n-gram buckets whenever it is built: each candidate, each refit,
each load of a checkpoint. The vocabularies are the ones those candidates learn from 20
Newsgroups bydate's training posts (wordpunct tokens, lower case, digits to 0; ``min_freq`` 2,
and 1 as ``linear_chars`` keeps on a single-label task), with n-grams of 2 to 5 characters in
200,000 buckets. Rows: ``graph_inputs.subword_table`` (ASCII words cut and CRC-32 hashed as
numpy arrays, the rest a word at a time), and the word-at-a-time loop it replaced (``char_ngrams``
and ``zlib.crc32`` per n-gram), best of ``--repeat``; the last column checks that both give the
same rows.
"""

from __future__ import annotations

import argparse
import zlib
from array import array

import numpy as np

from lib import ROOT
from lib.results import markdown_table, write_section
from lib.timing import best_of


def _word_at_a_time(tokens, minn: int, maxn: int, buckets: int):
    """The table a word and an n-gram at a time (the reference)."""
    from textclf.graph_inputs import char_ngrams

    counts = np.zeros(len(tokens), dtype=np.int64)
    rows = array("q")
    for i, token in enumerate(tokens):
        if token:
            grams = char_ngrams(token, minn, maxn)
            counts[i] = len(grams)
            rows.extend(zlib.crc32(g.encode("utf-8")) % buckets for g in grams)
    offsets = np.zeros(len(tokens) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets, np.frombuffer(rows, dtype=np.int64)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="replace the section in benchmarks/RESULTS.md")
    args = parser.parse_args()

    from textclf.config import load_config
    from textclf.data import load_corpus
    from textclf.graph_inputs import subword_table
    from textclf.text.pipeline import TextPipeline

    config = load_config(ROOT / "configs/20newsgroups_default.yaml",
                         ["data.protocol=bydate", "preprocess.tokenizer=wordpunct"])
    texts = list(load_corpus(config)["train"].texts)
    rows = []
    for min_freq in (2, 1):
        pipeline = TextPipeline.from_preprocess(config.preprocess.model_copy(update={"min_freq": min_freq})).fit(texts)
        tokens = pipeline.vocab_.itos_
        arrays_s, (offsets, table) = best_of(lambda: subword_table(tokens, 2, 5, 200_000), args.repeat)
        loop_s, (ref_offsets, ref_table) = best_of(lambda: _word_at_a_time(tokens, 2, 5, 200_000), args.repeat)
        same = np.array_equal(offsets, ref_offsets) and np.array_equal(table, ref_table)
        non_ascii = sum(1 for t in tokens if not t.isascii())
        rows.append({"min_freq": min_freq, "words": len(tokens), "non_ascii": non_ascii, "grams": len(table),
                     "arrays": arrays_s, "loop": loop_s, "speedup": loop_s / arrays_s, "same": "yes" if same else "NO"})
    table_text = markdown_table(rows, [
        ("min_freq", "min_freq", ""), ("words", "vocabulary words", ",d"), ("non_ascii", "of them not ASCII", ",d"),
        ("grams", "n-grams", ",d"), ("arrays", "subword_table s", ".3f"), ("loop", "a word at a time s", ".3f"),
        ("speedup", "× the loop", ".1f"), ("same", "same rows", "")])
    text = ("20 Newsgroups bydate's training posts, wordpunct vocabularies, character 2–5-grams in 200,000 "
            f"buckets, best of {args.repeat}:\n\n{table_text}")
    print(text)
    if args.write:
        write_section("subword-table", "Building the character n-gram table of a vocabulary", text)
    return 0 if all(r["same"] == "yes" for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
