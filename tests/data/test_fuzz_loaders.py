"""Random bytes, YAML and tables fed to the loaders: a clean TextclfError or a result, never
another exception (which the CLI would show as a traceback)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from textclf.config import DataConfig, load_config
from textclf.data.files import read_labelled
from textclf.errors import TextclfError

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
cells = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


def _in_file(content: bytes, suffix: str, fn):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"f{suffix}"
        path.write_bytes(content)
        try:
            return fn(path)
        except TextclfError:
            return None


@FAST
@given(st.binary(max_size=300), st.sampled_from([".csv", ".tsv", ".json", ".jsonl", ".parquet"]))
def test_random_bytes_as_a_table(content, suffix):
    _in_file(content, suffix, lambda p: read_labelled(p, DataConfig(source="files", train=str(p))))


@FAST
@given(st.lists(st.lists(cells, min_size=1, max_size=4), max_size=8), st.booleans())
def test_random_csv_rows(rows, with_header):
    lines = ([["text", "label"]] if with_header else []) + rows
    content = "\n".join(",".join(json.dumps(c) if "," in c or '"' in c else c for c in row) for row in lines)
    _in_file(content.encode("utf-8", "surrogatepass"), ".csv",
             lambda p: read_labelled(p, DataConfig(source="files", train=str(p))))


@FAST
@given(st.lists(st.dictionaries(st.sampled_from(["text", "label", "id", "x"]),
                                st.one_of(cells, st.integers(), st.none(), st.lists(cells, max_size=2))),
                max_size=6))
def test_random_json_records(records):
    for suffix, content in ((".json", json.dumps(records)), (".jsonl", "\n".join(json.dumps(r) for r in records))):
        _in_file(content.encode(), suffix, lambda p: read_labelled(p, DataConfig(source="files", train=str(p))))


yaml_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True), cells),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.sampled_from(["data", "train", "model", "name", "lr", "seed",
                                                             "epochs", "source", "x"]), inner, max_size=3)),
    max_leaves=10,
)


@FAST
@given(st.one_of(st.binary(max_size=200), yaml_values.map(lambda v: json.dumps(v).encode())))
def test_random_configs(content):
    _in_file(content, ".yaml", load_config)
