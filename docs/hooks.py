"""MkDocs hooks: the pages that are generated from the code and the repository's own files.

- ``index.md``: README.md (the quick start and every command with an example);
- ``commands.md``: the ``--help`` of every command, from textclf's own argument parser;
- ``config.md``: the config reference from the pydantic schema (``textclf.config_reference``);
- ``results.md``: benchmarks/RESULTS.md.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _commands() -> str:
    from textclf.cli import build_parser

    parser = build_parser()
    parser.prog = "textclf"
    (subparsers,) = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    parts = ["```text", parser.format_help().rstrip(), "```"]
    for name, sub in subparsers.choices.items():
        sub.prog = f"textclf {name}"
        parts += [f"## textclf {name}", "", "```text", sub.format_help().rstrip(), "```", ""]
    return "\n".join(parts)


def _shift_headings(text: str) -> str:
    """One level down, so that the page's own title stays the only level-1 heading."""
    return re.sub(r"^(#+) ", lambda m: "#" + m.group(1) + " ", text, flags=re.M)


def on_page_markdown(markdown: str, page, config, files) -> str:
    name = page.file.src_uri
    if name == "index.md":
        return (ROOT / "README.md").read_text(encoding="utf-8")
    if name == "commands.md":
        return markdown.replace("<!-- generated -->", _commands())
    if name == "config.md":
        from textclf.config_reference import config_reference

        return markdown.replace("<!-- generated -->", config_reference())
    if name == "results.md":
        results = (ROOT / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8")
        return markdown.replace("<!-- generated -->", _shift_headings(results.split("\n", 1)[1]))
    return markdown
