"""Statistics of a prepared data set: what ``textclf data`` prints and saves.

Split sizes, class distribution (table and PNG), token lengths (min/mean/median/max, share of
documents truncated, share of padding if every document were padded to ``max_seq_len``),
vocabulary size, unknown-token rate per split, three decoded examples and one batch's shape.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from textclf.batching import make_train_loader
from textclf.config import Config
from textclf.files import write_json
from textclf.reporting.plots import plot_class_distribution, plot_length_histogram
from textclf.task import get_task
from textclf.text.pipeline import TextPipeline
from textclf.text.prepare import PreparedData

__all__ = ["data_statistics", "format_data_statistics", "write_data_statistics"]


def data_statistics(prepared: PreparedData, config: Config) -> dict:
    max_len = config.preprocess.max_seq_len
    names = prepared.label_names
    stats: dict = {
        "sizes": {s: len(e) for s, e in prepared.splits.items()},
        "num_classes": len(names),
        "vocab_size": len(prepared.vocab),
        # The word tokenizer that encoded the data (a pretrained encoder's sub-words otherwise).
        "tokenizer": (prepared.pipeline.tokenizer.settings()["name"] if isinstance(prepared.pipeline, TextPipeline)
                      else "pretrained sub-words"),
        "max_seq_len": max_len,
        "class_counts": {
            s: get_task(config.task).class_counts(e.labels, len(names)).tolist() for s, e in prepared.splits.items()
        },
        "label_names": names,
        "lengths": {},
        "unk_rate": {},
    }
    for split, enc in prepared.splits.items():
        full = enc.full_lengths
        stats["lengths"][split] = {
            "min": int(full.min()),
            "mean": float(full.mean()),
            "median": float(np.median(full)),
            "max": int(full.max()),
            "share_truncated": float((full > max_len).mean()),
            "share_padding_at_max_len": float(1 - np.minimum(full, max_len).sum() / (len(full) * max_len)),
        }
        stats["unk_rate"][split] = float(enc.unk_counts.sum() / max(full.sum(), 1))

    train = prepared.splits["train"]
    if config.task == "multilabel":
        per_doc = {s: e.labels.sum(axis=1) for s, e in prepared.splits.items()}
        stats["labels_per_document"] = {
            s: {"mean": float(k.mean()), "none": int((k == 0).sum()), "several": int((k > 1).sum()), "max": int(k.max())}
            for s, k in per_doc.items()
        }
    stats["examples"] = [
        {
            "label": _label_text(train.labels[i], names),
            "tokens": " ".join(prepared.vocab.decode(train.document(i)[:40].tolist())),
        }
        for i in range(min(3, len(train)))
    ]
    loader = make_train_loader(
        train, config.train.batch_size, bucket=config.train.bucket_by_length, seed=config.seed
    )
    ids, lengths, labels, _ = next(iter(loader))
    stats["batch_shape"] = {
        "ids": list(ids.shape),
        "lengths": list(lengths.shape),
        "labels": list(labels.shape),
    }
    return stats


def _label_text(label: np.ndarray, names: list[str]) -> str:
    if np.ndim(label) == 1:  # a multilabel row
        return "|".join(names[j] for j in np.flatnonzero(label))
    return names[int(label)]


def format_data_statistics(stats: dict) -> str:
    sizes = stats["sizes"]
    lines = [
        "splits: " + " / ".join(f"{s} {n:,}" for s, n in sizes.items()),
        f"classes: {stats['num_classes']}    vocabulary: {stats['vocab_size']:,} tokens ({stats['tokenizer']})",
        "",
        "class distribution:",
    ]
    width = max(len(n) for n in stats["label_names"])
    lines.append(f"  {'class':<{width}}  " + "  ".join(f"{s:>6}" for s in sizes))
    for i, name in enumerate(stats["label_names"]):
        row = "  ".join(f"{stats['class_counts'][s][i]:>6}" for s in sizes)
        lines.append(f"  {name:<{width}}  {row}")
    lines += ["", f"token lengths (before truncation to {stats['max_seq_len']}):"]
    for split, l in stats["lengths"].items():
        lines.append(
            f"  {split:<5} min {l['min']}  mean {l['mean']:.1f}  median {l['median']:.0f}  "
            f"max {l['max']}  truncated {l['share_truncated']:.1%}  "
            f"padding at max_seq_len {l['share_padding_at_max_len']:.1%}  "
            f"unknown tokens {stats['unk_rate'][split]:.2%}"
        )
    if "labels_per_document" in stats:
        lines += ["", "labels per document:"]
        for split, k in stats["labels_per_document"].items():
            lines.append(f"  {split:<5} mean {k['mean']:.2f}  none {k['none']:,}  several {k['several']:,}  max {k['max']}")
    lines += ["", "examples (decoded ids, first 40 tokens):"]
    for ex in stats["examples"]:
        lines.append(f"  [{ex['label']}] {ex['tokens']}")
    b = stats["batch_shape"]
    lines += ["", f"one training batch: ids {tuple(b['ids'])}, lengths {tuple(b['lengths'])}, "
              f"labels {tuple(b['labels'])}"]
    return "\n".join(lines)


def write_data_statistics(prepared: PreparedData, config: Config, out_dir: Path) -> dict:
    """Write ``statistics.json``, ``class_distribution.png`` and ``token_lengths.png``."""
    stats = data_statistics(prepared, config)
    out_dir = Path(out_dir)
    write_json(out_dir / "statistics.json", stats)
    counts = {s: stats["class_counts"][s] for s in stats["sizes"]}
    plot_class_distribution(counts, stats["label_names"], out_dir / "class_distribution.png")
    plot_length_histogram(
        {s: e.full_lengths for s, e in prepared.splits.items()}, config.preprocess.max_seq_len,
        out_dir / "token_lengths.png",
    )
    return stats
