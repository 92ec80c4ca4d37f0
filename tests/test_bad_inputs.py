"""Every user mistake: one ``error:`` line saying what, where and how to fix, a documented exit
code, no traceback, and no file left behind (the working folder is unchanged afterwards)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from textclf.cli import main

GOOD_CSV = "text,label\n" + "".join(f"message number {i},{'ab'[i % 2]}\n" for i in range(40))


def files_yaml(tmp: Path, train: str, extra: str = "") -> Path:
    path = tmp / "files.yaml"
    path.write_text(f"data:\n  source: files\n  train: {train}\n{extra}model:\n  name: lstm\n"
                    "  embedding_dim: 4\n  hidden_size: 4\ntrain:\n  epochs: 1\n")
    return path


def config(tmp: Path, text: str) -> Path:
    path = tmp / "c.yaml"
    path.write_text(text)
    return path


def csv_file(tmp: Path, content: bytes, name: str = "train.csv") -> Path:
    path = tmp / name
    path.write_bytes(content)
    return path


def checkpoint_variant(tmp: Path, trained: Path, kind: str) -> Path:
    source = trained / "checkpoints" / "best.ckpt"
    target = tmp / f"{kind}.ckpt"
    if kind == "truncated":
        target.write_bytes(source.read_bytes()[:5000])
    elif kind == "garbage":
        target.write_bytes(b"\x00\x01 not a checkpoint at all")
    elif kind == "wrong_version":
        payload = torch.load(source, weights_only=True)
        payload["format_version"] = 99
        torch.save(payload, target)
    elif kind == "not_textclf":
        torch.save({"weights": torch.zeros(3)}, target)
    elif kind == "malicious":
        torch.save({"x": _Evil(str(tmp / "pwned"))}, target)
    return target


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


# (case id, argv builder(tmp, trained_run, mini_archive), exit code, text the message must hold)
CASES = [
    # --- config (3)
    ("malformed-yaml", lambda t, r, a: ["train", "-c", config(t, "train:\n  lr: 1\n   x: 2\n")], 3, "invalid YAML"),
    ("unknown-key", lambda t, r, a: ["train", "-c", config(t, "train:\n  epohcs: 2\n")], 3, "did you mean 'epochs'"),
    ("wrong-type", lambda t, r, a: ["train", "-c", config(t, "train:\n  epochs: two\n")], 3, "valid integer"),
    ("out-of-range", lambda t, r, a: ["train", "-c", config(t, "train:\n  lr: -0.1\n")], 3, "greater than 0"),
    ("unknown-model", lambda t, r, a: ["train", "-c", config(t, "model:\n  name: bert\n")], 3, "valid names"),
    ("unknown-model-key", lambda t, r, a: ["train", "-c", config(t, "model:\n  name: lstm\n  layers: 2\n")], 3,
     "unknown key for model 'lstm'"),
    ("missing-config", lambda t, r, a: ["data", "-c", t / "absent.yaml"], 3, "config file not found"),
    ("bad-set", lambda t, r, a: ["train", "-c", config(t, "name: x\n"), "--set", "train.lr"], 3, "section.key=value"),
    ("not-a-mapping", lambda t, r, a: ["train", "-c", config(t, "[1, 2]\n")], 3, "must be a mapping"),
    ("files-without-train", lambda t, r, a: ["train", "-c", config(t, "data:\n  source: files\n")], 3,
     "data.train: required when data.source is 'files'"),
    ("bad-class-weight-type", lambda t, r, a: ["train", "-c", config(t, "train:\n  class_weights: heavy\n")], 3,
     "train.class_weights"),
    ("fp16-on-cpu", lambda t, r, a: ["train", "-c", config(t, "train:\n  precision: fp16\n  device: cpu\n")], 3,
     "fp16 needs a CUDA GPU"),
    # --- data (4)
    ("missing-archive", lambda t, r, a: ["train", "-c", config(t, f"data:\n  root: {t / 'no'}\n")], 4,
     "20 Newsgroups not found"),
    ("corrupt-archive", lambda t, r, a: ["data", "-c", config(t, f"data:\n  root: {csv_file(t, b'junk', 'x.tar.gz')}\n")],
     4, "not a readable 20 Newsgroups archive"),
    ("missing-data-file", lambda t, r, a: ["train", "-c", files_yaml(t, str(t / "none.csv"))], 4, "file not found"),
    ("missing-column", lambda t, r, a: ["train", "-c", files_yaml(t, str(csv_file(t, GOOD_CSV.replace("text,", "texts,").encode())))],
     4, "did you mean"),
    ("empty-file", lambda t, r, a: ["train", "-c", files_yaml(t, str(csv_file(t, b"")))], 4, "the file is empty"),
    ("one-class", lambda t, r, a: ["train", "-c", files_yaml(t, str(csv_file(t, GOOD_CSV.replace(",b", ",a").encode())))],
     4, "only one class"),
    ("undecodable", lambda t, r, a: ["train", "-c", files_yaml(t, str(csv_file(t, GOOD_CSV.encode() + b"caf\xe9,a\n")))],
     4, ":42: cannot decode byte 0xe9"),
    ("unknown-labels", lambda t, r, a: ["train", "-c", files_yaml(
        t, str(csv_file(t, GOOD_CSV.encode())), f"  test: {csv_file(t, b'text,label' + chr(10).encode() + b'x,zzz', 'test.csv')}\n")],
     4, "never seen in the training file: 'zzz'"),
    ("empty-texts", lambda t, r, a: ["train", "-c", files_yaml(t, str(csv_file(t, GOOD_CSV.encode() + b",a\n")))], 4,
     "empty text"),
    ("unsupported-format", lambda t, r, a: ["train", "-c", files_yaml(t, str(csv_file(t, b"x", "train.xlsx")))], 4,
     "unsupported file type"),
    ("fractions-too-large", lambda t, r, a: ["train", "-c", files_yaml(t, str(csv_file(t, GOOD_CSV.encode())),
                                                                        "  test_size: 0.6\n  val_size: 0.5\n")],
     4, "must be below 1"),
    # --- checkpoint (5)
    ("missing-checkpoint", lambda t, r, a: ["evaluate", "--checkpoint", t / "none.ckpt"], 5, "checkpoint not found"),
    ("garbage-checkpoint", lambda t, r, a: ["evaluate", "--checkpoint", checkpoint_variant(t, r, "garbage")], 5,
     "not a readable checkpoint"),
    ("truncated-checkpoint", lambda t, r, a: ["evaluate", "--checkpoint", checkpoint_variant(t, r, "truncated")], 5,
     "not a readable checkpoint"),
    ("malicious-checkpoint", lambda t, r, a: ["evaluate", "--checkpoint", checkpoint_variant(t, r, "malicious")], 5,
     "refused to load"),
    ("wrong-version", lambda t, r, a: ["evaluate", "--checkpoint", checkpoint_variant(t, r, "wrong_version")], 5,
     "format version 99"),
    ("foreign-checkpoint", lambda t, r, a: ["evaluate", "--checkpoint", checkpoint_variant(t, r, "not_textclf")], 5,
     "not a textclf checkpoint"),
    # --- command line (2)
    ("missing-argument", lambda t, r, a: ["evaluate"], 2, "required: --checkpoint"),
    ("unknown-command", lambda t, r, a: ["fit"], 2, "invalid choice"),
    ("resume-nonexistent", lambda t, r, a: ["train", "--resume", t / "no_run"], 2, "not a run folder"),
    ("output-in-missing-folder", lambda t, r, a: ["predict", "--checkpoint", r / "checkpoints" / "best.ckpt",
                                                  "--input", csv_file(t, GOOD_CSV.encode()), "--output",
                                                  t / "nowhere" / "out.csv"], 2, "does not exist"),
    ("top-k-too-large", lambda t, r, a: ["predict", "--checkpoint", r / "checkpoints" / "best.ckpt", "--input",
                                         csv_file(t, GOOD_CSV.encode()), "--output", t / "o.csv", "--top-k", "50"],
     2, "between 1 and 4"),
]


HEADER_ONLY = b"text,label\n"
BEST = ("checkpoints", "best.ckpt")


def best(run: Path) -> Path:
    return run.joinpath(*BEST)


def run_without_last(tmp: Path, trained: Path) -> Path:
    """A run folder (config.yaml) whose last.ckpt is gone."""
    run = tmp / "run-without-last"
    run.mkdir()
    (run / "config.yaml").write_bytes((trained / "config.yaml").read_bytes())
    return run


def export_from_a_later_version(tmp: Path, trained: Path) -> Path:
    """The run's export whose textclf.json says its graph takes inputs this version cannot make."""
    import json

    from textclf.inference.onnx_export import export_onnx

    out = export_onnx(best(trained), tmp / "later-export")
    meta = json.loads((out / "textclf.json").read_text())
    meta["export"]["inputs"] = {"form": "char_features"}
    (out / "textclf.json").write_text(json.dumps(meta))
    return out


