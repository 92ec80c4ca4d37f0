"""What each ``textclf`` subcommand does: parse nothing, load the config, call one library
function, print the result. The arguments are ``cli/parser.py``'s; errors are raised as
:class:`~textclf.errors.TextclfError` and printed by ``cli.main``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from textclf.errors import UsageError

__all__ = ["_cmd_data", "_cmd_train", "_cmd_evaluate", "_cmd_predict", "_cmd_search", "_cmd_report", "_cmd_explain", "_cmd_sanity", "_cmd_lr_find", "_cmd_export", "_cmd_serve"]


def _cmd_data(args: argparse.Namespace) -> int:
    from textclf.config import load_config
    from textclf.reporting.data_stats import format_data_statistics, write_data_statistics
    from textclf.text.prepare import prepare_with_recipe

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


def _cmd_search(args: argparse.Namespace) -> int:
    from textclf.config import load_config
    from textclf.training.search import run_search

    config = load_config(args.config, args.overrides)
    out = Path(args.output) if args.output else Path(config.output_dir) / f"{config.name}-search"
    study = run_search(config, out, storage=args.storage, jobs=args.jobs)
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
    from textclf.files import write_text
    from textclf.inference import Predictor
    from textclf.reporting.explain import explain_texts, explanation_page, texts_from_file

    predictor = Predictor.load(args.checkpoint)
    if len(predictor) > 1:  # an ensemble file (a default selection's): its first member is its winner
        print(f"{args.checkpoint}: an ensemble of {len(predictor)} models; explaining its first, "
              f"{predictor.artifact.model_name} (weight {predictor.weights[0]:.2f}), whose prediction may "
              "differ from the ensemble's", file=sys.stderr)
        predictor = Predictor([predictor.artifact], device=predictor.device, batch_size=predictor.batch_size)
    texts = [args.text] if args.text is not None else texts_from_file(
        predictor, args.input, args.text_column, args.encoding, args.limit)
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
    files = sorted(out.iterdir())
    size = sum(f.stat().st_size for f in files) / 1e6
    print(f"wrote {out}/ ({', '.join(f.name for f in files)}; {size:.1f} MB); run it with: "
          f"textclf predict --checkpoint {out} --input F --output O")
    return 0


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


def _cmd_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from textclf.serving import ServeSettings, create_app
    except ImportError as exc:
        raise UsageError(f"textclf serve needs FastAPI and uvicorn ({exc.name} is missing): "
                         'pip install "textclf[serve]"') from None
    from textclf.inference import Predictor

    _listen_check(args.host, args.port)
    predictor = Predictor.load(args.checkpoint, device=args.device, batch_size=args.batch_size)
    settings = ServeSettings(
        max_texts=args.max_texts, max_text_chars=args.max_text_chars, max_body_bytes=args.max_body_bytes,
        max_batch_texts=args.max_batch_texts, max_wait_ms=args.max_wait_ms,
        max_queue_texts=args.max_queue_texts, batching=not args.no_batching,
    )
    name = args.model_name or predictor.artifact.config.get("name") or "textclf"
    workers = "" if args.workers == 1 else f" in {args.workers} processes"
    print(f"serving {predictor} on http://{args.host}:{args.port}{workers} (docs at /docs; Open Inference "
          f"Protocol as model {name!r} at /v2/models/{name})", flush=True)
    # uvicorn stops accepting on SIGTERM/SIGINT and lets in-flight requests finish.
    common = dict(host=args.host, port=args.port, log_level=args.log_level, access_log=True,
                  timeout_graceful_shutdown=30)
    if args.workers == 1:
        uvicorn.run(create_app(predictor, settings, args.model_name), **common)
        return 0
    from textclf.inference.runners import cpu_threads
    from textclf.serving.workers import worker_environment

    del predictor  # (checked above; each worker loads its own)
    threads = max(1, cpu_threads() // args.workers)  # (torch's where the checkpoints loaded it)
    os.environ.update(worker_environment(args.checkpoint, args.device, args.batch_size, settings,
                                         args.model_name, threads))
    uvicorn.run("textclf.serving.workers:worker_app", factory=True, workers=args.workers, **common)
    return 0
