"""The ``textclf`` command: thin subcommands over the library.

Each subcommand parses its arguments, loads the config, calls one library function and prints the
result. User mistakes (TextclfError) become ``error: ...`` lines and the error's exit code.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from textclf import __version__
from textclf.errors import TextclfError, UsageError

__all__ = ["main"]


def _port(text: str) -> int:
    """argparse type: a TCP port number."""
    value = _positive(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{value}: a port is a number from 1 to 65535")
    return value


def _listen_check(host: str, port: int) -> None:
    """A one-line error, before the model is loaded, when the server could not listen there."""
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise UsageError(f"--host {host}: not an address this machine can listen on ({exc.strerror}); "
                         "give an IP address such as 127.0.0.1 or 0.0.0.0, or a known host name") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise UsageError(f"--host {host} --port {port}: cannot listen there ({exc.strerror}); choose another "
                             "--port, or stop the program that uses it") from None


def _positive(text: str) -> int:
    """argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value}: give 1 or more")
    return value


def _add_config_args(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument("--config", "-c", required=required, help="YAML config file")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a config value, e.g. --set train.lr=0.001 (repeatable)",
    )


def _cmd_data(args: argparse.Namespace) -> int:
    from textclf.config import load_config
    from textclf.reporting.data_stats import format_data_statistics, write_data_statistics
    from textclf.training.default_recipe import prepare_with_recipe

    # The data as training sees them: with a default-recipe config, its tokenizer for short texts.
    config, prepared = prepare_with_recipe(load_config(args.config, args.overrides))
    out = Path(args.output) if args.output else Path(config.output_dir) / f"{config.name}-data"
    stats = write_data_statistics(prepared, config, out)
    print(format_data_statistics(stats))
    print(f"\nstatistics and plots written to {out}/" + (" (encoded corpus read from cache)" if prepared.from_cache else ""))
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from textclf.config import load_config
    from textclf.evaluation.evaluate import format_evaluation
    from textclf.run_layout import RunLayout
    from textclf.training.recipe import resume, train

    if args.resume:
        if args.config or args.overrides or args.run_dir:
            raise UsageError("--resume continues a run with its own config: drop --config, --set and --run-dir")
        result = resume(args.resume, progress=not args.no_progress)
    elif not args.config:
        raise UsageError("give --config CONFIG to start a run, or --resume RUN_DIR to continue one")
    else:
        config = load_config(args.config, args.overrides)
        result = train(config, run_dir=args.run_dir, progress=not args.no_progress)
    if result.test_metrics is None:  # a rank other than 0 of a torchrun job: rank 0 reports
        return 0
    print()
    print(f"best epoch {result.best_epoch} ({result.best_score:.4f})")
    print(format_evaluation(result.test_metrics, "test"))
    print(f"\nrun folder: {result.run_dir}")
    print(f"evaluate again: textclf evaluate --checkpoint {RunLayout(result.run_dir).best_checkpoint} --split test")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from textclf.evaluation.evaluate import (
        default_eval_dir,
        evaluate_checkpoint,
        evaluation_name,
        format_evaluation,
    )

    metrics = evaluate_checkpoint(
        args.checkpoint, args.split, args.output, device=args.device, input_path=args.input,
        encoding=args.encoding,
    )
    print(format_evaluation(metrics, Path(args.input).stem if args.input else args.split))
    out = args.output or default_eval_dir(
        Path(args.checkpoint[0]), evaluation_name(args.split, args.input, len(args.checkpoint)))
    figures = ("per_class_f1.png" if "subset_accuracy" in metrics
               else "confusion_matrix.csv and .png")
    print(f"\nmetrics.json, per_class.csv, {figures} written to {out}/")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from textclf.evaluation.predict_file import predict_file

    rows = predict_file(
        args.checkpoint, args.input, args.output,
        text_column=args.text_column, id_column=args.id_column, id_name=args.id_name,
        label_name=args.label_name, proba=args.proba, top_k=args.top_k, encoding=args.encoding,
        batch_size=args.batch_size, device=args.device, progress=not args.no_progress,
    )
    print(f"wrote {rows:,} predictions to {args.output}")
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one ``error:`` line (exit code 2) like every other error."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def _cmd_search(args: argparse.Namespace) -> int:
    from textclf.config import load_config
    from textclf.training.search import run_search

    config = load_config(args.config, args.overrides)
    out = Path(args.output) if args.output else Path(config.output_dir) / f"{config.name}-search"
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        study = run_search(config, out, storage=args.storage, jobs=args.jobs)
    except TextclfError:
        if created and not any(out.iterdir()):  # a mistake found before any trial: leave nothing
            out.rmdir()
        raise
    print((out / "results.md").read_text(encoding="utf-8"))
    done = [t for t in study.trials if t.value is not None]
    print(f"{len(done)} finished trials in {out}/ (results.csv, results.md, tensorboard/"
          f"{', best.yaml' if (out / 'best.yaml').is_file() else ''}); run again to resume")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from textclf.reporting.report import build_report

    md, page = build_report(args.run_dir, explain_examples=args.explain)
    print(f"wrote {md} and {page}")
    return 0


