import codecs
import csv
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import REPO
from textclf.config import Config, DataConfig
from textclf.data import load_corpus
from textclf.data.tables import ColumnChunk, iter_columns
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


def test_labels_that_differ_only_in_case_or_spaces_are_kept_apart_with_a_warning(tmp_path, capsys):
    rows = ROWS + [("fine movie", "Pos"), ("poor film", "neg ")] * 5
    write(frame(rows), tmp_path / "train.csv")
    corpus = load_corpus(files_config(train=str(tmp_path / "train.csv"), test_size=0.2, val_size=0.2))
    assert corpus.label_names == ["Pos", "neg", "neg ", "pos"]  # (nothing merged behind the user's back)
    err = capsys.readouterr().err
    assert "differ only in case or spaces are separate classes: 'Pos' and 'pos'; 'neg' and 'neg '" in err
    write(frame(), tmp_path / "clean.csv")
    load_corpus(files_config(train=str(tmp_path / "clean.csv"), test_size=0.25, val_size=0.25))
    assert "differ only" not in capsys.readouterr().err


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


# Any text a CSV writer may write, in UTF-8 (no lone surrogates), quotes, commas, tabs and
# line breaks of every kind included.
_CELLS = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_CELLS, _CELLS), min_size=1, max_size=25), st.booleans(), st.sampled_from([".csv", ".tsv"]),
       st.integers(1, 7))
def test_the_arrow_reader_of_a_predicted_file_reads_every_row_written(tmp_path_factory, rows, two_columns, suffix, chunk):
    """``iter_columns`` (pyarrow, for textclf predict) gives back every cell that a CSV writer
    wrote, in order, chunk by chunk."""
    path = tmp_path_factory.mktemp("t") / f"f{suffix}"
    rows = [list(r) if two_columns else [r[1]] for r in rows]
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter="\t" if suffix == ".tsv" else ",")
        writer.writerow(["id", "text"] if two_columns else ["text"])
        writer.writerows(rows)
    chunks = list(iter_columns(path, "utf-8", chunk))
    assert all(isinstance(c, ColumnChunk) for c in chunks) and all(len(c["text"]) == chunk for c in chunks[:-1])
    assert [cell for c in chunks for cell in c["text"]] == [r[-1] for r in rows]
    if two_columns:
        assert [cell for c in chunks for cell in c["id"]] == [r[0] for r in rows]


def test_a_plain_csv_is_read_by_arrow_and_the_rest_by_pandas(tmp_path):
    plain = tmp_path / "plain.csv"
    plain.write_text('id,text\n1,"a, b"\n2,"line\nbreak"\n3,\n', encoding="utf-8")
    chunks = list(iter_columns(plain, "utf-8", 2))
    assert all(isinstance(c, ColumnChunk) for c in chunks)
    assert [c["text"] for c in chunks] == [["a, b", "line\nbreak"], [""]] and chunks[0]["id"] == ["1", "2"]
    # A row of spaces alone is a row (pandas takes it for a blank line in a one-column file and
    # drops it, and every row number after it would name the wrong text).
    spaces = tmp_path / "spaces.csv"
    spaces.write_text("text\n  \nb\n", encoding="utf-8")
    assert [list(c["text"]) for c in iter_columns(spaces, "utf-8")] == [["  ", "b"]]
    # Another encoding, a byte-order mark, a row too long: pandas reads it, or names the mistake.
    latin = tmp_path / "latin.csv"
    latin.write_bytes("text\ncaf\xe9\n".encode("latin-1"))
    assert [list(c["text"]) for c in iter_columns(latin, "latin-1")] == [["caf\xe9"]]
    bom = tmp_path / "bom.csv"
    bom.write_bytes(codecs.BOM_UTF8 + b"text\nx\n")
    assert not isinstance(next(iter_columns(bom, "utf-8")), ColumnChunk)
    long_row = tmp_path / "long.csv"
    long_row.write_text("id,text\n1,a\n2,b,c\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"long.csv:3: 3 fields where the header has 2"):
        list(iter_columns(long_row, "utf-8"))


def test_a_class_with_one_example_stays_in_training_and_tiny_data_is_split_unstratified(tmp_path, capsys):
    """Small data is split as far as it can be: a class with a single example cannot be on both
    sides (it stays in train, with a warning naming it), and a held-out part too small to hold
    every class is drawn at random (a warning says so); only what cannot be split at all is an
    error."""
    from textclf.data.splits import stratified_split

    rows = [f"apple banana {i},fruit" for i in range(30)] + [f"car wheel {i},car" for i in range(30)]
    (tmp_path / "one.csv").write_text("text,label\n" + "\n".join(rows + ["goal match team,sport"]) + "\n")
    corpus = load_corpus(Config(data=DataConfig(source="files", train=str(tmp_path / "one.csv"),
                                                cache_dir=str(tmp_path / "cache"))))
    sport = corpus.label_names.index("sport")
    assert sport in corpus["train"].labels
    assert sport not in corpus["val"].labels and sport not in corpus["test"].labels
    assert sum(len(corpus[s]) for s in ("train", "val", "test")) == 61
    assert "1 class(es) with a single example ('sport') stay in training" in capsys.readouterr().err

    labels = np.repeat(np.arange(12), 3)  # 36 examples of 12 classes: 10 % held out is 4
    kept, held = stratified_split(labels, 0.1, 0, "tiny")
    assert len(held) == 4 and sorted(np.concatenate([kept, held]).tolist()) == list(range(36))
    assert "too few for a stratified 0.1 held-out fraction" in capsys.readouterr().err
    with pytest.raises(DataError, match="cannot split tiny .1 examples."):
        stratified_split(np.array([0]), 0.1, 0, "tiny")
