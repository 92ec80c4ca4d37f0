"""Examples → tokens → vocabulary → ids for all three splits, cached on disk.

The cache key covers the raw data's identity (path, size, modification time), the data settings,
the seed and the preprocessing settings, so a second run with the same settings skips reading,
tokenizing and encoding entirely; any change makes a new entry.

An entry is a folder of plain ``.npy`` arrays (``<split>.<field>.npy``: the flat token ids, the
offsets, labels, lengths, ...) and ``meta.json``. A cached corpus is opened memory-mapped: a
training run reads the pages its batches touch, and the operating system may drop them again,
so the encoded corpus does not have to fit in memory.
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

from textclf.config import Config, PreprocessConfig, decide_from_data
from textclf.data import SPLITS, Corpus, corpus_fingerprint, load_corpus
from textclf.text.encoding import EncodedSplit
from textclf.text.pipeline import TextPipeline, pipeline_for, pipeline_from_spec
from textclf.text.pretrained import PretrainedPipeline
from textclf.text.tokenizers import tokenizer_version
from textclf.text.vocabulary import Vocabulary

__all__ = ["PreparedData", "prepare_data", "prepare_with_recipe", "encode_corpus", "cache_dir"]

CACHE_VERSION = 3  # 3: one .npy file per array, opened memory-mapped (2: one .npz read whole)


@dataclass
class PreparedData:
    label_names: list[str]
    pipeline: TextPipeline | PretrainedPipeline  # fitted on the training split
    splits: dict[str, EncodedSplit]
    from_cache: bool = False
    # The split the pipeline was fitted on, where training reads another (a refit's train + val):
    # what a model learns from its training documents before it trains (TF-IDF weights) comes
    # from this one (None: the training split). training/refit.py says why.
    fitted_on: EncodedSplit | None = None

    @property
    def statistics_split(self) -> EncodedSplit:
        return self.splits["train"] if self.fitted_on is None else self.fitted_on

    @property
    def vocab(self) -> Vocabulary:
        return self.pipeline.vocab_

    @property
    def num_classes(self) -> int:
        return len(self.label_names)


def cache_dir(config: Config) -> Path:
    if config.data.cache_dir:
        return Path(config.data.cache_dir).expanduser()
    if os.environ.get("TEXTCLF_CACHE"):
        return Path(os.environ["TEXTCLF_CACHE"]).expanduser().absolute()  # (the same folder from any directory)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")).expanduser().absolute() / "textclf" / "encoded"


def _cache_key(config: Config, pipeline: TextPipeline | PretrainedPipeline) -> str:
    pretrained = pipeline if isinstance(pipeline, PretrainedPipeline) else None
    subwords = getattr(pipeline, "subwords", None)
    material = json.dumps(
        {
            "version": CACHE_VERSION,
            "corpus": corpus_fingerprint(config),
            "preprocess": config.preprocess.model_dump(mode="json"),
            # a pretrained tokenizer replaces the learned vocabulary: its identity is its content;
            # a registered one's is its name and settings (above) and its code version
            "tokenizer": None if pretrained is None else list(pretrained.tokenizer_key()),
            "tokenizer_version": None if pretrained is not None else tokenizer_version(config.preprocess.tokenizer),
            # documents cut into windows (model.chunks) are other encodings than truncated ones
            **({"windows": pretrained.windows} if pretrained is not None and pretrained.windows > 1 else {}),
            # ids that end in unknown words' character n-grams (a model's unknown_chars)
            **({"subwords": subwords} if subwords else {}),
        },
        sort_keys=True,
    )
    return hashlib.sha256(material.encode()).hexdigest()[:20]


def prepare_data(config: Config) -> PreparedData:
    """Load, split, tokenize, build the vocabulary and encode (or read all that from the cache)."""
    pipeline = pipeline_for(config)
    folder = cache_dir(config) / _cache_key(config, pipeline) if config.data.cache else None
    if folder is not None and (folder / "meta.json").is_file():
        cached = _read_cache(folder)
        if cached is not None:
            return cached

    corpus = load_corpus(config)
    pipeline, splits = encode_corpus(corpus, config.preprocess, pipeline, consume=True)
    prepared = PreparedData(corpus.label_names, pipeline, splits)
    if folder is not None:
        _write_cache(folder, prepared)
    return prepared


def prepare_with_recipe(config: Config, prepared: PreparedData | None = None,
                        quiet: bool = False) -> tuple[Config, PreparedData]:
    """The config with the default recipe decided from its training split (unchanged unless
    ``model.auto``; ``config/default_recipe.py``) and the data as its run trains on them: encoded
    again when the recipe chose another tokenizer than the one that encoded ``prepared``."""
    prepared = prepared or prepare_data(config)
    config = decide_from_data(config, prepared.splits["train"].lengths, quiet=quiet)
    pipeline = prepared.pipeline
    if isinstance(pipeline, TextPipeline) and (pipeline.tokenizer.settings()["name"] != config.preprocess.tokenizer
                                               or pipeline.subwords != pipeline_for(config).subwords):
        prepared = prepare_data(config)
    return config, prepared


def encode_corpus(
    corpus: Corpus, pre: PreprocessConfig, pipeline: TextPipeline | PretrainedPipeline | None = None,
    consume: bool = False,
) -> tuple[TextPipeline | PretrainedPipeline, dict[str, EncodedSplit]]:
    """Fit the text pipeline (by default the ``preprocess`` section's) on the training split and
    encode every split with it. ``consume``: the corpus's texts are emptied once tokenized (its
    labels and weights stay), which frees their memory early."""
    pipeline = pipeline or TextPipeline.from_preprocess(pre)
    encoded = pipeline.fit_encode(*(corpus[s].texts for s in SPLITS), labels=[corpus[s].labels for s in SPLITS],
                                  consume=consume)
    for split, enc in zip(SPLITS, encoded):
        enc.weights = corpus[split].weights
    return pipeline, dict(zip(SPLITS, encoded))


def _write_cache(folder: Path, prepared: PreparedData) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        for name, split in prepared.splits.items():
            for key, array in split.arrays(name).items():
                np.save(tmp / f"{key}.npy", np.ascontiguousarray(array), allow_pickle=False)
        meta = {"label_names": prepared.label_names, "pipeline": prepared.pipeline.spec()}
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
        arrays = {path.name.removesuffix(".npy"): np.load(path, mmap_mode="r", allow_pickle=False)
                  for path in folder.glob("*.npy")}
        splits = {s: EncodedSplit.from_arrays(arrays, s) for s in SPLITS}
    except (OSError, ValueError, KeyError):
        return None  # a damaged entry is rebuilt
    return PreparedData(meta["label_names"], pipeline_from_spec(meta["pipeline"]), splits, from_cache=True)
