"""benchmarks/RESULTS.md: one section per benchmark script, each rewritten only by its script.

A section sits between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``; a script that runs
again replaces its own section and leaves the others as they are. Every section starts with the
command that produced it and the machine it ran on.
"""

from __future__ import annotations

import datetime
import os
import platform
import re
import sys
import tempfile
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parents[1] / "RESULTS.md"
HEADER = (
    "# Benchmark results\n\n"
    "Every section below is written by the script named in it; rerun that command to regenerate\n"
    "it. Nothing here is typed in by hand.\n"
)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no GPU"
    return (f"{cpu}, {os.cpu_count()} logical cores{gpu}; Python {platform.python_version()}, "
            f"torch {torch.__version__}, torch threads {torch.get_num_threads()}")


def command() -> str:
    """How to rerun this process from the repository root (wherever it was started from)."""
    args = " ".join(sys.argv[1:])
    script = Path(sys.argv[0]).resolve()
    root = Path(__file__).resolve().parents[2]
    script = script.relative_to(root).as_posix() if script.is_relative_to(root) else script.as_posix()
    return f"TEXTCLF_DATA=../shared/data python {script}" + (f" {args}" if args else "")


def write_section(name: str, title: str, body: str, measured: tuple[str, str, str] | None = None) -> Path:
    """Replace (or append) section ``name`` of RESULTS.md, atomically. ``measured``: the
    (command, machine, date) of rows measured elsewhere (another machine), instead of this
    process's own."""
    run, where, when = measured or (command(), machine(), datetime.date.today().isoformat())
    section = (
        f"<!-- {name}:start -->\n## {title}\n\n"
        f"Command: `{run}`  \nMachine: {where}  \nDate: {when}\n\n{body.strip()}\n"
        f"<!-- {name}:end -->"
    )
    text = RESULTS.read_text() if RESULTS.exists() else HEADER
    pattern = re.compile(rf"<!-- {re.escape(name)}:start -->.*?<!-- {re.escape(name)}:end -->", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip() + "\n\n" + section
    fd, tmp = tempfile.mkstemp(dir=RESULTS.parent, prefix=".RESULTS.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text.rstrip() + "\n")
    os.replace(tmp, RESULTS)
    return RESULTS


def markdown_table(rows: list[dict], columns: list[tuple[str, str, str]]) -> str:
    """``columns``: (key, header, format spec); a missing value prints as an em dash."""
    lines = ["| " + " | ".join(h for _, h, _ in columns) + " |",
             "|" + "|".join("---" if i == 0 else "--:" for i in range(len(columns))) + "|"]
    for row in rows:
        cells = []
        for key, _, spec in columns:
            value = row.get(key)
            cells.append("—" if value is None else format(value, spec))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