def used_folder(tmp: Path) -> Path:
    folder = tmp / "used"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    return folder


CASES += [
    # --- config, continued
    ("config-not-utf8", lambda t, r, a: ["train", "-c", csv_file(t, b"name: x\ntrain:\n  lr: \xff\xfe\n", "c.yaml")],
     3, "c.yaml:3: not UTF-8 text"),
    ("negative-seed", lambda t, r, a: ["train", "-c", config(t, "seed: -1\n")], 3, "seed: Input should be greater than or equal to 0"),
    ("negative-train-seed", lambda t, r, a: ["train", "-c", config(t, "train:\n  seed: -5\n")], 3,
     "train.seed: Input should be greater than or equal to 0"),
    ("unknown-encoding", lambda t, r, a: ["train", "-c", config(
        t, "data:\n  source: files\n  train: a.csv\n  encoding: no-such-codec\n")], 3,
     "unknown text encoding 'no-such-codec'"),
    ("key-of-another-source", lambda t, r, a: ["train", "-c", config(t, "data:\n  encoding: latin-1\n")], 3,
     "data.encoding: a key of source 'files', not of '20newsgroups': remove it, or set data.source to files"),
    ("unknown-tokenizer", lambda t, r, a: ["train", "-c", files_yaml(t, str(csv_file(t, GOOD_CSV.encode())),
                                                                     "preprocess:\n  tokenizer: bpe\n")], 3,
     "unknown tokenizer 'bpe'"),
    ("unknown-source", lambda t, r, a: ["train", "-c", config(t, "data:\n  source: kaggle\n")], 3,
     "unknown data source 'kaggle'"),
    ("search-without-space", lambda t, r, a: ["search", "-c", config(t, f"output_dir: {t / 'runs'}\n")], 3,
     "search.space: empty"),
    # --- data, continued
    ("unquoted-comma-in-text", lambda t, r, a: ["train", "-c", files_yaml(t, str(csv_file(
        t, b"text,label\nThank you so much, I love it!,pos\nsee you,neg\n")))], 4,
     "train.csv:2: 3 fields where the header has 2; a text with a comma in it must be quoted"),
    ("predict-unquoted-comma", lambda t, r, a: ["predict", "--checkpoint", best(r), "--input", csv_file(
        t, b"text\nThank you so much, I love it!\n", "new.csv"), "--output", t / "o.csv", "--no-progress"], 4,
     "new.csv:2: 2 fields where the header has 1"),
    ("header-only-csv", lambda t, r, a: ["train", "-c", files_yaml(t, str(csv_file(t, HEADER_ONLY)))], 4, "has no rows"),
    ("json-lines-in-json", lambda t, r, a: ["train", "-c", files_yaml(t, str(csv_file(
        t, b'{"text": "a", "label": "x"}\n{"text": "b", "label": "y"}\n', "train.json")))], 4,
     "looks like JSON lines"),
    ("predict-header-only", lambda t, r, a: ["predict", "--checkpoint", best(r), "--input", csv_file(t, HEADER_ONLY),
                                             "--output", t / "o.csv", "--no-progress"], 4, "has no rows"),
    ("explain-header-only", lambda t, r, a: ["explain", "--checkpoint", best(r), "--input", csv_file(t, HEADER_ONLY)],
     4, "has no rows"),
    ("evaluate-header-only", lambda t, r, a: ["evaluate", "--checkpoint", best(r), "--input", csv_file(t, HEADER_ONLY)],
     4, "has no rows"),
    ("predict-wrong-encoding", lambda t, r, a: ["predict", "--checkpoint", best(r), "--input",
                                                csv_file(t, "text\ncafé\n".encode("utf-16")), "--output", t / "o.csv",
                                                "--encoding", "utf-8", "--no-progress"], 4, "cannot decode byte"),
    # --- command line, continued
    ("predict-id-column-missing", lambda t, r, a: ["predict", "--checkpoint", best(r), "--input",
                                                   csv_file(t, GOOD_CSV.encode()), "--output", t / "o.csv",
                                                   "--id-column", "Id", "--no-progress"], 2, "no id column 'Id' (from --id-column); columns: text, label"),
    ("output-is-a-folder", lambda t, r, a: ["predict", "--checkpoint", best(r), "--input",
                                            csv_file(t, GOOD_CSV.encode()), "--output", t, "--no-progress"], 2,
     "is a folder, not a file; give the path of a file to write"),
    ("predict-batch-size-0", lambda t, r, a: ["predict", "--checkpoint", best(r), "--input", csv_file(t, GOOD_CSV.encode()),
                                              "--output", t / "o.csv", "--batch-size", "0", "--no-progress"], 2, "0: give 1 or more"),
    ("predict-top-k-word", lambda t, r, a: ["predict", "--checkpoint", best(r), "--input", csv_file(t, GOOD_CSV.encode()),
                                            "--output", t / "o.csv", "--top-k", "all", "--no-progress"], 2, "'all' is not a whole number"),
    ("sanity-examples-0", lambda t, r, a: ["sanity", "-c", config(t, "name: x\n"), "--examples", "0"], 2, "give 1 or more"),
    ("sanity-steps-negative", lambda t, r, a: ["sanity", "-c", config(t, "name: x\n"), "--steps", "-1"], 2,
     "give 1 or more"),
    ("lr-find-steps-0", lambda t, r, a: ["lr-find", "-c", config(t, "name: x\n"), "--steps", "0"], 2, "give 1 or more"),
    ("explain-limit-0", lambda t, r, a: ["explain", "--checkpoint", best(r), "--text", "x", "--limit", "0"], 2,
     "give 1 or more"),
    ("search-jobs-0", lambda t, r, a: ["search", "-c", config(t, "name: x\n"), "--jobs", "0"], 2, "give 1 or more"),
    ("serve-port-word", lambda t, r, a: ["serve", "--checkpoint", best(r), "--port", "http"], 2,
     "'http' is not a whole number"),
    ("serve-port-out-of-range", lambda t, r, a: ["serve", "--checkpoint", best(r), "--port", "99999"], 2,
     "a port is a number from 1 to 65535"),
    ("export-missing-checkpoint", lambda t, r, a: ["export", "--checkpoint", t / "no.ckpt", "--output", t / "exp"], 5,
     "checkpoint not found"),
    ("report-not-a-run", lambda t, r, a: ["report", t], 2, "not a run folder"),
    ("resume-without-last", lambda t, r, a: ["train", "--resume", run_without_last(t, r)], 2, "nothing to resume"),
    ("explain-missing-input", lambda t, r, a: ["explain", "--checkpoint", best(r), "--input", t / "none.csv"], 4,
     "file not found"),
    ("evaluate-unknown-split", lambda t, r, a: ["evaluate", "--checkpoint", best(r), "--split", "dev"], 2,
     "invalid choice: 'dev'"),
    ("lr-find-min-above-max", lambda t, r, a: ["lr-find", "-c", config(t, "name: x\n"), "--min-lr", "1",
                                               "--max-lr", "0.1"], 2, "need 0 < min < max"),
    ("predict-unknown-text-column", lambda t, r, a: ["predict", "--checkpoint", best(r), "--input",
                                                     csv_file(t, GOOD_CSV.encode()), "--output", t / "o.csv",
                                                     "--text-column", "body", "--no-progress"], 4, "no column 'body'"),
    ("serve-model-name-with-a-slash", lambda t, r, a: ["serve", "--checkpoint", best(r), "--model-name", "a/b"], 2,
     "it is a URL part"),
    ("serve-max-texts-0", lambda t, r, a: ["serve", "--checkpoint", best(r), "--max-texts", "0"], 2,
     "--max-texts: 0: give 1 or more"),
    ("serve-max-wait-negative", lambda t, r, a: ["serve", "--checkpoint", best(r), "--max-wait-ms", "-1"], 2,
     "--max-wait-ms: -1: give 0 or more"),
    ("report-explain-negative", lambda t, r, a: ["report", r, "--explain", "-2"], 2, "--explain: -2: give 0 or more"),
    ("sanity-loss-threshold-0", lambda t, r, a: ["sanity", "-c", config(t, "name: x\n"), "--loss-threshold", "0"], 2,
     "--loss-threshold: 0: give a number above 0"),
    ("export-unknown-quantization", lambda t, r, a: ["export", "--checkpoint", best(r), "--output", t / "e",
                                                     "--quantize", "int4"], 2, "invalid choice: 'int4'"),
    ("train-into-a-used-run-dir", lambda t, r, a: ["train", "-c", files_yaml(t, str(csv_file(t, GOOD_CSV.encode())),
                                                                             "  cache: false\n"),
                                                   "--run-dir", used_folder(t), "--no-progress"], 2,
     "run folder already exists and is not empty"),
    ("ensemble-of-one-missing", lambda t, r, a: ["predict", "--checkpoint", best(r), t / "gone.ckpt", "--input",
                                                 csv_file(t, GOOD_CSV.encode()), "--output", t / "o.csv"], 5,
     "checkpoint not found"),
    ("export-a-folder-checkpoint", lambda t, r, a: ["evaluate", "--checkpoint", r / "checkpoints"], 5,
     "a folder, but not one written by textclf export"),
    ("export-from-a-later-version", lambda t, r, a: ["predict", "--checkpoint", export_from_a_later_version(t, r),
                                                     "--input", csv_file(t, GOOD_CSV.encode()), "--output",
                                                     t / "o.csv", "--no-progress"], 5,
     "cannot make; upgrade textclf, or export the checkpoint again"),
    # --- multilabel
    ("unknown-task", lambda t, r, a: ["train", "-c", config(t, "task: multi_label\n")], 3, "'multiclass' or 'multilabel'"),
    ("threshold-above-1", lambda t, r, a: ["train", "-c", config(t, "task: multilabel\ntrain:\n  threshold: 1.5\n")],
     3, "a threshold is a probability between 0 and 1"),
    ("multilabel-no-labels-at-all", lambda t, r, a: ["train", "-c", _multilabel(
        t, train="text,label\n" + "".join(f"t{i},\n" for i in range(20)))], 4, "no row has a label in column 'label'"),
    ("multilabel-unknown-test-label", lambda t, r, a: ["train", "-c", _multilabel(t, test=True)], 4,
     "labels never seen in the training file: 'zzz'"),
]


