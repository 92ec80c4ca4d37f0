"""The documentation site: its config reference comes from the schema, and it builds strictly."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from pydantic import BaseModel

from conftest import REPO
from textclf.config import Config, ModelConfig
from textclf.config_reference import config_reference
from textclf.data.sources import get_source, list_sources
from textclf.models.registry import list_models, params_class


def _keys(cls: type[BaseModel], prefix: str = ""):
    for name, field in cls.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel) and annotation is not ModelConfig:
            yield from _keys(annotation, f"{prefix}{name}.")
        elif annotation is not ModelConfig:
            yield f"{prefix}{name}", field


def test_the_config_reference_lists_every_key_with_its_default():
    reference = config_reference()
    rows = {line.split("|")[1].strip(): line for line in reference.splitlines() if line.startswith("| `")}
    keys = list(_keys(Config))
    for source in list_sources():  # each source's keys, in the data section
        keys += [(key, field) for key, field in _keys(get_source(source).params, "data.") if key not in dict(keys)]
    assert len(keys) > 60
    for key, field in keys:
        row = rows[f"`{key}`"]
        default = field.get_default(call_default_factory=True)
        shown = "none" if default is None else json.dumps(default).replace("|", "\\|")
        assert shown in row, (key, row)
    for model in list_models():
        section = reference.split(f"### `{model}`", 1)[1].split("###", 1)[0]
        for name, field in params_class(model).model_fields.items():
            shown = ("required" if field.is_required() else "none" if field.default is None
                     else json.dumps(field.default))
            assert f"| `model.{name}` |" in section and shown in section, (model, name)
    # The comments written in config.py are the meanings.
    assert "the monitored F1" in rows["`train.threshold`"]
    assert "the training table" in reference.split("### source `files`", 1)[1].split("###", 1)[0]
    assert "word2vec" in reference.split("### `lstm`", 1)[1].split("###", 1)[0]  # a base class's comment


def test_the_site_builds_strictly(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)], cwd=REPO,
                          capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "train.threshold" in (site / "config" / "index.html").read_text()
    assert "textclf serve" in (site / "commands" / "index.html").read_text()
    assert "predict_proba" in (site / "api" / "index.html").read_text()
    assert "GoEmotions" in (site / "results" / "index.html").read_text()
