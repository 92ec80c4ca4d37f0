"""The 20 Newsgroups corpus ("bydate" version): find, download, read and split it.

The archive is read in place (no extraction); an already extracted copy works too. The location
is ``data.root``, overridden by the environment variable ``TEXTCLF_DATA``, defaulting to
``~/.cache/textclf/data``; each may name the archive itself or a folder holding it (or holding the
extracted ``20news-bydate-train/`` and ``20news-bydate-test/`` folders).
"""

from __future__ import annotations

import hashlib
import os
import re
import tarfile
from pathlib import Path
from typing import Literal, Optional

import numpy as np
from pydantic import Field

from textclf.data.examples import Corpus, Examples
from textclf.data.location import ENV_VAR, data_location
from textclf.data.sources import SourceParams, register_source
from textclf.data.splits import split_train_val_test, stratified_split
from textclf.errors import DataError
from textclf.files import atomic_path

__all__ = [
    "NewsgroupsParams",
    "load_newsgroups",
    "newsgroups_fingerprint",
    "locate_archive", "strip_headers", "strip_footers", "strip_quotes"]

ARCHIVE_NAME = "20news-bydate.tar.gz"
# The archive as scikit-learn fetches it, and the checksum scikit-learn records for it
# (data.url and data.sha256 replace them).
ARCHIVE_URL = "https://ndownloader.figshare.com/files/5975967"
ARCHIVE_SHA256 = "8f1b2514ca22a5ade8fbb9cfa5727df95fa587f4c87b786e15c759fa66d95610"
TRAIN_DIR, TEST_DIR = "20news-bydate-train", "20news-bydate-test"


class NewsgroupsParams(SourceParams):
    """``source: 20newsgroups`` (the default): the 20 Newsgroups archive, bydate version."""

    download: bool = False  # true: fetch the archive when data.root / TEXTCLF_DATA has none
    # Where download: true fetches the archive; unset: the canonical one (data/newsgroups.py).
    url: Optional[str] = None
    # The sha256 a downloaded archive must have to be kept; unset: the canonical archive's.
    sha256: Optional[str] = None
    # random: pool train+test, split stratified; bydate: the official chronological split.
    protocol: Literal["random", "bydate"] = "random"
    # Fractions of the pooled data (random). With bydate, test_size is unused and val_size is
    # the fraction of the official training set held out for validation.
    test_size: float = Field(0.1, gt=0, lt=1)
    val_size: float = Field(0.1, gt=0, lt=1)  # see test_size
    remove: list[Literal["headers", "footers", "quotes"]] = []  # parts of each post to strip


def default_data_home() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")).expanduser().absolute() / "textclf" / "data"


# --------------------------------------------------------------------------- locating


def locate_archive(config: NewsgroupsParams) -> Path:
    """Return the archive file or extracted folder to read; download it if allowed."""
    place, origin = data_location(config)
    if place is None:
        place, origin = default_data_home(), "the default data folder"

    found = _find_in(place)
    if found is not None:
        return found
    if config.download:
        target = place if place.suffix == ".gz" else place / ARCHIVE_NAME
        return download_archive(config.url or ARCHIVE_URL, config.sha256 or ARCHIVE_SHA256, target)
    raise DataError(
        f"20 Newsgroups not found at {place} (from {origin}): expected {ARCHIVE_NAME} or the "
        f"folders {TRAIN_DIR}/ and {TEST_DIR}/ there; point data.root or {ENV_VAR} at a copy, "
        f"or set data.download: true to fetch it (14 MB)"
    )


def _find_in(place: Path) -> Path | None:
    if place.is_file():
        return place
    if place.is_dir():
        if (place / TRAIN_DIR).is_dir() and (place / TEST_DIR).is_dir():
            return place
        if (place / ARCHIVE_NAME).is_file():
            return place / ARCHIVE_NAME
    return None


def download_archive(url: str, sha256: str, target: Path) -> Path:
    """Download ``url`` to ``target``, keeping it only if its sha256 matches."""
    # (imported here: urllib.request brings http, email and ssl, a part of every command's start)
    import urllib.request

    from tqdm import tqdm

    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=60) as response, atomic_path(target) as tmp:
            total = int(response.headers.get("Content-Length") or 0) or None
            with open(tmp, "wb") as out, tqdm(
                total=total, unit="B", unit_scale=True, desc=f"downloading {ARCHIVE_NAME}"
            ) as bar:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
            if digest.hexdigest() != sha256:
                raise DataError(
                    f"downloaded {url} but its sha256 is {digest.hexdigest()}, expected {sha256}; "
                    "the file was discarded (check data.url and data.sha256)"
                )
    except OSError as exc:
        raise DataError(
            f"could not download {url}: {exc}; download {ARCHIVE_NAME} by hand and point "
            f"data.root or {ENV_VAR} at it"
        ) from None
    return target


