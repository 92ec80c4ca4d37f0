"""Kaggle-style workflow: train.json → train → predict test.json → Id,Category submission."""

import csv
import json
import tarfile

import pytest

from conftest import MINI_GROUPS, write_config
from textclf.cli import main


@pytest.fixture(scope="module")
def kaggle(tmp_path_factory, mini_archive):
    """train.json (Id, text, Category) and an unlabelled test.json from the real archive."""
    folder = tmp_path_factory.mktemp("kaggle")
    records = []
    with tarfile.open(mini_archive) as archive:
        for member in archive:
            if member.isfile():
                group = member.name.split("/")[1]
                text = archive.extractfile(member).read().decode("latin-1")
                records.append({"Id": f"doc{len(records):04d}", "text": text, "Category": group})
    train, test = records[::2], records[1::2]
    (folder / "train.json").write_text(json.dumps(train))
    (folder / "test.json").write_text(json.dumps([{"Id": r["Id"], "text": r["text"]} for r in test]))
    (folder / "test_labelled.jsonl").write_text("\n".join(json.dumps(r) for r in test))
    config = write_config(folder / "kaggle.yaml", f"""\
name: kaggle
data:
  source: files
  train: {folder / "train.json"}
  label_column: Category
  id_column: Id
  cache_dir: {folder / "cache"}
preprocess:
  max_seq_len: 100
model:
  name: bigru_attention
  embedding_dim: 32
  hidden_size: 32
train:
  epochs: 4
  lr: 0.02
  batch_size: 16
  class_weights: inverse
""")
    run = folder / "run"
    assert main(["train", "--config", str(config), "--run-dir", str(run), "--no-progress"]) == 0
    return folder, run / "checkpoints" / "best.ckpt", test


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_submission_has_one_row_per_test_id_in_order(kaggle):
    folder, ckpt, test = kaggle
    out = folder / "submission.csv"
    assert main(["predict", "--checkpoint", str(ckpt), "--input", str(folder / "test.json"),
                 "--output", str(out), "--no-progress"]) == 0
    rows = read_csv(out)
    assert rows[0] == ["Id", "Category"]
    assert [r[0] for r in rows[1:]] == [r["Id"] for r in test]
    assert {r[1] for r in rows[1:]} <= set(MINI_GROUPS)
    accuracy = sum(r[1] == t["Category"] for r, t in zip(rows[1:], test)) / len(test)
    assert accuracy > 0.4  # 4 classes: clearly above chance


def test_proba_top_k_custom_names_and_no_id_column(kaggle, tmp_path, capsys):
    folder, ckpt, test = kaggle
    texts = tmp_path / "texts.csv"
    with open(texts, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text"])
        for r in test[:7]:
            w.writerow([r["text"]])
    out = tmp_path / "pred.csv"
    assert main(["predict", "--checkpoint", str(ckpt), "--input", str(texts), "--output", str(out),
                 "--proba", "--top-k", "2", "--id-name", "row", "--label-name", "group",
                 "--no-progress"]) == 0
    rows = read_csv(out)
    assert rows[0] == ["row", "group", "top2"] + [f"p_{g}" for g in sorted(MINI_GROUPS)]
    assert [r[0] for r in rows[1:]] == [str(i) for i in range(7)]  # 0-based index as id
    # The config names an id column (Id) that this file lacks: not silently.
    assert "has no column 'Id' (the checkpoint's data.id_column; columns: text)" in capsys.readouterr().err
    for r in rows[1:]:
        probs = [float(p) for p in r[3:]]
        assert sum(probs) == pytest.approx(1, abs=1e-4)
        assert r[2].split()[0] == r[1]
    # Small chunks give the same file as one chunk (streaming keeps input order).
    from textclf.evaluation.predict_file import predict_file

    again = tmp_path / "again.csv"
    predict_file(ckpt, texts, again, id_name="row", label_name="group", proba=True, top_k=2,
                 chunk_rows=3, progress=False)
    assert capsys.readouterr().err.count("has no column 'Id'") == 1  # once, whichever reading thread saw it
    chunked = read_csv(again)
    assert [r[:3] for r in chunked] == [r[:3] for r in rows]
    for a, b in zip(chunked[1:], rows[1:]):  # batches differ, so floats may differ in the last bit
        assert [float(x) for x in a[3:]] == pytest.approx([float(x) for x in b[3:]], abs=1e-5)


def test_evaluate_on_a_labelled_file(kaggle, tmp_path, capsys):
    folder, ckpt, _ = kaggle
    code = main(["evaluate", "--checkpoint", str(ckpt), "--input", str(folder / "test_labelled.jsonl"),
                 "--output", str(tmp_path / "e")])
    assert code == 0
    assert "test_labelled: accuracy" in capsys.readouterr().out
    assert (tmp_path / "e" / "per_class.csv").is_file()


def test_predict_errors(kaggle, tmp_path, capsys):
    folder, ckpt, _ = kaggle
    code = main(["predict", "--checkpoint", str(ckpt), "--input", str(folder / "test.json"),
                 "--output", str(tmp_path / "missing" / "out.csv")])
    assert code == 2 and "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "missing").exists()
    code = main(["predict", "--checkpoint", str(ckpt), "--input", str(folder / "test.json"),
                 "--output", str(tmp_path / "o.csv"), "--top-k", "9"])
    assert code == 2 and "between 1 and 4" in capsys.readouterr().err
    assert not (tmp_path / "o.csv").exists()


def test_outputs_follow_the_umask_and_empty_texts_are_counted(trained_run, tmp_path, capsys):
    import os
    import stat

    from textclf.cli import main

    source = tmp_path / "texts.jsonl"
    source.write_text('{"text": "the goalie saved it"}\n{"text": ""}\n{"text": "   "}\n{"text": "nasa"}\n')
    old = os.umask(0o022)
    try:
        assert main(["predict", "--checkpoint", str(trained_run / "checkpoints" / "best.ckpt"), "--input",
                     str(source), "--output", str(tmp_path / "out.csv"), "--no-progress"]) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out.csv").stat().st_mode) == 0o644
    assert "warning: 2 of 4 texts are empty" in capsys.readouterr().err


def test_evaluate_input_writes_its_own_folder_and_keeps_the_test_evaluation(trained_run, tmp_path, mini_config):
    import json

    from textclf.cli import main
    from textclf.config import load_config
    from textclf.data import load_corpus

    test_metrics = trained_run / "evaluation" / "test" / "metrics.json"
    before = test_metrics.read_bytes()
    corpus = load_corpus(load_config(mini_config))
    source = tmp_path / "test.jsonl"
    source.write_text("".join(json.dumps({"text": t, "label": corpus.label_names[y]}) + "\n"
                              for t, y in zip(corpus["val"].texts[:30], corpus["val"].labels[:30])))
    assert main(["evaluate", "--checkpoint", str(trained_run / "checkpoints" / "best.ckpt"), "--input", str(source)]) == 0
    assert test_metrics.read_bytes() == before
    assert json.loads((trained_run / "evaluation" / "input-test" / "metrics.json").read_text())["num_examples"] == 30
