"""Pretrained word vectors: reading the text format, coverage, loading into a model, freezing."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

from textclf.cli import main
from textclf.errors import DataError
from textclf.text.vectors import read_vectors

ITOS = ["<pad>", "<unk>", "the", "rangers", "won", "zzzz"]


def test_header_gzip_case_and_coverage(tmp_path):
    path = tmp_path / "v.vec.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("4 3\nThe 9 9 9\nthe 1 2 3\nrangers 0.5 0.5 0.5\nWon -1 0 1\n")
    vectors = read_vectors(path, ITOS, 3)
    assert vectors.found.tolist() == [False, False, True, True, True, False]
    assert vectors.matrix[2].tolist() == [1, 2, 3]  # the word's own case wins over 'The'
    assert vectors.matrix[4].tolist() == [-1, 0, 1]  # 'Won' serves the lowercased 'won'
    text = vectors.coverage(np.array([2, 2, 3, 5]))
    assert "3 of 4 vocabulary words found (75.0%)" in text and "75.0% of the training tokens" in text


def test_a_wrong_dimension_and_a_missing_file_are_clear(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text("the 1 2\n")
    with pytest.raises(DataError, match=r"v.txt:1: the word 'the' has 2 numbers, but the model's embedding_dim is 3; "
                                        r"set model.embedding_dim to 2"):
        read_vectors(path, ITOS, 3)
    with pytest.raises(DataError, match="word-vector file not found"):
        read_vectors(tmp_path / "none.vec", ITOS, 3)


@pytest.mark.parametrize("freeze", [True, False])
def test_a_model_starts_from_the_vectors(mini_config, tmp_path, freeze, capsys):
    from textclf.artifact import ModelArtifact
    from textclf.config import load_config
    from textclf.text.prepare import prepare_data

    itos = prepare_data(load_config(mini_config)).vocab.itos_
    rng = np.random.default_rng(0)
    chosen = itos[2:200]
    vectors = {w: rng.normal(size=32).round(4) for w in chosen}
    path = tmp_path / "vectors.txt"
    path.write_text("".join(f"{w} {' '.join(map(str, v))}\n" for w, v in vectors.items()))
    run = tmp_path / "run"
    assert main(["train", "--config", str(mini_config), "--run-dir", str(run), "--no-progress", "--set", "train.epochs=1",
                 "--set", f"model.pretrained_vectors={path}", "--set", f"model.freeze_vectors={str(freeze).lower()}"]) == 0
    assert f"pretrained vectors: {len(chosen):,} of {len(itos) - 2:,} vocabulary words found" in capsys.readouterr().out
    weights = ModelArtifact.load(run / "checkpoints" / "best.ckpt").state_dict["embedding.weight"]
    rows = torch.tensor([itos.index(w) for w in chosen])
    expected = torch.tensor(np.array([vectors[w] for w in chosen]), dtype=torch.float32)
    assert torch.allclose(weights[rows], expected) == freeze  # frozen: exactly the file's; else trained on