def _multilabel(tmp: Path, test: bool = False, train: str | None = None) -> Path:
    """A multilabel config: ``train`` as the training file (default: two good labels), and with
    ``test`` a test file with a label the training file lacks."""
    content = train or "text,label\n" + "".join(f"t{i},a|b\nu{i},b\n" for i in range(10))
    train = tmp / "train.csv"
    train.write_text(content)
    extra = ""
    if test:
        (tmp / "test.csv").write_text("text,label\nx,a|zzz\n")
        extra = f"  test: {tmp / 'test.csv'}\n"
    path = tmp / "multilabel.yaml"
    path.write_text(f"task: multilabel\ndata:\n  source: files\n  train: {train}\n{extra}  cache: false\n"
                    "model:\n  name: lstm\n  embedding_dim: 4\n  hidden_size: 4\ntrain:\n  epochs: 1\n")
    return path


def snapshot(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file()}


def test_there_are_at_least_60_cases():
    assert len(CASES) >= 60 and len({c[0] for c in CASES}) == len(CASES)


_SEEN: dict[str, tuple[str, int, str]] = {}  # case id -> (command, exit code, message), for the docs table
RELIABILITY = Path(__file__).resolve().parents[1] / "docs" / "reliability.md"


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input(case, tmp_path, trained_run, mini_archive, capsys, monkeypatch):
    case_id, argv, code, needle = case
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # outputs with default paths (runs/...) would land here
    args = [str(a) for a in argv(tmp_path, trained_run, mini_archive)]
    before = snapshot(tmp_path)
    try:
        result = main(args)
    except SystemExit as exc:  # argparse exits by itself
        result = exc.code
    err = capsys.readouterr().err
    assert result == code, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert needle in lines[0], lines[0]
    after = snapshot(tmp_path)
    assert after == before, set(after) ^ set(before)  # nothing written, nothing half-written
    assert not (tmp_path / "pwned").exists()
    shutil.rmtree(work)

    def shown(text: str) -> str:
        for path, name in ((trained_run, "<run>"), (mini_archive, "<archive>"), (tmp_path, "<tmp>")):
            text = text.replace(str(path), name)
        return text.replace("|", "\\|")

    _SEEN[case_id] = (shown("textclf " + " ".join(args)), result, shown(lines[0]))