def _cmd_explain(args: argparse.Namespace) -> int:
    from textclf.data.files import read_table, texts_of
    from textclf.files import write_text
    from textclf.inference import Predictor
    from textclf.reporting.explain import explain_texts, explanation_page

    predictor = Predictor.load(args.checkpoint)
    if args.text is not None:
        texts = [args.text]
    else:
        data = predictor.artifact.config["data"]
        column = args.text_column or data.get("text_column", "text")
        encoding = args.encoding or data.get("encoding", "utf-8")
        texts = texts_of(read_table(Path(args.input), encoding), column, Path(args.input))[: args.limit]
    explanations = explain_texts(predictor, texts)
    for e in explanations:
        top = ", ".join(f"{t} ({w:.2f})" for t, w in e.top_tokens(8))
        labels = "" if e.predicted is None else f"; predicted labels: {', '.join(e.predicted)}"
        print(f"{e.label} (p = {e.probability:.3f}{labels}); top tokens by {e.method}: {top}")
    if args.output:
        output = Path(args.output)
        if not output.parent.is_dir():
            raise UsageError(f"{output}: the folder {output.parent} does not exist; create it or write elsewhere")
        write_text(output, explanation_page(explanations))
        print(f"wrote {output}")
    return 0


def _cmd_sanity(args: argparse.Namespace) -> int:
    from textclf.config import load_config
    from textclf.training.run_dir import create_run_dir
    from textclf.training.sanity import run_sanity

    config = load_config(args.config, args.overrides)
    out = create_run_dir(config.output_dir, f"{config.name}-sanity", args.output)
    r = run_sanity(config, out, n_examples=args.examples, lr=args.lr, max_steps=args.steps,
                   loss_threshold=args.loss_threshold)
    print(f"initial loss {r.initial_loss:.4f}  vs {r.reference} = {r.expected_loss:.4f}  "
          f"(gap {abs(r.initial_loss - r.expected_loss):.4f}, "
          f"{abs(r.initial_loss - r.expected_loss) / r.expected_loss:.1%})")
    print(f"gradient norm after one backward pass {r.gradient_norm:.4f}; parameters without a "
          f"finite non-zero gradient: {', '.join(r.params_without_gradient) or 'none'}")
    print(f"overfit {args.examples} examples: loss {r.overfit_loss:.4f}, accuracy {r.overfit_accuracy:.1%} "
          f"after {r.overfit_steps} steps")
    for w in r.warnings:
        print(f"warning: {w}", file=sys.stderr)
    for f in r.failures:
        print(f"failed: {f}", file=sys.stderr)
    print(f"{'PASSED' if r.passed else 'FAILED'}; curve and details in {out}/")
    if not r.passed or (args.strict and r.warnings):
        return 1
    return 0


def _cmd_lr_find(args: argparse.Namespace) -> int:
    from textclf.config import load_config
    from textclf.training.lr_finder import run_lr_find
    from textclf.training.run_dir import create_run_dir

    config = load_config(args.config, args.overrides)
    if not 0 < args.min_lr < args.max_lr:
        raise UsageError(f"--min-lr {args.min_lr:g} and --max-lr {args.max_lr:g}: need 0 < min < max")
    out = create_run_dir(config.output_dir, f"{config.name}-lr-find", args.output)
    r = run_lr_find(config, out, args.min_lr, args.max_lr, args.steps)
    print(f"{len(r.lrs)} steps from {args.min_lr:g}; stopped: {r.stop_reason}")
    print(f"suggested lr {r.suggestion:.2e} (lower of steepest descent and a tenth of the minimum's lr); "
          f"stable window {r.window[0]:.1e} → {r.window[1]:.1e}")
    print(f"plot and data in {out}/")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from textclf.inference.onnx_export import export_onnx

    out = export_onnx(args.checkpoint, args.output, quantize=args.quantize)
    size = sum(f.stat().st_size for f in out.iterdir()) / 1e6
    print(f"wrote {out}/ (model.onnx, textclf.json; {size:.1f} MB); run it with: "
          f"textclf predict --checkpoint {out} --input F --output O")
    return 0


