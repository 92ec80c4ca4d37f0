"""The imports of src/textclf point one way: down the data flow, never up, and never in a circle.

Layers, lowest first (a module may import its own layer and the ones below):
errors/exports/files/forked/graph_inputs/precision/registry/run_layout/runtime/task ← models ← data ← config ← text ← batching ← artifact ←
inference ← evaluation, reporting, serving ← training ← api, sklearn ← cli.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "textclf"

LAYERS = [
    ("textclf.errors", "textclf.exports", "textclf.files", "textclf.forked", "textclf.graph_inputs", "textclf.precision", "textclf.registry", "textclf.run_layout", "textclf.runtime", "textclf.task"),
    ("textclf.models",),
    ("textclf.data",),
    ("textclf.config", "textclf.config_reference"),
    ("textclf.text",),
    ("textclf.batching",),
    ("textclf.artifact",),
    ("textclf.inference",),
    ("textclf.evaluation", "textclf.reporting", "textclf.serving"),
    ("textclf.training",),
    ("textclf.api", "textclf.sklearn"),
    ("textclf.cli", "textclf.__main__"),
]


def _layer(module: str) -> int | None:
    for rank, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    return None


def _modules() -> dict[str, Path]:
    out = {}
    for path in SRC.rglob("*.py"):
        parts = ["textclf", *path.relative_to(SRC).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(path: Path, module: str, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("textclf")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if base.startswith("textclf"):
                found.add(base)
                found |= {f"{base}.{a.name}" for a in node.names}
    return found


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def test_every_module_has_a_layer():
    assert not [m for m in _modules() if m != "textclf" and _layer(m) is None]


def test_no_module_imports_a_higher_layer():
    modules = _modules()
    upward = []
    for module, path in modules.items():
        if module == "textclf":  # the package's lazy re-exports
            continue
        own = _layer(module)
        for name in _imports(path, module, top_level_only=False):
            target = _resolve(name, modules)
            if target and target != "textclf" and _layer(target) > own:
                upward.append(f"{module} imports {target}")
    assert not upward, "\n".join(sorted(upward))


def test_no_import_cycles_at_module_level():
    modules = _modules()
    graph = {m: {t for n in _imports(p, m, top_level_only=True) if (t := _resolve(n, modules)) and t != m}
             for m, p in modules.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                cycles.append(" → ".join(stack[stack.index(nxt):] + [nxt]))
            elif state.get(nxt) is None:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for m in graph:
        if state.get(m) is None:
            visit(m, [m])
    assert not cycles, "\n".join(cycles)


def test_a_predictor_imports_no_training_code_and_no_heavy_libraries(trained_run):
    code = (
        "import sys, textclf\n"
        f"p = textclf.Predictor.load({str(trained_run / 'checkpoints' / 'best.ckpt')!r})\n"
        "p.predict(['the goalie made forty saves']); p.predict_proba(['nasa'])\n"
        "p.predict(['the goalie made forty saves', 'zzqx nasa'] * 100)  # (encoded by text/fast_encoding.py)\n"
        "import json\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    heavy = [m for m in loaded if m.split(".")[0] in {"tensorboard", "matplotlib", "optuna", "pandas", "sklearn"}
             or m.startswith("textclf.training")]
    assert "textclf.inference.predictor" in loaded
    assert not heavy, heavy


def test_predicting_a_file_imports_neither_scikit_learn_nor_matplotlib_nor_pydantic():
    """``textclf predict`` needs the Predictor and the table reader: the metrics' libraries stay
    out of its process, and so do pydantic and the data sources (a part of its start-up)."""
    code = ("import sys, textclf.evaluation.predict_file, textclf.data.tables\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'matplotlib', 'scipy', 'pydantic'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_loading_a_config_imports_neither_torch_nor_pandas():
    """The data sources' keys are checked when a config loads: their modules must stay light
    (a config error is reported before anything heavy is imported)."""
    code = ("import sys, textclf.config, textclf.data\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'pandas', 'sklearn'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
