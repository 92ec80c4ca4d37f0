"""The benchmark data sets: the shared ones as they are, and sets derived from them at run time.

Each name maps to a title and the config overrides that read it (on top of a config whose data
section reads the 20 Newsgroups archive, configs/20newsgroups_default.yaml). A derived set is
written as CSV files into a folder the caller gives (a temporary one): ``overrides(name, folder)``
writes it if needed and returns the overrides either way.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from lib import ROOT

__all__ = ["DATASETS", "DERIVED", "NEWSGROUPS_CONFIG", "overrides", "labelled", "goemotions_single_label",
           "newsgroups_small", "newsgroups_subjects",
           "newsgroups_coarse"]

# The config whose data section reads the 20 Newsgroups archive.
NEWSGROUPS_CONFIG = "configs/20newsgroups_default.yaml"
DATASETS = {
    "20news-random": ("20 Newsgroups, the study's random 80/10/10 split (headers kept)", []),
    "20news-bydate": ("20 Newsgroups, the official bydate split (train's last 10 % is val)",
                      ["data.protocol=bydate"]),
    "sms_spam": ("SMS spam (13 % spam), stratified 70/10/20",
                 ["data.source=files", "data.train=sms_spam.csv", "data.test_size=0.2", "data.val_size=0.1"]),
    # Single-label sets derived from the shared multi-label GoEmotions (short Reddit comments),
    # on its published train/dev/test split: data nobody tuned the defaults on.
    "goemotions-sentiment": ("GoEmotions sentiment (positive/negative/ambiguous/neutral, the "
                             "paper's grouping; comments whose labels fall in one group)", []),
    "goemotions-single": ("GoEmotions, the 28 classes of the comments that have exactly one", []),
    # Binary sentence sentiment (like a one-sentence review set): the comments of the sentiment
    # set whose group is positive or negative.
    "goemotions-polarity": ("GoEmotions polarity (the positive and negative comments of the sentiment set)", []),
    # Small and long, like a set of a few thousand news articles: 445 posts (headers removed)
    # from each of 5 unrelated newsgroups, stratified 70/10/20.
    "20news-5small": ("20 Newsgroups, 5 unrelated groups × 445 posts without headers, stratified 70/10/20",
                      []),
    # Little data in many classes, like a small hand-labelled set: 50 posts (headers removed) from
    # each of the 20 groups, stratified 70/10/20 (5 validation posts a class).
    "20news-few": ("20 Newsgroups, 20 groups × 50 posts without headers, stratified 70/10/20", []),
    # Short texts in many classes: each post's subject line (a few words), 20 groups, bydate.
    "20news-subjects": ("20 Newsgroups subject lines only (20 classes, a few words each), bydate split", []),
    # Shaped like a small set of short questions: a few words, 6 coarse classes of unequal size,
    # 5,452 training texts and a 500-text test set given as files (val: 10 % of train).
    "20news-subjects6": ("20 Newsgroups subject lines in 6 coarse topics, 5,452 train / 500 test texts (bydate)",
                         []),
    # Shaped like a news set of titles with their lead: the subject line and the first 30 words
    # the author wrote (no headers, quotes or signatures), 4 coarse topics × 1,900, 80/20
    # (val: 10 % of train).
    "20news-lead4": ("20 Newsgroups subject + first 30 words of the author's text, 4 coarse topics × 1,900, "
                     "stratified 70/10/20", []),
}
# The coarse topics of 20news-subjects6 and 20news-lead4: a group's topic is the first of these
# its name starts with (None: the group is left out).
COARSE = {"comp.": "computers", "rec.": "recreation", "sci.": "science", "talk.politics.": "politics",
          "alt.atheism": "religion", "soc.religion.": "religion", "talk.religion.": "religion",
          "misc.forsale": "forsale"}
LEAD_TOPICS = ["computers", "recreation", "science", "politics"]
SUBJECTS6_SIZES = (5452, 500)  # 20news-subjects6: training and test texts
LEAD_PER_TOPIC = 1900  # 20news-lead4: texts of each topic
FEW_PER_GROUP = 50  # 20news-few: posts of each group
SMALL_GROUPS = ["comp.graphics", "rec.autos", "sci.med", "soc.religion.christian", "talk.politics.guns"]
# The paper's grouping of GoEmotions' 27 emotions (and neutral) by sentiment.
SENTIMENT = {
    "positive": "admiration amusement approval caring desire excitement gratitude joy love optimism "
                "pride relief",
    "negative": "anger annoyance disappointment disapproval disgust embarrassment fear grief "
                "nervousness remorse sadness",
    "ambiguous": "confusion curiosity realization surprise",
    "neutral": "neutral",
}


def goemotions_single_label(dataset: str, folder: Path) -> list[str]:
    """Write ``dataset``'s train/val/test CSVs (text,label) from the shared GoEmotions into
    ``folder``; the config overrides that read them."""
    import pandas as pd

    from textclf.config import DataConfig
    from textclf.data.location import data_location

    group = {emotion: name for name, emotions in SENTIMENT.items() for emotion in emotions.split()}
    root, _ = data_location(DataConfig())
    source = (root or Path.cwd()) / "goemotions"
    for split in ("train", "dev", "test"):
        frame = pd.read_csv(source / f"{split}.csv", keep_default_na=False)
        labels = frame["labels"].str.split("|")
        if dataset in ("goemotions-sentiment", "goemotions-polarity"):
            labels = labels.map(lambda row: {group[label] for label in row})
        keep = labels.map(len) == 1
        if dataset == "goemotions-polarity":
            keep &= labels.map(lambda row: min(row) in ("positive", "negative"))
        out = pd.DataFrame({"text": frame["text"][keep], "label": labels[keep].map(lambda row: min(row))})
        out.to_csv(folder / f"{split}.csv", index=False)
    return ["data.source=files", f"data.train={folder / 'train.csv'}", f"data.val={folder / 'dev.csv'}",
            f"data.test={folder / 'test.csv'}"]


def newsgroups_small(dataset: str, folder: Path) -> list[str]:
    """Write 20news-5small's or 20news-few's one CSV (text,label) into ``folder``; the overrides
    that read it."""
    import pandas as pd

    from textclf.config import load_config
    from textclf.data import load_corpus

    corpus = load_corpus(load_config(ROOT / NEWSGROUPS_CONFIG, ["data.remove=[headers]"]))
    texts = [t for split in corpus.splits.values() for t in split.texts]
    labels = [corpus.label_names[i] for split in corpus.splits.values() for i in split.labels]
    frame = pd.DataFrame({"text": texts, "label": labels})
    frame = frame[frame["text"].str.strip() != ""]
    if dataset == "20news-5small":
        frame = frame[frame["label"].isin(SMALL_GROUPS)].groupby("label").sample(445, random_state=0)
    else:
        frame = frame.groupby("label").sample(FEW_PER_GROUP, random_state=0)
    frame.to_csv(folder / "small.csv", index=False)
    return ["data.source=files", f"data.train={folder / 'small.csv'}", "data.test_size=0.2",
            "data.val_size=0.1"]


_SUBJECT = re.compile(r"^Subject:[ \t]*(?:(?:re|fwd?):[ \t]*)*(.*)$", re.IGNORECASE | re.MULTILINE)


def _subject(text: str) -> str:
    """A post's subject line without its Re:/Fwd: prefixes ("" when it has none)."""
    found = _SUBJECT.search(text)
    return found.group(1).strip() if found else ""


