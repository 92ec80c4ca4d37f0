"""Reading the file that ``textclf predict`` is given: pyarrow's CSV reader against pandas'.

    TEXTCLF_DATA=../shared/data python benchmarks/csv_read.py [--copies 3] [--repeats 5] [--write]

20 Newsgroups bydate's test posts, ``--copies`` times, in one CSV (as predict_process.py writes
it). Each row is a fresh process, best of ``--repeats``, that imports its reader and reads every
row's text into a list of str, the way ``textclf predict`` does: ``data.tables.iter_columns``
(pyarrow.csv, what predicting a UTF-8 CSV now reads with) and ``iter_table`` (pandas, what it
read with before; training still does), each in chunks of 10,000 rows; and for reference the
bare readers, ``pandas.read_csv`` and ``pyarrow.csv.read_csv``, with the import alone timed
apart. The texts must come out the same.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from lib import ROOT
from lib.results import markdown_table, write_section

# Each program prints: its import seconds, its read seconds, and a digest of the texts read.
PROGRAMS = {
    "textclf iter_columns (pyarrow.csv)": (
        "from textclf.data.tables import iter_columns, texts_of",
        "texts = [t for c in iter_columns(path, 'utf-8', 10000) for t in texts_of(c, 'text', path)]"),
    "textclf iter_table (pandas)": (
        "from textclf.data.tables import iter_table, texts_of",
        "texts = [t for c in iter_table(path, 'utf-8', 10000) for t in texts_of(c, 'text', path)]"),
    "pandas.read_csv": (
        "import pandas as pd",
        "texts = pd.read_csv(path, dtype=str, keep_default_na=False)['text'].tolist()"),
    "pyarrow.csv.read_csv": (
        "import pyarrow.csv as pc",
        "texts = pc.read_csv(path, parse_options=pc.ParseOptions(newlines_in_values=True))"
        ".column('text').to_pylist()"),
}
TEMPLATE = """import sys, time, hashlib
from pathlib import Path
path = Path(sys.argv[1])
started = time.perf_counter()
{imports}
imported = time.perf_counter()
{read}
done = time.perf_counter()
print(imported - started, done - imported, hashlib.sha256("\\x00".join(texts).encode()).hexdigest())
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()

    from textclf.config import load_config
    from textclf.data import load_corpus

    config = load_config(ROOT / "configs/20newsgroups_default.yaml", ["data.protocol=bydate"])
    texts = list(load_corpus(config)["test"].texts) * args.copies
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "texts.csv"
        pd.DataFrame({"text": texts}).to_csv(source, index=False)
        size = source.stat().st_size
        digests = set()
        for name, (imports, read) in PROGRAMS.items():
            program = TEMPLATE.format(imports=imports, read=read)
            runs = []
            for _ in range(args.repeats):
                out = subprocess.run([sys.executable, "-c", program, str(source)], check=True,
                                     capture_output=True, text=True).stdout.split()
                runs.append((float(out[0]) + float(out[1]), float(out[0]), float(out[1])))
                digests.add(out[2])
            total, imported, read_s = min(runs)
            rows.append({"reader": name, "total": total, "import": imported, "read": read_s,
                         "mb_s": size / 1e6 / read_s})
            print(rows[-1], flush=True)
        if len(digests) != 1:
            raise SystemExit(f"the readers gave different texts ({len(digests)} digests)")
    table = markdown_table(rows, [("reader", "reader", ""), ("total", "import + read s (best)", ".3f"),
                                  ("import", "import s", ".3f"), ("read", "read s", ".3f"),
                                  ("mb_s", "read MB/s", ",.0f")])
    text = (f"20 Newsgroups bydate's test posts ×{args.copies} ({len(texts):,} rows, {size / 1e6:.1f} MB) in one "
            f"CSV; each reader in a fresh process that imports it and reads every text into a list, best of "
            f"{args.repeats} by import + read; the texts read were the same for all. textclf's readers import "
            f"pyarrow or pandas when they first read, so their read seconds hold that import.\n\n{table}")
    print(text)
    if args.write:
        write_section("csv-read", "Reading a file to predict: pyarrow's CSV reader and pandas'", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