def _table() -> str:
    rows = ["| case | command | exit | message |", "|---|---|--:|---|"]
    rows += [f"| {case} | `{command}` | {code} | {message} |" for case, (command, code, message) in _SEEN.items()]
    return "\n".join(rows)


def test_the_reliability_table_lists_every_case():
    """docs/reliability.md holds the table of these cases as they ran (regenerate it with
    TEXTCLF_WRITE_DOCS=1 python -m pytest tests/test_bad_inputs.py)."""
    import os
    import re

    if len(_SEEN) < len(CASES):  # (pytest-xdist's --dist loadfile runs a file's tests in one worker)
        pytest.skip("the table is checked when every case of this file has run")
    text = RELIABILITY.read_text(encoding="utf-8")
    start, end = "<!-- bad-inputs:start -->", "<!-- bad-inputs:end -->"
    if os.environ.get("TEXTCLF_WRITE_DOCS"):
        body = f"{start}\n{len(_SEEN)} cases, written by `tests/test_bad_inputs.py`:\n\n{_table()}\n{end}"
        text = re.sub(re.escape(start) + ".*" + re.escape(end), lambda _: body, text, flags=re.S)
        RELIABILITY.write_text(text, encoding="utf-8")
    documented = dict(re.findall(r"^\| ([\w-]+) \| `.*` \| (\d+) \|", text, flags=re.M))
    stale = [c for c, (_, code, _) in _SEEN.items() if documented.get(c) != str(code)]
    assert not stale, f"docs/reliability.md does not list {stale}; regenerate: TEXTCLF_WRITE_DOCS=1 pytest tests/test_bad_inputs.py"