def _model_name(value: str) -> str:
    if not value or not all(c.isalnum() or c in "-_." for c in value):
        raise argparse.ArgumentTypeError(f"{value!r}: use letters, digits, '-', '_' and '.' (it is a URL part)")
    return value


def _cmd_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from textclf.serving import ServeSettings, create_app
    except ImportError as exc:
        raise UsageError(f"textclf serve needs FastAPI and uvicorn ({exc.name} is missing): "
                         'pip install "textclf[serve]"') from None
    from textclf.inference import Predictor

    for name in ("max_texts", "max_text_chars", "max_body_bytes", "max_batch_texts", "max_queue_texts"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} {getattr(args, name)}: give 1 or more")
    if args.max_wait_ms < 0:
        raise UsageError(f"--max-wait-ms {args.max_wait_ms:g}: give 0 or more")
    _listen_check(args.host, args.port)
    predictor = Predictor.load(args.checkpoint, device=args.device, batch_size=args.batch_size)
    settings = ServeSettings(
        max_texts=args.max_texts, max_text_chars=args.max_text_chars, max_body_bytes=args.max_body_bytes,
        max_batch_texts=args.max_batch_texts, max_wait_ms=args.max_wait_ms,
        max_queue_texts=args.max_queue_texts, batching=not args.no_batching,
    )
    app = create_app(predictor, settings, args.model_name)
    name = args.model_name or predictor.artifact.config.get("name") or "textclf"
    print(f"serving {predictor} on http://{args.host}:{args.port} (docs at /docs; Open Inference Protocol "
          f"as model {name!r} at /v2/models/{name})", flush=True)
    # uvicorn stops accepting on SIGTERM/SIGINT and lets in-flight requests finish.
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=True,
                timeout_graceful_shutdown=30)
    return 0


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
    p.add_argument("--checkpoint", required=True, nargs="+", metavar="CKPT",
                   help="a .ckpt file written by textclf train; several: an ensemble (mean probabilities)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--split", default="test", choices=["train", "val", "test"], help="default: test")
    which.add_argument("--input", help="evaluate on this labelled file (.csv .tsv .json .jsonl .parquet) instead")
    p.add_argument("--output", "-o", help="folder for the outputs (default: <run>/evaluation/<split>)")
    p.add_argument("--encoding", help="text encoding of --input (default: the checkpoint's data.encoding)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("predict", help="labels (and probabilities) for an unlabelled file",
                       description="Predict every row of a file with nothing but a checkpoint; "
                       "write a CSV (Id,Category by default) in input order.")
    p.add_argument("--checkpoint", required=True, nargs="+", metavar="CKPT",
                   help="a .ckpt file written by textclf train; several: an ensemble (mean probabilities)")
    p.add_argument("--input", required=True, help="texts to label (.csv .tsv .json .jsonl .parquet)")
    p.add_argument("--output", required=True, help="CSV file to write")
    p.add_argument("--text-column", help="default: the checkpoint's data.text_column")
    p.add_argument("--encoding", help="text encoding of --input (default: the checkpoint's data.encoding)")
    p.add_argument("--id-column", help="default: data.id_column, else a column named like --id-name, "
                   "else the 0-based row index")
    p.add_argument("--id-name", default="Id", help="header of the id column (default: Id)")
    p.add_argument("--label-name", default="Category", help="header of the label column (default: Category)")
    p.add_argument("--proba", action="store_true", help="add one probability column per class")
    p.add_argument("--top-k", type=_positive, help="add a column with the K most likely labels")
    p.add_argument("--batch-size", type=_positive, default=256)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("sanity", help="initial-loss, gradient and overfit-a-small-batch checks",
                       description="Check a config before a long run: initial loss against ln(C), "
                       "gradients of every parameter, and overfitting a small sample. Exit 0 on pass, "
                       "1 on failure (or on a warning with --strict).")
    _add_config_args(p)
    p.add_argument("--examples", type=_positive, default=32, help="sample size to overfit (default 32)")
    p.add_argument("--lr", type=float, help="learning rate for overfitting (default: train.lr)")
    p.add_argument("--steps", type=_positive, default=300, help="most steps to overfit (default 300)")
    p.add_argument("--loss-threshold", type=float, default=0.01, help="pass below this loss (default 0.01)")
    p.add_argument("--strict", action="store_true", help="exit 1 on warnings too")
    p.add_argument("--output", "-o", help="folder for the results (default: <output_dir>/<name>-sanity-<timestamp>)")
    p.set_defaults(func=_cmd_sanity)

    p = sub.add_parser("lr-find", help="learning-rate range test with a suggested value",
                       description="Raise the learning rate exponentially batch by batch, plot the "
                       "smoothed loss and suggest a learning rate; the model is left untouched.")
    _add_config_args(p)
    p.add_argument("--min-lr", type=float, default=1e-6)
    p.add_argument("--max-lr", type=float, default=1.0)
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
    p.add_argument("--explain", type=int, default=3, metavar="N",
                   help="explain N test documents in the report (default 3; 0 for none)")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("explain", help="which tokens drove a prediction (attention or gradient × input)",
                       description="Explain predictions token by token: attention weights for "
                       "attention models, gradient × input saliency for the others.")
    p.add_argument("--checkpoint", required=True, help="a .ckpt file written by textclf train")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", help="one text to explain")
    source.add_argument("--input", help="a file of texts (.csv .tsv .json .jsonl .parquet)")
    p.add_argument("--text-column", help="default: the checkpoint's data.text_column")
    p.add_argument("--encoding", help="text encoding of --input (default: the checkpoint's data.encoding)")
    p.add_argument("--limit", type=_positive, default=20, help="explain at most this many rows of --input")
    p.add_argument("--output", "-o", help="write highlighted HTML here")
    p.set_defaults(func=_cmd_explain)

    p = sub.add_parser("export", help="export a checkpoint to ONNX (runs with onnxruntime)",
                       description="Write model.onnx (dynamic batch and length) and textclf.json "
                       "(classes, tokenizer, vocabulary) into a new folder; predict, serve and "
                       "Predictor.load run that folder with onnxruntime. Needs pip install \"textclf[onnx]\".")
    p.add_argument("--checkpoint", required=True, help="a .ckpt file written by textclf train")
    p.add_argument("--format", default="onnx", choices=["onnx"], help="default onnx")
    p.add_argument("--output", "-o", required=True, help="folder to create")
    p.add_argument("--quantize", choices=["int8"], help="dynamic int8 quantization of the weights")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("serve", help="answer predictions over HTTP (FastAPI + uvicorn)",
                       description="Serve one checkpoint (or an ensemble) over HTTP: GET /health, "
                       "GET /metadata, POST /predict {\"texts\": [...]}, /docs, and the Open Inference "
                       "Protocol (KServe/Triton v2) under /v2; requests that arrive together are batched. "
                       "Needs pip install \"textclf[serve]\".")
    p.add_argument("--checkpoint", required=True, nargs="+", metavar="CKPT",
                   help="a .ckpt file (or a folder from textclf export); several: an ensemble")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=8000, help="default 8000")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--batch-size", type=_positive, default=256, help="texts per model call inside a batch")
    p.add_argument("--max-batch-texts", type=int, default=256, help="texts collected into one batch")
    p.add_argument("--max-wait-ms", type=float, default=5.0, help="how long a batch waits to fill while requests arrive together (default 5)")
    p.add_argument("--max-queue-texts", type=int, default=8192, help="texts queued or in the model before answering 503")
    p.add_argument("--max-texts", type=int, default=1024, help="texts per request (more: 422)")
    p.add_argument("--max-text-chars", type=int, default=100_000, help="characters per text (more: 422)")
    p.add_argument("--max-body-bytes", type=int, default=10 * 1024 * 1024, help="request body size (more: 413)")
    p.add_argument("--no-batching", action="store_true", help="one request per model call")
    p.add_argument("--model-name", type=_model_name, help="the model's name under the Open Inference Protocol "
                   "(/v2/models/NAME; default: the config's name)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(func=_cmd_serve)
    return parser


def _other_rank() -> bool:
    """Whether this process is a torchrun rank other than 0 (which meets the same mistakes)."""
    import os

    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and os.environ.get("RANK", "0") != "0"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except TextclfError as exc:
        if not _other_rank():  # under torchrun, rank 0 alone says what is wrong
            for problem in exc.problems:
                print(f"error: {problem}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (PermissionError, IsADirectoryError, NotADirectoryError, FileExistsError) as exc:
        # A path the user gave that cannot be written or read as asked (a folder where a file
        # belongs, a read-only place): one line, and atomic writes left nothing behind.
        where = exc.filename or "a path"
        print(f"error: {where}: {exc.strerror or exc}; choose another path (check that it is a "
              "file, not a folder, and that you may write there)", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into head & co.: stop quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