def newsgroups_subjects(dataset: str, folder: Path) -> list[str]:
    """Write 20news-subjects' CSVs (text,label): each post's subject line alone, on the bydate
    split (train's last 10 % as val, as the default config does); the overrides that read them."""
    import pandas as pd

    from textclf.config import load_config
    from textclf.data import load_corpus

    corpus = load_corpus(load_config(ROOT / NEWSGROUPS_CONFIG, ["data.protocol=bydate"]))
    paths = []
    for split in ("train", "val", "test"):
        part = corpus[split]
        frame = pd.DataFrame({"text": [_subject(text) for text in part.texts],
                              "label": [corpus.label_names[i] for i in part.labels]})
        frame = frame[frame["text"] != ""]
        frame.to_csv(folder / f"subjects_{split}.csv", index=False)
        paths.append(f"data.{split}={folder / f'subjects_{split}.csv'}")
    return ["data.source=files", *paths]


def _coarse(group: str) -> str | None:
    return next((topic for prefix, topic in COARSE.items() if group.startswith(prefix)), None)


def _lead(text: str, words: int = 30) -> str:
    """The first ``words`` words the author wrote: the body after the headers, without quoted
    lines, attribution lines ("... writes:") and anything after a signature marker."""
    body = text.split("\n\n", 1)[1] if "\n\n" in text else ""
    kept = []
    for line in body.splitlines():
        stripped = line.strip()
        if stripped in ("--", "-- "):
            break
        if not stripped or stripped.startswith((">", "|", ":")) or stripped.endswith(("writes:", "wrote:")):
            continue
        kept += stripped.split()
        if len(kept) >= words:
            break
    return " ".join(kept[:words])


