import json

import numpy as np
import pandas as pd
import pytest

from conftest import REPO
from textclf.config import Config, DataConfig
from textclf.data import load_corpus
from textclf.errors import DataError

ROWS = [("good movie", "pos"), ("bad film", "neg"), ("great acting", "pos"), ("awful plot", "neg")] * 10


def frame(rows=ROWS) -> pd.DataFrame:
    return pd.DataFrame({"Id": range(100, 100 + len(rows)), "title": [t.split()[0] for t, _ in rows],
                         "body": [t.split()[1] for t, _ in rows], "cat": [c for _, c in rows]})


def write(df: pd.DataFrame, path):
    suffix = path.suffix
    if suffix == ".csv":
        df.to_csv(path, index=False)
    elif suffix == ".tsv":
        df.to_csv(path, index=False, sep="\t")
    elif suffix == ".json":
        path.write_text(json.dumps(df.to_dict(orient="records")))
    elif suffix == ".jsonl":
        df.to_json(path, orient="records", lines=True)
    else:
        df.to_parquet(path)
    return path


def files_config(**data) -> Config:
    base = {"source": "files", "text_column": ["title", "body"], "label_column": "cat"}
    return Config(data=DataConfig(**{**base, **data}))


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".json", ".jsonl", ".parquet"])
def test_every_format_reads_the_same_corpus(tmp_path, suffix):
    path = write(frame(), tmp_path / f"train{suffix}")
    corpus = load_corpus(files_config(train=str(path), test_size=0.25, val_size=0.25))
    assert corpus.label_names == ["neg", "pos"]
    assert [len(corpus[s]) for s in ("train", "val", "test")] == [20, 10, 10]
    # Multi-column text is joined with a space; labels follow the text.
    pairs = dict(ROWS)
    for split in ("train", "val", "test"):
        for text, label in zip(corpus[split].texts, corpus[split].labels):
            assert corpus.label_names[label] == pairs[text]


def test_separate_val_and_test_files_and_relative_paths(tmp_path, monkeypatch):
    for name in ("train", "val", "test"):
        write(frame(), tmp_path / f"{name}.csv")
    monkeypatch.setenv("TEXTCLF_DATA", str(tmp_path))  # relative paths are taken there
    corpus = load_corpus(files_config(train="train.csv", val="val.csv", test="test.csv"))
    assert [len(corpus[s]) for s in ("train", "val", "test")] == [40, 40, 40]
    only_test = load_corpus(files_config(train="train.csv", test="test.csv", val_size=0.2))
    assert [len(only_test[s]) for s in ("train", "val", "test")] == [32, 8, 40]


def test_unknown_labels_error_or_drop(tmp_path, capsys):
    write(frame(), tmp_path / "train.csv")
    write(frame(ROWS[:4] + [("odd thing", "meh"), ("more odd", "huh")]), tmp_path / "test.csv")
    config = files_config(train=str(tmp_path / "train.csv"), test=str(tmp_path / "test.csv"))
    with pytest.raises(DataError, match="labels never seen in the training file: 'huh', 'meh'"):
        load_corpus(config)
    config.data.unknown_labels = "drop"
    corpus = load_corpus(config)
    assert len(corpus["test"]) == 4
    assert "dropped 2 rows" in capsys.readouterr().err


def test_empty_texts_error_names_rows_or_are_kept(tmp_path):
    df = frame()
    df.loc[[3, 7], ["title", "body"]] = ""
    path = write(df, tmp_path / "train.csv")
    with pytest.raises(DataError, match=r"rows 4, 8 have an empty text"):
        load_corpus(files_config(train=str(path)))
    corpus = load_corpus(files_config(train=str(path), empty_texts="keep", test_size=0.25, val_size=0.25))
    assert sum(t == "" for s in ("train", "val", "test") for t in corpus[s].texts) == 2


