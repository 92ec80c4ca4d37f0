"""Would a greedy ensemble of the default's trained candidates beat the one the selection keeps?

    TEXTCLF_DATA=../shared/data python benchmarks/candidate_ensemble.py --datasets sms_spam,20news-bydate

Each of ``config/default_recipe.py``'s candidates trains as the selection trains it, on a
``peers.py`` data set read as its ``default`` system reads it. On the validation split, the best
single candidate (by accuracy) is compared with a greedy ensemble (Caruana et al. 2004: add, with
replacement, the candidate whose probabilities raise the mean's validation accuracy most; stop
when none does). The line printed per data set gives both choices' validation and test
accuracy, the mean of all four and each candidate's test accuracy. The choice is made on
validation only; the test column reports what it would have given. (The selection itself now
keeps such an ensemble, grown from its winner and guarded by the noise rule:
``training/ensemble.py``; this script is the unguarded what-if, from an empty start.)
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import tempfile
from pathlib import Path

import numpy as np


from lib.systems import system_config


def greedy(probabilities: dict[str, np.ndarray], labels: np.ndarray, rounds: int = 10) -> tuple[list[str], float]:
    """The members (names, with repeats) and the validation accuracy of the greedy ensemble."""
    chosen, best, total = [], -1.0, None
    for _ in range(rounds):
        scores = {name: (((p if total is None else total + p) / (len(chosen) + 1)).argmax(1) == labels).mean()
                  for name, p in probabilities.items()}
        name = max(scores, key=scores.get)
        if chosen and scores[name] <= best:
            break
        best, total = scores[name], probabilities[name] if total is None else total + probabilities[name]
        chosen.append(name)
    return chosen, float(best)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="sms_spam,20news-subjects,goemotions-single,20news-bydate")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from textclf.data import load_corpus
    from textclf.inference import Predictor
    from textclf.run_layout import RunLayout
    from textclf.text.prepare import prepare_data
    from textclf.training import train
    from textclf.config import CANDIDATES
    from textclf.training.select import candidate_config

    for dataset in args.datasets.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["TEXTCLF_CACHE"] = str(Path(tmp) / "cache")
            base = system_config("default", dataset, Path(tmp), [f"train.num_threads={args.threads}"])
            corpus = load_corpus(base)
            val, test = {}, {}
            for candidate in CANDIDATES:
                config = candidate_config(base, candidate)
                with contextlib.redirect_stdout(io.StringIO()):
                    result = train(config, run_dir=Path(tmp) / candidate.name, prepared=prepare_data(config),
                                   progress=False, final_evaluation=False, resumable=False, refit=False)
                predictor = Predictor.load(RunLayout(result.run_dir).best_checkpoint)
                val[candidate.name] = predictor.predict_proba(corpus["val"].texts)
                test[candidate.name] = predictor.predict_proba(corpus["test"].texts)
            y_val, y_test = np.asarray(corpus["val"].labels), np.asarray(corpus["test"].labels)

            def accuracy(p, y):
                return 100 * float((p.argmax(1) == y).mean())

            single = max(val, key=lambda name: accuracy(val[name], y_val))
            members, ensemble_val = greedy(val, y_val)
            ensemble_test = sum(test[name] for name in members) / len(members)
            print(f"{dataset}: best single {single} val {accuracy(val[single], y_val):.2f} test "
                  f"{accuracy(test[single], y_test):.2f} | greedy {members} val {100 * ensemble_val:.2f} test "
                  f"{accuracy(ensemble_test, y_test):.2f} | mean of all test "
                  f"{accuracy(sum(test.values()) / len(test), y_test):.2f} | "
                  + " ".join(f"{name} {accuracy(p, y_test):.2f}" for name, p in test.items()), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
