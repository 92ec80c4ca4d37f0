"""What ``preprocess.unicode_words`` costs and changes on text that is not ASCII.

    TEXTCLF_DATA=../shared/data python benchmarks/unicode_words.py [--repeat 5] [--write]

The texts are the non-ASCII comments of GoEmotions' training split (emoji, accents, curly quotes,
a few in other scripts), ``--copies`` times. Each tokenizer (``study``, ``wordpunct``) cuts them
with and without the setting (best of ``--repeat``, after one warm-up call that builds the
patterns); the table gives the seconds, the ratio, and how many of the comments change tokens.
ASCII text never takes the Unicode pattern (``text/tokenizers/unicode.py``), so it is left out.
"""

from __future__ import annotations

import argparse

from lib.results import markdown_table, write_section
from lib.timing import best_of


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()

    import pandas as pd

    from textclf.config import DataConfig
    from textclf.data.location import data_location
    from textclf.text.tokenizers import build_tokenizer

    root, _ = data_location(DataConfig())
    frame = pd.read_csv(root / "goemotions" / "train.csv", keep_default_na=False)
    texts = [t for t in frame["text"] if not t.isascii()]
    astral = sum(max(t) > "\uffff" for t in texts)
    batch = texts * args.copies
    rows = []
    for name in ("study", "wordpunct"):
        plain, unicode = build_tokenizer(name), build_tokenizer(name, unicode_words=True)
        unicode("é😀")  # (builds both patterns)
        seconds = {}
        for label, tokenizer in (("without", plain), ("with", unicode)):
            seconds[label], _ = best_of(lambda: [tokenizer(t) for t in batch], args.repeat)
        changed = sum(plain(t) != unicode(t) for t in texts)
        rows.append({"tokenizer": name, "without": seconds["without"], "with": seconds["with"],
                     "ratio": seconds["with"] / seconds["without"], "changed": changed})
    columns = [("tokenizer", "tokenizer", ""), ("without", "s without", ".3f"), ("with", "s with", ".3f"),
               ("ratio", "× without", ".2f"), ("changed", "comments whose tokens change", ",")]
    table = markdown_table(rows, columns)
    intro = (f"GoEmotions' {len(texts):,} non-ASCII training comments ({astral:,} with a character above U+FFFF, "
             f"mostly emoji) ×{args.copies}, best of {args.repeat}; each tokenizer with and without "
             "`preprocess.unicode_words` (lower case on).")
    print(intro)
    print(table)
    if args.write:
        path = write_section("unicode-words", "Unicode's words: cost on non-ASCII text", intro + "\n\n" + table)
        print(f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
