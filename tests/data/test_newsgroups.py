import hashlib
import http.server
import threading
from functools import partial

import numpy as np
import pytest
from sklearn.datasets import _twenty_newsgroups as sk

from conftest import MINI_GROUPS, real_archive
from textclf.config import Config, DataConfig
from textclf.data import load_corpus
from textclf.data.newsgroups import (
    locate_archive,
    strip_footers,
    strip_headers,
    strip_quotes,
)
from textclf.errors import DataError


def full_config(protocol: str) -> Config:
    return Config(data=DataConfig(root=str(real_archive()), protocol=protocol))


def test_random_protocol_has_the_study_counts_and_is_stratified():
    corpus = load_corpus(full_config("random"))
    sizes = {s: len(corpus[s]) for s in ("train", "val", "test")}
    assert sizes == {"train": 15076, "val": 1885, "test": 1885}
    assert len(corpus.label_names) == 20
    shares = [np.bincount(corpus[s].labels, minlength=20) / len(corpus[s]) for s in sizes]
    assert np.abs(shares[0] - shares[2]).max() < 0.002
    # Seeded: the same split twice.
    again = load_corpus(full_config("random"))
    assert again["test"].texts[:5] == corpus["test"].texts[:5]


def test_bydate_protocol_keeps_the_official_test_set():
    corpus = load_corpus(full_config("bydate"))
    assert len(corpus["test"]) == 7532
    assert len(corpus["train"]) + len(corpus["val"]) == 11314
    assert len(corpus["val"]) == 1132  # 10 % of the official training set, rounded up
    counts = np.bincount(np.concatenate([corpus["train"].labels, corpus["val"].labels]))
    assert counts[corpus.label_names.index("talk.religion.misc")] == 377
    assert counts[corpus.label_names.index("rec.sport.hockey")] == 600


def test_env_var_overrides_root_and_folder_or_extracted_copy_work(tmp_path, monkeypatch, mini_archive):
    config = Config(data=DataConfig(root=str(tmp_path / "elsewhere"), protocol="bydate"))
    monkeypatch.setenv("TEXTCLF_DATA", str(mini_archive.parent))  # a folder holding the archive
    assert locate_archive(config.data) == mini_archive
    corpus = load_corpus(config)
    assert corpus.label_names == sorted(MINI_GROUPS)
    # An extracted copy reads the same posts.
    import tarfile

    with tarfile.open(mini_archive) as archive:
        archive.extractall(tmp_path / "extracted", filter="data")
    monkeypatch.setenv("TEXTCLF_DATA", str(tmp_path / "extracted"))
    extracted = load_corpus(config)
    assert extracted["test"].texts == corpus["test"].texts


def test_missing_archive_says_where_it_looked_and_how_to_fix(tmp_path):
    config = DataConfig(root=str(tmp_path / "nowhere"))
    with pytest.raises(DataError) as info:
        locate_archive(config)
    (message,) = info.value.problems
    assert str(tmp_path / "nowhere") in message and "data.root" in message
    assert "TEXTCLF_DATA" in message and "data.download" in message


@pytest.mark.parametrize("name", ["headers", "footers", "quotes"])
def test_remove_matches_scikit_learn(name):
    ours = {"headers": strip_headers, "footers": strip_footers, "quotes": strip_quotes}[name]
    theirs = {
        "headers": sk.strip_newsgroup_header,
        "footers": sk.strip_newsgroup_footer,
        "quotes": sk.strip_newsgroup_quoting,
    }[name]
    corpus = load_corpus(full_config("bydate"))
    texts = corpus["train"].texts[:400]
    assert [ours(t) for t in texts] == [theirs(t) for t in texts]


def test_remove_option_is_applied(mini_archive):
    plain = load_corpus(Config(data=DataConfig(root=str(mini_archive), protocol="bydate")))
    stripped = load_corpus(
        Config(data=DataConfig(root=str(mini_archive), protocol="bydate", remove=["headers"]))
    )
    assert plain["test"].texts[0].startswith("From:")
    assert not stripped["test"].texts[0].startswith("From:")
    assert stripped["test"].texts[0] == strip_headers(plain["test"].texts[0])


@pytest.fixture
def served(tmp_path, mini_archive):
    """A local HTTP server that serves the mini archive (no network involved)."""
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(mini_archive.parent))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{mini_archive.name}"
    server.shutdown()


def test_download_checks_the_checksum(tmp_path, served, mini_archive):
    good = hashlib.sha256(mini_archive.read_bytes()).hexdigest()
    target = tmp_path / "home"
    config = DataConfig(root=str(target), download=True, url=served, sha256="0" * 64)
    with pytest.raises(DataError, match="sha256"):
        locate_archive(config)
    assert not any(target.glob("*"))  # nothing half-written or wrong left behind
    config = DataConfig(root=str(target), download=True, url=served, sha256=good)
    path = locate_archive(config)
    assert path == target / "20news-bydate.tar.gz" and path.read_bytes() == mini_archive.read_bytes()
