"""Examples → tokens → vocabulary → ids for all three splits, cached on disk.

The cache key covers the raw data's identity (path, size, modification time), the data settings,
the seed and the preprocessing settings, so a second run with the same settings skips reading,
tokenizing and encoding entirely; any change makes a new entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from textclf.config import Config, PreprocessConfig
from textclf.data import SPLITS, Corpus, corpus_fingerprint, load_corpus
from textclf.text.encoding import EncodedSplit, assemble, table_ids
from textclf.text.token_table import token_table
from textclf.text.tokenizer import build_tokenizer
from textclf.text.vocabulary import Vocabulary

__all__ = ["PreparedData", "prepare_data", "encode_corpus", "cache_dir"]

CACHE_VERSION = 1


@dataclass
class PreparedData:
    label_names: list[str]
    vocab: Vocabulary
    splits: dict[str, EncodedSplit]
    from_cache: bool = False

    @property
    def num_classes(self) -> int:
        return len(self.label_names)


def cache_dir(config: Config) -> Path:
    if config.data.cache_dir:
        return Path(config.data.cache_dir).expanduser()
    if os.environ.get("TEXTCLF_CACHE"):
        return Path(os.environ["TEXTCLF_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "textclf" / "encoded"


def _cache_key(config: Config) -> str:
    material = json.dumps(
        {
            "version": CACHE_VERSION,
            "corpus": corpus_fingerprint(config),
            "preprocess": config.preprocess.model_dump(mode="json"),
        },
        sort_keys=True,
    )
    return hashlib.sha256(material.encode()).hexdigest()[:20]


def prepare_data(config: Config) -> PreparedData:
    """Load, split, tokenize, build the vocabulary and encode (or read all that from the cache)."""
    folder = cache_dir(config) / _cache_key(config) if config.data.cache else None
    if folder is not None and (folder / "meta.json").is_file():
        cached = _read_cache(folder)
        if cached is not None:
            return cached

    corpus = load_corpus(config)
    vocab, splits = encode_corpus(corpus, config.preprocess)
    prepared = PreparedData(corpus.label_names, vocab, splits)
    if folder is not None:
        _write_cache(folder, prepared)
    return prepared


def encode_corpus(corpus: Corpus, pre: PreprocessConfig) -> tuple[Vocabulary, dict[str, EncodedSplit]]:
    """Tokenize every split, fit the vocabulary on train, encode every split."""
    tokenize = build_tokenizer(pre.tokenizer, pre.lowercase)
    table = token_table([t for s in SPLITS for t in corpus[s].texts], tokenize)  # train first
    train_tokens = int(table.lengths[: len(corpus["train"])].sum())
    counts = np.bincount(table.codes[:train_tokens], minlength=len(table.tokens))
    vocab = Vocabulary(pre.min_freq, pre.max_size).fit_counts(table.tokens, counts)
    ids = table_ids(table, vocab)
    splits, doc, token = {}, 0, 0
    for s in SPLITS:
        lengths = table.lengths[doc : doc + len(corpus[s])]
        splits[s] = assemble(ids[token : token + lengths.sum()], lengths, corpus[s].labels, pre.max_seq_len)
        doc, token = doc + len(corpus[s]), token + int(lengths.sum())
    return vocab, splits


def _write_cache(folder: Path, prepared: PreparedData) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        arrays = {}
        for name, split in prepared.splits.items():
            arrays.update(split.arrays(name))
        np.savez(tmp / "encoded.npz", **arrays)
        meta = {"label_names": prepared.label_names, "itos": prepared.vocab.itos_}
        (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        try:
            os.replace(tmp, folder)
        except OSError:  # another process wrote the same entry first: keep theirs
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _read_cache(folder: Path) -> PreparedData | None:
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        with np.load(folder / "encoded.npz", allow_pickle=False) as arrays:
            splits = {s: EncodedSplit.from_arrays(arrays, s) for s in SPLITS}
    except (OSError, ValueError, KeyError):
        return None  # a damaged entry is rebuilt
    vocab = Vocabulary.from_itos(meta["itos"])
    return PreparedData(meta["label_names"], vocab, splits, from_cache=True)