def test_empty_documents_flow_through_training(tmp_path):
    """Empty texts become one <unk>: they neither crash the tokenizer nor the model."""
    df = frame()
    df.loc[[0, 1, 2], ["title", "body"]] = ""
    path = write(df, tmp_path / "train.jsonl")
    from textclf.training import train

    config = files_config(train=str(path), empty_texts="keep", test_size=0.25, val_size=0.25)
    config.model.__pydantic_extra__.update(embedding_dim=8, hidden_size=8)
    config.train.epochs = 1
    config.preprocess.min_freq = 1
    config.model.name = "lstm"
    result = train(config, run_dir=tmp_path / "run", progress=False)
    assert 0 <= result.test_metrics["accuracy"] <= 1


def test_decoding_error_names_file_line_and_offset(tmp_path):
    path = tmp_path / "train.csv"
    path.write_bytes(b"text,label\nfine,a\nalso fine,b\ncaf\xe9 au lait,a\n")
    with pytest.raises(DataError) as info:
        load_corpus(files_config(train=str(path), text_column="text", label_column="label"))
    message = info.value.problems[0]
    assert f"{path}:4:" in message and "0xe9" in message and "data.encoding" in message


@pytest.mark.parametrize(
    "content,needle",
    [
        (b"", "the file is empty"),
        (b"text,label\nonly,a\nclass,a\n", "only one class"),
        (b"words,label\nx,a\ny,b\n", "no column 'text' (from data.text_column)"),
    ],
)
def test_bad_files(tmp_path, content, needle):
    path = tmp_path / "train.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        load_corpus(files_config(train=str(path), text_column="text", label_column="label"))


def test_missing_file_and_missing_train_key(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_corpus(files_config(train=str(tmp_path / "nope.csv")))
    from textclf.config import config_from_dict
    from textclf.errors import ConfigError

    with pytest.raises(ConfigError, match="data.train: required when data.source is .files."):
        config_from_dict({"data": {"source": "files"}})


def test_sms_spam_config_reads_the_shared_csv(monkeypatch):
    from conftest import real_archive
    from textclf.config import load_config

    monkeypatch.setenv("TEXTCLF_DATA", str(real_archive().parent))
    corpus = load_corpus(load_config(REPO / "configs" / "sms_spam_lstm.yaml"))
    sizes = [len(corpus[s]) for s in ("train", "val", "test")]
    assert sum(sizes) == 5574 and sizes[2] == 1115
    assert corpus.label_names == ["ham", "spam"]
    assert np.bincount(corpus["test"].labels).tolist() == [966, 149]


def test_a_data_root_overridden_by_the_environment_is_reported(tmp_path, monkeypatch, capsys):
    from textclf.config import DataConfig
    from textclf.data.location import data_location

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.setenv("TEXTCLF_DATA", str(tmp_path / "b"))
    where, origin = data_location(DataConfig(root=str(tmp_path / "a")))
    assert where == tmp_path / "b" and "TEXTCLF_DATA" in origin
    data_location(DataConfig(root=str(tmp_path / "a")))  # said once
    err = capsys.readouterr().err
    assert err.count("warning: data.root") == 1 and f"overridden by TEXTCLF_DATA={tmp_path / 'b'}" in err
    data_location(DataConfig(root=str(tmp_path / "b")))  # the same place: nothing to say
    assert capsys.readouterr().err == ""


def test_environment_paths_are_absolute_when_read(tmp_path, monkeypatch):
    """TEXTCLF_DATA and TEXTCLF_CACHE written relative (as the README does) name the same folders
    from any working directory a child process may run in."""
    from textclf.config import DataConfig, config_from_dict
    from textclf.data.location import data_location
    from textclf.text.prepare import cache_dir

    (tmp_path / "shared" / "data").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "shared")
    monkeypatch.setenv("TEXTCLF_DATA", "data")
    monkeypatch.setenv("TEXTCLF_CACHE", "cache")
    root, _ = data_location(DataConfig())
    cache = cache_dir(config_from_dict({}))
    assert root == tmp_path / "shared" / "data" and root.is_absolute()
    assert cache == tmp_path / "shared" / "cache" and cache.is_absolute()