def newsgroups_coarse(dataset: str, folder: Path) -> list[str]:
    """Write 20news-subjects6's train/test CSVs or 20news-lead4's one CSV (text,label) into
    ``folder``, from the bydate archive (headers kept); the overrides that read them."""
    import pandas as pd

    from textclf.config import load_config
    from textclf.data import load_corpus

    corpus = load_corpus(load_config(ROOT / NEWSGROUPS_CONFIG, ["data.protocol=bydate"]))
    frames = {}
    for split in ("train", "val", "test"):
        part = corpus[split]
        topics = [_coarse(corpus.label_names[i]) for i in part.labels]
        if dataset == "20news-subjects6":
            texts = [_subject(text) for text in part.texts]
        else:
            texts = [" ".join(filter(None, (_subject(text), _lead(text)))) for text in part.texts]
        frame = pd.DataFrame({"text": texts, "label": topics})
        frames[split] = frame[frame["label"].notna() & (frame["text"] != "")]
    if dataset == "20news-subjects6":
        n_train, n_test = SUBJECTS6_SIZES
        train = pd.concat([frames["train"], frames["val"]]).sample(n_train, random_state=0)
        train.to_csv(folder / "train.csv", index=False)
        frames["test"].sample(n_test, random_state=0).to_csv(folder / "test.csv", index=False)
        return ["data.source=files", f"data.train={folder / 'train.csv'}", f"data.test={folder / 'test.csv'}",
                "data.val_size=0.1"]
    every = pd.concat(frames.values())
    every = every[every["label"].isin(LEAD_TOPICS)].groupby("label").sample(LEAD_PER_TOPIC, random_state=0)
    every.to_csv(folder / "lead.csv", index=False)
    return ["data.source=files", f"data.train={folder / 'lead.csv'}", "data.test_size=0.2", "data.val_size=0.1"]


# Data sets written at run time (into the run's temporary folder): name -> (name, folder) -> the
# config overrides that read them.
DERIVED = {"goemotions-sentiment": goemotions_single_label, "goemotions-single": goemotions_single_label,
           "goemotions-polarity": goemotions_single_label,
           "20news-5small": newsgroups_small, "20news-few": newsgroups_small, "20news-subjects": newsgroups_subjects,
           "20news-subjects6": newsgroups_coarse, "20news-lead4": newsgroups_coarse}


def overrides(dataset: str, folder: Path) -> list[str]:
    """The config overrides that read ``dataset`` (a derived one is written into ``folder``)."""
    derive = DERIVED.get(dataset)
    return derive(dataset, folder) if derive else list(DATASETS[dataset][1])


def labelled(corpus):
    """Train and val of ``corpus`` as one set of examples: what a peer fitted by hand trains on."""
    from textclf.data.examples import Examples

    train, val = corpus["train"], corpus["val"]
    return Examples(train.texts + val.texts, np.concatenate([train.labels, val.labels]))
