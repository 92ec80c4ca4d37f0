import pytest
from pathlib import Path

from conftest import REPO, write_config
from textclf.config import Config, dump_config, load_config
from textclf.errors import ConfigError


def problems_of(path, overrides=None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    return info.value.problems


def test_shipped_configs_load_and_resolve_model_defaults():
    config = load_config(REPO / "configs" / "20newsgroups_bigru.yaml")
    assert config.model.name == "bigru_attention"
    assert config.model.params()["hidden_size"] == 192  # filled in from the model's schema
    lstm = load_config(REPO / "configs" / "20newsgroups_lstm.yaml")
    assert lstm.model.params() == {
        "pretrained_vectors": None, "freeze_vectors": False,  # every model's keys
        "embedding_dim": 128, "hidden_size": 64, "num_layers": 1, "bidirectional": False, "dropout": 0.3,
    }


def test_unknown_key_names_key_line_and_closest_valid_key(tmp_path):
    path = write_config(tmp_path / "c.yaml", "train:\n  epochs: 3\n  lrr: 0.1\n")
    (problem,) = problems_of(path)
    assert f"{path}:3:3" in problem
    assert "train.lrr" in problem and "unknown key" in problem and "did you mean 'lr'" in problem


def test_wrong_type_names_key_and_expected_type(tmp_path):
    path = write_config(tmp_path / "c.yaml", "train:\n  epochs: ten\n")
    (problem,) = problems_of(path)
    assert "train.epochs" in problem and "integer" in problem and "'ten'" in problem
    assert f"{path}:2:3" in problem


def test_all_problems_of_a_file_are_reported_at_once(tmp_path):
    path = write_config(
        tmp_path / "c.yaml",
        "seed: x\ndata:\n  protocol: weekly\npreprocess:\n  min_frq: 2\nmodel:\n  name: bigru_attention\n"
        "  hiden_size: 3\ntrain:\n  lr: -1\n",
    )
    problems = problems_of(path)
    assert len(problems) == 5
    joined = "\n".join(problems)
    for needle in ("seed", "data.protocol", "'random' or 'bydate'", "preprocess.min_frq",
                   "did you mean 'min_freq'", "model.hiden_size", "did you mean 'hidden_size'",
                   "train.lr", "greater than 0"):
        assert needle in joined


def test_unknown_model_lists_valid_names(tmp_path):
    path = write_config(tmp_path / "c.yaml", "model:\n  name: bigru_atention\n")
    (problem,) = problems_of(path)
    assert "unknown model 'bigru_atention'" in problem
    assert "did you mean 'bigru_attention'" in problem and "lstm" in problem
    assert f"{path}:2:3" in problem


def test_each_data_source_checks_its_own_keys(tmp_path):
    """The data section's keys belong to its source: a key of another source is an error that
    names the source that has it; a misspelled one names the closest key; defaults are filled."""
    from textclf.data.files import FilesParams
    from textclf.data.newsgroups import NewsgroupsParams

    path = write_config(tmp_path / "c.yaml", "data:\n  source: files\n  train: a.csv\n  protocol: bydate\n"
                                             "  label_colum: y\n")
    protocol, label = problems_of(path)
    assert f"{path}:4:3" in protocol and "data.protocol: a key of source '20newsgroups', not of 'files'" in protocol
    assert f"{path}:5:3" in label and "did you mean 'label_column'" in label
    config = load_config(write_config(tmp_path / "d.yaml", "data:\n  source: files\n  train: a.csv\n"))
    assert isinstance(config.data.params(), FilesParams) and config.data.text_column == "text"
    assert isinstance(Config().data.params(), NewsgroupsParams) and "text_column" not in Config().data.model_dump()


def test_switching_the_source_with_set_drops_the_files_keys_of_the_old_one(tmp_path):
    path = write_config(tmp_path / "c.yaml", "data:\n  protocol: bydate\n  remove: [headers]\n  cache: false\n")
    config = load_config(path, ["data.source=files", "data.train=a.csv"])
    assert config.data.source == "files" and config.data.cache is False  # a key every source has stays
    assert "protocol" not in config.data.model_dump() and "remove" not in config.data.model_dump()
    # ... but not a key the overrides set themselves
    (problem,) = problems_of(path, ["data.source=files", "data.train=a.csv", "data.protocol=random"])
    assert problem.startswith("--set data.protocol: data.protocol: a key of source '20newsgroups'")


def test_a_config_saved_before_sources_had_their_own_keys_still_loads():
    """Stored configs (checkpoints, run folders) of earlier versions hold every source's keys at
    their defaults: those say nothing and are dropped; a key of another source set to something
    else is still an error."""
    from textclf.config import config_from_dict

    old = {"source": "files", "train": "a.csv", "text_column": "body", "download": False, "url": None,
           "sha256": None, "protocol": "random", "remove": [], "path": None, "subset": None}
    config = config_from_dict({"data": old})
    assert config.data.text_column == "body" and "protocol" not in config.data.model_dump()
    news = config_from_dict({"data": {"protocol": "bydate", "text_column": "text", "encoding": "utf-8"}})
    assert news.data.protocol == "bydate" and "encoding" not in news.data.model_dump()
    with pytest.raises(ConfigError, match="data.protocol: a key of source '20newsgroups'"):
        config_from_dict({"data": {**old, "protocol": "bydate"}})
    # A stored config (a checkpoint's, a run's) trained with every other source's key ignored: they go.
    written = {**old, "download": True, "protocol": "bydate"}  # (--set data.source=files on the 20NG config)
    assert config_from_dict({"data": written}, stored=True).data.text_column == "body"


def test_a_registered_source_brings_its_keys(tmp_path):
    import numpy as np

    from textclf.data import load_corpus, register_source
    from textclf.data.examples import Corpus, Examples
    from textclf.data.sources import SourceParams, _REGISTRY

    class LinesParams(SourceParams):
        repeat: int = 2  # how many times each line is read

    @register_source("lines", LinesParams, fingerprint=lambda params, seed: f"lines|{params.repeat}")
    def load_lines(params: LinesParams, seed: int, task: str) -> Corpus:
        split = Examples(["a", "b"] * params.repeat, np.array([0, 1] * params.repeat))
        return Corpus(["x", "y"], {"train": split, "val": split, "test": split})

    try:
        config = load_config(write_config(tmp_path / "c.yaml", "data:\n  source: lines\n  repeat: 3\n"))
        assert len(load_corpus(config)["train"]) == 6
        (problem,) = problems_of(write_config(tmp_path / "d.yaml", "data:\n  source: lines\n  repeat: many\n"))
        assert "data.repeat" in problem and "integer" in problem
    finally:
        _REGISTRY.remove("lines")


def test_the_readme_config_error_example_is_what_textclf_prints(tmp_path, monkeypatch, capsys):
    """README.md shows the errors of a config with two mistakes: they must be the real ones."""
    from textclf.cli import main

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    shown = [line for line in readme.splitlines() if line.startswith("error: my.yaml:")]
    assert len(shown) == 2
    monkeypatch.chdir(tmp_path)
    Path("my.yaml").write_text("name: x\ntrain:\n  lrr: 0.1\nmodel:\n  name: bigru\n")
    assert main(["train", "--config", "my.yaml"]) == 3
    assert capsys.readouterr().err.splitlines() == shown


def test_overrides_are_typed_and_applied(tmp_path):
    path = write_config(tmp_path / "c.yaml", "name: x\n")
    config = load_config(
        path, ["train.lr=1e-3", "train.epochs=4", "data.remove=[headers, quotes]",
               "model.name=lstm", "model.hidden_size=16", "train.grad_clip=null"]
    )
    assert config.train.lr == pytest.approx(1e-3) and config.train.epochs == 4
    assert config.data.remove == ["headers", "quotes"]
    assert config.model.params()["hidden_size"] == 16
    assert config.train.grad_clip is None


def test_bad_override_is_reported_with_its_origin(tmp_path):
    path = write_config(tmp_path / "c.yaml", "name: x\n")
    (problem,) = problems_of(path, ["train.epochs=many"])
    assert problem.startswith("--set train.epochs") and "integer" in problem
    (problem,) = problems_of(path, ["train.lr"])
    assert "section.key=value" in problem
    (problem,) = problems_of(path, ["name.x=1"])
    assert "'name' is not a section" in problem


def test_malformed_yaml_points_at_line(tmp_path):
    path = write_config(tmp_path / "c.yaml", "train:\n  lr: 0.1\n   epochs: 3\n")
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:3:") and "invalid YAML" in problem


def test_missing_and_non_mapping_configs(tmp_path):
    (problem,) = problems_of(tmp_path / "nope.yaml")
    assert "config file not found" in problem
    path = write_config(tmp_path / "c.yaml", "- a\n- b\n")
    (problem,) = problems_of(path)
    assert "must be a mapping" in problem


def test_resolved_config_round_trips(tmp_path):
    config = load_config(REPO / "configs" / "20newsgroups_lstm.yaml", ["train.epochs=2"])
    path = write_config(tmp_path / "resolved.yaml", dump_config(config))
    again = load_config(path)
    assert again == config
    assert isinstance(again, Config)


def test_relative_data_paths_are_taken_in_the_config_folder(tmp_path, monkeypatch):
    folder = tmp_path / "project" / "configs"
    folder.mkdir(parents=True)
    path = folder / "c.yaml"
    path.write_text("data:\n  source: files\n  train: train.csv\n  cache_dir: ../cache\noutput_dir: runs\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(path)
    assert config.data.train == str(folder / "train.csv")
    assert config.data.cache_dir == str(tmp_path / "project" / "cache")
    assert config.output_dir == "runs"  # runs land where the command runs
    # A value typed on the command line is relative to the working directory.
    assert load_config(path, ["data.train=mine.csv"]).data.train == "mine.csv"
    # With a data location, data files are names inside it.
    path.write_text(f"data:\n  source: files\n  root: {tmp_path}\n  train: train.csv\n")
    assert load_config(path).data.train == "train.csv"


def test_a_config_without_a_model_section_gets_the_default_recipe(tmp_path):
    from textclf.api import resolve_config
    from textclf.config import DEFAULT_RECIPE

    bare = write_config(tmp_path / "bare.yaml", "name: mine\ntrain:\n  epochs: 2\n")
    config = load_config(bare)
    assert config.model.name == "bag_of_ngrams"
    recipe_params = {k: v for k, v in DEFAULT_RECIPE["model"].items() if k != "name"}
    assert {k: config.model.params()[k] for k in recipe_params} == recipe_params
    assert config.train.lr == DEFAULT_RECIPE["train"]["lr"] and config.train.epochs == 2  # the config's own key wins
    assert config.preprocess.max_seq_len == DEFAULT_RECIPE["preprocess"]["max_seq_len"]
    # --set model.* on such a config adjusts the recipe's model (unless it names another model).
    tuned = load_config(bare, ["model.dropout=0.1"])
    assert tuned.model.name == "bag_of_ngrams" and tuned.model.params()["dropout"] == 0.1
    assert resolve_config({"name": "d"}, {"model.dropout": 0.1}).model.params() == tuned.model.params()
    # A config that names a model gets that model's defaults and the sections' own.
    named = load_config(write_config(tmp_path / "named.yaml", "model:\n  name: lstm\n"))
    assert "ngrams" not in named.model.params() and named.train.lr == 0.002 and named.preprocess.max_seq_len == 400
    assert load_config(bare, ["model.name=lstm"]).model.params()["hidden_size"] == 64
    # The saved config of a run reloads to the same model.
    assert load_config(write_config(tmp_path / "saved.yaml", dump_config(config))).model == config.model


def test_label_smoothing_is_for_multiclass_only(tmp_path):
    path = write_config(tmp_path / "c.yaml", "task: multilabel\ntrain:\n  label_smoothing: 0.1\n")
    (problem,) = problems_of(path)
    assert "train.label_smoothing" in problem and "multiclass" in problem
    assert load_config(path, ["task=multiclass"]).train.label_smoothing == 0.1
