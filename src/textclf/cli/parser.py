"""The ``textclf`` command line: every subcommand's arguments, their types and help, each mapped to
its function in ``cli/commands.py``."""

from __future__ import annotations

import argparse

from textclf import __version__
from textclf.cli.commands import (
    _cmd_data,
    _cmd_train,
    _cmd_evaluate,
    _cmd_predict,
    _cmd_search,
    _cmd_report,
    _cmd_explain,
    _cmd_sanity,
    _cmd_lr_find,
    _cmd_export,
    _cmd_serve,
)

__all__ = ["build_parser"]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one ``error:`` line (exit code 2) like every other error."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def _port(text: str) -> int:
    """argparse type: a TCP port number."""
    value = _positive(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{value}: a port is a number from 1 to 65535")
    return value


def _whole(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"{value}: give {least} or more")
    return value


def _positive(text: str) -> int:
    """argparse type: an integer of at least 1."""
    return _whole(text, 1)


def _non_negative(text: str) -> int:
    """argparse type: an integer of at least 0."""
    return _whole(text, 0)


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"{text!r}: give a finite number")
    return value


def _positive_float(text: str) -> float:
    """argparse type: a number above 0."""
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text}: give a number above 0")
    return value


def _non_negative_float(text: str) -> float:
    """argparse type: a number of at least 0."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text}: give 0 or more")
    return value


def _model_name(value: str) -> str:
    if not value or not all(c.isalnum() or c in "-_." for c in value):
        raise argparse.ArgumentTypeError(f"{value!r}: use letters, digits, '-', '_' and '.' (it is a URL part)")
    return value


def _add_config_args(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument("--config", "-c", required=required, help="YAML config file")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a config value, e.g. --set train.lr=0.001 (repeatable)",
    )


def _checkpoint_arg(parser: argparse.ArgumentParser, ensemble: bool = False, exported: bool = False) -> None:
    """--checkpoint: one .ckpt, or several (an ensemble) where the command averages them."""
    what = "a .ckpt file written by textclf train" + (" (or a folder from textclf export)" if exported else "")
    if ensemble:
        parser.add_argument("--checkpoint", required=True, nargs="+", metavar="CKPT",
                            help=f"{what}; several: an ensemble (mean probabilities)")
    else:
        parser.add_argument("--checkpoint", required=True, help=what)


def _encoding_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--encoding", help="text encoding of --input (default: the checkpoint's data.encoding)")


def _device_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                        help="where the model runs (default auto: a GPU when there is one)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="textclf",
        description="Text classification from raw text to an evaluated PyTorch model.",
    )
    parser.add_argument("--version", action="version", version=f"textclf {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)

    p = sub.add_parser("data", help="load, split and tokenize; print and save data statistics",
                       description="Load, split, tokenize and encode the data set; print and save "
                       "statistics (JSON) and a class-distribution plot (PNG).")
    _add_config_args(p)
    p.add_argument("--output", "-o", help="folder for the statistics (default: <output_dir>/<name>-data)")
    p.set_defaults(func=_cmd_data)

    p = sub.add_parser("train", help="train a model and write a run folder",
                       description="Train the config's model; write config, data statistics, "
                       "checkpoints, metrics.jsonl, TensorBoard events and the test evaluation "
                       "into a new run folder; or continue an interrupted run with --resume.")
    _add_config_args(p, required=False)
    p.add_argument("--run-dir", help="run folder to create (default: <output_dir>/<name>-<timestamp>)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue this run from its checkpoints/last.ckpt")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="metrics, per-class report and confusion matrix of a checkpoint",
                       description="Evaluate a checkpoint on a split of its data set: accuracy, "
                       "macro/weighted F1, per-class table, confusion matrix, baselines.")
    _checkpoint_arg(p, ensemble=True)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--split", default="test", choices=["train", "val", "test"], help="default: test")
    which.add_argument("--input", help="evaluate on this labelled file (.csv .tsv .json .jsonl .parquet) instead")
    p.add_argument("--output", "-o", help="folder for the outputs (default: <run>/evaluation/<split>)")
    _encoding_arg(p)
    _device_arg(p)
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("predict", help="labels (and probabilities) for an unlabelled file",
                       description="Predict every row of a file with nothing but a checkpoint; "
                       "write a CSV (Id,Category by default) in input order.")
    _checkpoint_arg(p, ensemble=True)
    p.add_argument("--input", required=True, help="texts to label (.csv .tsv .json .jsonl .parquet)")
    p.add_argument("--output", required=True, help="CSV file to write")
    p.add_argument("--text-column", help="default: the checkpoint's data.text_column")
    _encoding_arg(p)
    p.add_argument("--id-column", help="default: data.id_column, else a column named like --id-name, "
                   "else the 0-based row index")
    p.add_argument("--id-name", default="Id", help="header of the id column (default: Id)")
    p.add_argument("--label-name", default="Category", help="header of the label column (default: Category)")
    p.add_argument("--proba", action="store_true", help="add one probability column per class")
    p.add_argument("--top-k", type=_positive, help="add a column with the K most likely labels")
    p.add_argument("--batch-size", type=_positive, default=256)
    _device_arg(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("sanity", help="initial-loss, gradient and overfit-a-small-batch checks",
                       description="Check a config before a long run: initial loss against ln(C), "
                       "gradients of every parameter, and overfitting a small sample. Exit 0 on pass, "
                       "1 on failure (or on a warning with --strict).")
    _add_config_args(p)
    p.add_argument("--examples", type=_positive, default=32, help="sample size to overfit (default 32)")
    p.add_argument("--lr", type=_positive_float, help="learning rate for overfitting (default: train.lr)")
    p.add_argument("--steps", type=_positive, default=300, help="most steps to overfit (default 300)")
    p.add_argument("--loss-threshold", type=_positive_float, default=0.01, help="pass below this loss (default 0.01)")
    p.add_argument("--strict", action="store_true", help="exit 1 on warnings too")
    p.add_argument("--output", "-o", help="folder for the results (default: <output_dir>/<name>-sanity-<timestamp>)")
    p.set_defaults(func=_cmd_sanity)

    p = sub.add_parser("lr-find", help="learning-rate range test with a suggested value",
                       description="Raise the learning rate exponentially batch by batch, plot the "
                       "smoothed loss and suggest a learning rate; the model is left untouched.")
    _add_config_args(p)
    p.add_argument("--min-lr", type=_positive_float, default=1e-6)
    p.add_argument("--max-lr", type=_positive_float, default=1.0)
    p.add_argument("--steps", type=_positive, default=100)
    p.add_argument("--output", "-o", help="folder for the results (default: <output_dir>/<name>-lr-find-<timestamp>)")
    p.set_defaults(func=_cmd_lr_find)

    p = sub.add_parser("search", help="hyperparameter search (grid / random / Bayesian)",
                       description="Search the config's search.space with Optuna; re-running resumes "
                       "the study. Writes results.csv/.md, TensorBoard HParams and best.yaml.")
    _add_config_args(p)
    p.add_argument("--storage", help="Optuna storage URL shared by workers (default: SQLite in the output folder)")
    p.add_argument("--jobs", type=_positive, default=1, help="parallel workers on this machine")
    p.add_argument("--output", "-o", help="search folder (default: <output_dir>/<name>-search)")
    p.set_defaults(func=_cmd_search)

    p = sub.add_parser("report", help="Markdown + HTML report of a run, with figures",
                       description="Write report.md (figures as PNG beside it) and a self-contained "
                       "report.html into the run folder.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a folder written by textclf train")
    p.add_argument("--explain", type=_non_negative, default=3, metavar="N",
                   help="explain N test documents in the report (default 3; 0 for none)")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("explain", help="which tokens drove a prediction (attention or gradient × input)",
                       description="Explain predictions token by token: attention weights for "
                       "attention models, gradient × input saliency for the others.")
    _checkpoint_arg(p)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", help="one text to explain")
    source.add_argument("--input", help="a file of texts (.csv .tsv .json .jsonl .parquet)")
    p.add_argument("--text-column", help="default: the checkpoint's data.text_column")
    _encoding_arg(p)
    p.add_argument("--limit", type=_positive, default=20, help="explain at most this many rows of --input")
    p.add_argument("--output", "-o", help="write highlighted HTML here")
    p.set_defaults(func=_cmd_explain)

    p = sub.add_parser("export", help="export a checkpoint to ONNX (runs with onnxruntime)",
                       description="Write model.onnx (dynamic batch and length) and textclf.json "
                       "(classes, tokenizer, vocabulary) into a new folder; predict, serve and "
                       "Predictor.load run that folder with onnxruntime, without importing torch (a faster "
                       "start, less memory). Needs pip install \"textclf[onnx]\".")
    _checkpoint_arg(p)
    p.add_argument("--format", default="onnx", choices=["onnx"], help="default onnx")
    p.add_argument("--output", "-o", required=True, help="folder to create")
    p.add_argument("--quantize", choices=["int8"], help="dynamic int8 quantization of the weights")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("serve", help="answer predictions over HTTP (FastAPI + uvicorn)",
                       description="Serve one checkpoint (or an ensemble) over HTTP: GET /health, "
                       "GET /metadata, POST /predict {\"texts\": [...]}, /docs, and the Open Inference "
                       "Protocol (KServe/Triton v2) under /v2; requests that arrive together are batched. "
                       "Needs pip install \"textclf[serve]\".")
    _checkpoint_arg(p, ensemble=True, exported=True)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=8000, help="default 8000")
    _device_arg(p)
    p.add_argument("--batch-size", type=_positive, default=256, help="texts per model call inside a batch")
    p.add_argument("--max-batch-texts", type=_positive, default=256, help="texts collected into one batch")
    p.add_argument("--max-wait-ms", type=_non_negative_float, default=5.0, help="how long a batch waits to fill while requests arrive together (default 5)")
    p.add_argument("--max-queue-texts", type=_positive, default=8192, help="texts queued or in the model before answering 503")
    p.add_argument("--max-texts", type=_positive, default=1024, help="texts per request (more: 422)")
    p.add_argument("--max-text-chars", type=_positive, default=100_000, help="characters per text (more: 422)")
    p.add_argument("--max-body-bytes", type=_positive, default=10 * 1024 * 1024, help="request body size (more: 413)")
    p.add_argument("--no-batching", action="store_true", help="one request per model call")
    p.add_argument("--workers", type=_positive, default=1, help="server processes sharing the port, each with "
                   "its own model and max(1, threads // N) torch threads (default 1)")
    p.add_argument("--model-name", type=_model_name, help="the model's name under the Open Inference Protocol "
                   "(/v2/models/NAME; default: the config's name)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(func=_cmd_serve)
    return parser