def fingerprint(path: Path) -> str:
    """Cheap identity of the raw data: path, size and modification time."""
    stats = [path.stat()] if path.is_file() else [(path / d).stat() for d in (TRAIN_DIR, TEST_DIR)]
    return f"{path.resolve()}|" + "|".join(f"{s.st_size}:{s.st_mtime_ns}" for s in stats)


# --------------------------------------------------------------------------- reading


def _read_posts(path: Path) -> list[tuple[str, str, str, str]]:
    """(subset, group, post id, text) for every post, ordered by subset, group and file name."""
    posts = []
    if path.is_file():
        try:
            with tarfile.open(path, "r:*") as archive:
                for member in archive:
                    parts = member.name.split("/")
                    if member.isfile() and len(parts) == 3 and parts[0] in (TRAIN_DIR, TEST_DIR):
                        raw = archive.extractfile(member).read()
                        posts.append((parts[0], parts[1], parts[2], raw.decode("latin-1")))
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise DataError(
                f"{path}: not a readable 20 Newsgroups archive ({str(exc).splitlines()[0].rstrip(':')}); "
                "download it again or point data.root at a good copy"
            ) from None
    else:
        for subset in (TRAIN_DIR, TEST_DIR):
            for file in (path / subset).glob("*/*"):
                if file.is_file():
                    text = file.read_bytes().decode("latin-1")
                    posts.append((subset, file.parent.name, file.name, text))
    posts.sort(key=lambda p: (p[0] != TRAIN_DIR, p[1], p[2]))
    if not posts:
        raise DataError(f"{path}: no posts found under {TRAIN_DIR}/ and {TEST_DIR}/")
    return posts


# The same three cleanings as scikit-learn's fetch_20newsgroups(remove=...).
_QUOTE_RE = re.compile(r"(writes in|writes:|wrote:|says:|said:|^In article|^Quoted from|^\||^>)")


def strip_headers(text: str) -> str:
    """Drop everything up to the first blank line (the Usenet headers)."""
    return text.partition("\n\n")[2]


def strip_footers(text: str) -> str:
    """Drop the signature: everything after the last line made only of dashes (or blank)."""
    lines = text.strip().split("\n")
    for cut in range(len(lines) - 1, -1, -1):
        if lines[cut].strip().strip("-") == "":
            break
    return "\n".join(lines[:cut]) if cut > 0 else text


def strip_quotes(text: str) -> str:
    """Drop quoted lines and the attribution lines that introduce them."""
    return "\n".join(line for line in text.split("\n") if not _QUOTE_RE.search(line))


_CLEANERS = {"headers": strip_headers, "footers": strip_footers, "quotes": strip_quotes}


# --------------------------------------------------------------------------- splitting


def newsgroups_fingerprint(config: NewsgroupsParams, seed: int) -> str:
    """Identity of the corpus these settings produce, known without reading the posts."""
    path = locate_archive(config)
    settings = config.model_dump_json(include={"protocol", "test_size", "val_size", "remove"})
    return f"20newsgroups|{fingerprint(path)}|{settings}|seed={seed}"


@register_source("20newsgroups", NewsgroupsParams, fingerprint=newsgroups_fingerprint)
def load_newsgroups(config: NewsgroupsParams, seed: int, task: str = "multiclass") -> Corpus:
    """Read the corpus and split it by ``config.protocol`` (one newsgroup per post, whatever
    the task)."""
    path = locate_archive(config)
    posts = _read_posts(path)
    texts = [p[3] for p in posts]
    for name in ("headers", "footers", "quotes"):  # scikit-learn's order
        if name in config.remove:
            texts = [_CLEANERS[name](t) for t in texts]

    label_names = sorted({p[1] for p in posts})
    index = {name: i for i, name in enumerate(label_names)}
    labels = np.array([index[p[1]] for p in posts], dtype=np.int64)
    is_train = np.array([p[0] == TRAIN_DIR for p in posts])
    everything = Examples(texts, labels)

    if config.protocol == "random":
        train, val, test = split_train_val_test(labels, config.test_size, config.val_size, seed)
    else:
        official_train = np.flatnonzero(is_train)
        test = np.flatnonzero(~is_train)
        train, val = stratified_split(labels[official_train], config.val_size, seed, "bydate train")
        train, val = official_train[train], official_train[val]

    splits = {s: everything.subset(i) for s, i in (("train", train), ("val", val), ("test", test))}
    return Corpus(label_names, splits)
