"""Training and prediction speed of the study's BiGRU: a naive padded loop against ours.

    TEXTCLF_DATA=../shared/data python benchmarks/bigru_speed.py [--variants naive,ours,...] [--write]

One epoch of the study's random split (15,076 training documents, batch 64) plus one pass over
the validation split, for each variant, in one run on the same data:

- naive: what a plain PyTorch notebook does. Every batch padded (and truncated) to
  max_seq_len = 400, ``nn.GRU(bidirectional=True)`` over the padding, attention masked to the
  real tokens, dense AdamW, validation under ``no_grad`` in batches of 64 padded to 400.
- ours: ``textclf train`` itself (configs/20newsgroups_bigru.yaml, one epoch): batches padded to
  their longest member with length bucketing, no GRU work on padding, sparse embedding gradients
  (SparseAdam for the embedding table), validation in inference mode sorted by length.
- ours-dense-embedding: ours with dense embedding gradients (AdamW over all 10 M embedding
  parameters at every step), to show what sparse gradients bring.

Tokens/s counts real (non-padding) training tokens. Predict docs/s runs each variant's model
over the raw test texts (tokenize, encode, classify) in its own prediction style.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lib import ROOT
from lib.results import markdown_table, write_section

from textclf.artifact import ModelArtifact
from textclf.config import load_config
from textclf.data import load_corpus
from textclf.inference import predict_logits
from textclf.text.encoding import encode_texts
from textclf.text.prepare import prepare_data
from textclf.training import train

CONFIG = ROOT / "configs" / "20newsgroups_bigru.yaml"
VARIANTS = ["naive", "ours", "ours-dense-embedding"]


class NaiveBiGRU(nn.Module):
    """The study's architecture written the plain way (same sizes and parameter count)."""

    def __init__(self, vocab_size: int, num_classes: int, emb: int = 200, hidden: int = 192):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, emb, padding_idx=0)
        self.dropout_embed = nn.Dropout(0.1)
        self.gru = nn.GRU(emb, hidden, batch_first=True, bidirectional=True)
        self.attention = nn.Linear(2 * hidden, 1)
        self.dropout_fc = nn.Dropout(0.5)
        self.fc = nn.Linear(2 * hidden, num_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(self.dropout_embed(self.embedding(ids)))
        scores = self.attention(out).squeeze(-1).masked_fill(ids == 0, float("-inf"))
        pooled = torch.bmm(torch.softmax(scores, 1).unsqueeze(1), out).squeeze(1)
        return self.fc(self.dropout_fc(pooled))


def pad_to(split, indices, max_len: int) -> torch.Tensor:
    ids = np.zeros((len(indices), max_len), dtype=np.int64)
    for row, i in enumerate(indices):
        doc = split.document(i)[:max_len]
        ids[row, : len(doc)] = doc
    return torch.from_numpy(ids)


def naive(prepared, config, test_texts, tokenize) -> dict:
    torch.manual_seed(config.seed)
    max_len, batch = config.preprocess.max_seq_len, config.train.batch_size
    train_split, val_split = prepared.splits["train"], prepared.splits["val"]
    model = NaiveBiGRU(len(prepared.vocab), prepared.num_classes)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.train.lr)
    order = np.random.default_rng(config.seed).permutation(len(train_split))
    started = time.perf_counter()
    model.train()
    for start in range(0, len(order), batch):
        chosen = order[start : start + batch]
        ids, labels = pad_to(train_split, chosen, max_len), torch.from_numpy(train_split.labels[chosen])
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(ids), labels).backward()
        optimizer.step()
    train_s = time.perf_counter() - started
    started = time.perf_counter()
    model.eval()
    with torch.no_grad():
        for start in range(0, len(val_split), batch):
            model(pad_to(val_split, range(start, min(start + batch, len(val_split))), max_len))
    eval_s = time.perf_counter() - started

    def predict(texts):
        encoded = encode_texts(texts, np.zeros(len(texts)), tokenize, prepared.vocab, max_len)
        with torch.no_grad():
            return [model(pad_to(encoded, range(s, min(s + batch, len(texts))), max_len)).argmax(1)
                    for s in range(0, len(texts), batch)]

    return {"train_s": train_s, "eval_s": eval_s, "predict_s": _timed(predict, test_texts)}


def ours(prepared, test_texts, tokenize, sparse: bool = True) -> dict:
    config = load_config(CONFIG, ["train.epochs=1", f"model.sparse_embedding={str(sparse).lower()}"])
    with tempfile.TemporaryDirectory() as tmp:
        result = train(config, run_dir=Path(tmp) / "run", prepared=prepared, progress=False,
                       final_evaluation=False)
        model = ModelArtifact.load(Path(tmp) / "run" / "checkpoints" / "last.ckpt").build_model()
    record = result.history[0]

    def predict(texts):
        encoded = encode_texts(texts, np.zeros(len(texts)), tokenize, prepared.vocab, config.preprocess.max_seq_len)
        return predict_logits(model, encoded, config.train.eval_batch_size).argmax(1)

    return {"train_s": record["epoch_seconds"], "eval_s": record["eval_seconds"],
            "predict_s": _timed(predict, test_texts)}


def _timed(fn, *args) -> float:
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--write", action="store_true", help="replace the bigru-speed section of RESULTS.md")
    args = parser.parse_args()
    variants = args.variants.split(",")
    for v in variants:
        if v not in VARIANTS:
            parser.error(f"unknown variant {v!r}; choose from {', '.join(VARIANTS)}")
    torch.set_num_threads(args.threads)
    config = load_config(CONFIG)
    prepared = prepare_data(config)
    test_texts = load_corpus(config)["test"].texts
    tokenize = prepared.pipeline.tokenizer
    tokens = int(prepared.splits["train"].lengths.sum())
    rows = []
    for v in variants:
        print(f"{v} ...", file=sys.stderr, flush=True)
        if v == "naive":
            m = naive(prepared, config, test_texts, tokenize)
        else:
            m = ours(prepared, test_texts, tokenize, sparse=v != "ours-dense-embedding")
        m.update(variant=v, epoch_s=m["train_s"] + m["eval_s"], tokens_per_s=tokens / m["train_s"],
                 docs_per_s=len(test_texts) / m["predict_s"])
        print(f"{v}: {m['epoch_s']:.1f} s per epoch", file=sys.stderr, flush=True)
        rows.append(m)
    if "naive" in variants:
        base = next(r for r in rows if r["variant"] == "naive")["epoch_s"]
        for r in rows:
            r["speedup"] = base / r["epoch_s"]
    table = markdown_table(rows, [
        ("variant", "variant", ""), ("train_s", "train s", ".1f"), ("eval_s", "val pass s", ".1f"),
        ("epoch_s", "s per epoch", ".1f"), ("speedup", "× naive", ".2f"),
        ("tokens_per_s", "train tokens/s", ",.0f"), ("docs_per_s", "predict docs/s", ",.0f"),
    ])
    text = (f"Study BiGRU+attention (10.46 M parameters), one epoch of {len(prepared.splits['train']):,} "
            f"documents ({tokens:,} real tokens after truncation to 400) plus the validation pass; "
            f"predict: {len(test_texts):,} raw test texts.\n\n{table}\n")
    print(text)
    if args.write:
        write_section("bigru-speed", "BiGRU training and prediction speed", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
