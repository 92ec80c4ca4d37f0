"""What the benchmark scripts share: the data sets (``datasets``), the peers fitted by hand
(``peers``), how each of our systems is configured (``systems``), best-of-N timing (``timing``)
and the RESULTS.md writer (``results``).

A script in ``benchmarks/`` runs as ``python benchmarks/NAME.py``; Python puts its folder first on
the import path, so ``from lib.datasets import ...`` works without touching ``sys.path``.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository
