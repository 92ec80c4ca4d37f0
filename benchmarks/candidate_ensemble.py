"""Which way of combining the default's trained candidates generalises best, judged on validation only?

    TEXTCLF_DATA=../shared/data python benchmarks/candidate_ensemble.py \
        --datasets sms_spam,20news-subjects6,20news-lead4 [--halvings 50] [--write]

Each of ``config/default_recipe.py``'s candidates trains as the selection trains it, on a
``peers.py`` data set read as its ``default`` system reads it (multiclass sets). Then the
validation split is cut in two halves at random, ``--halvings`` times: each rule below chooses
on one half (temperatures fitted there too) and is scored on the other, and the other way round.
The mean over those held-out halves is an estimate of how each rule's choice does on documents
it did not choose on, with no look at the test split:

- ``selection``: what the default's selection keeps (``training/select.py``: the winner among
  the candidates level on accuracy within the noise of a paired comparison, by calibrated
  log-loss; then its guarded greedy ensemble, ``training/ensemble.py``);
- ``single``: the best candidate by accuracy (ties: the lower calibrated log-loss);
- ``greedy_accuracy``: from that one, Caruana et al. (2004)'s greedy forward selection with
  replacement, a step taken only when it raises the accuracy (the selection's rule before
  this study);
- ``greedy_lexical``: the same, a step also taken when it keeps the accuracy and lowers the
  log-loss;
- ``greedy_loss``: the same steps, taken when they lower the calibrated log-loss of the mean (a
  smoother target than accuracy on a few hundred documents);
- ``mean_all``: the mean of every candidate, chosen on nothing;
- ``mean_level``: the plain mean of the candidates level on accuracy with the most accurate one
  (within the noise of their paired difference, the selection's rule), alone when none is: when
  the split cannot tell them apart, average rather than pick.

The test column is each rule applied to the whole validation split and scored on test, for
reference only. ``--write`` replaces the candidate-ensemble section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import tempfile
from pathlib import Path

import numpy as np

from lib.results import write_section
from lib.systems import system_config

RULES = ["selection", "single", "greedy_accuracy", "greedy_lexical", "greedy_loss", "mean_all", "mean_level"]


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def _accuracy(p: np.ndarray, y: np.ndarray) -> float:
    from textclf.training.ensemble import ensemble_score

    return ensemble_score(p, y, "val_accuracy")


def _loss(p: np.ndarray, y: np.ndarray) -> float:
    from textclf.training.ensemble import ensemble_score

    return -ensemble_score(p, y, "val_loss")


def choose(rule: str, probabilities: dict[str, np.ndarray], y: np.ndarray) -> dict[str, int]:
    """How many times each candidate enters the mean under ``rule``, chosen on ``probabilities`` (calibrated)."""
    from textclf.training.ensemble import GREEDY_ROUNDS, greedy_ensemble

    if rule == "mean_all":
        return dict.fromkeys(probabilities, 1)
    if rule == "selection":
        return _selection(probabilities, y)
    single = max(probabilities, key=lambda n: (_accuracy(probabilities[n], y), -_loss(probabilities[n], y)))
    if rule == "single":
        return {single: 1}
    if rule == "mean_level":
        from textclf.training.ensemble import level_within_noise

        right = {name: p.argmax(1) == y for name, p in probabilities.items()}
        return {name: 1 for name in probabilities if level_within_noise(right[single], right[name])}
    if rule != "greedy_lexical":  # the selection's greedy step, on accuracy or on the loss
        return greedy_ensemble(probabilities, y, single, "val_loss" if rule == "greedy_loss" else "val_accuracy")
    counts, total = {single: 1}, probabilities[single].copy()

    def target(mean):
        return _accuracy(mean, y), -_loss(mean, y)

    best = target(total)
    for _ in range(GREEDY_ROUNDS):
        n = sum(counts.values()) + 1
        trials = {name: target((total + p) / n) for name, p in probabilities.items()}
        name = max(trials, key=trials.get)
        if trials[name] <= best:
            break
        best, total = trials[name], total + probabilities[name]
        counts[name] = counts.get(name, 0) + 1
    return counts


def _selection(probabilities: dict[str, np.ndarray], y: np.ndarray) -> dict[str, int]:
    """The default selection's own choice (its functions, on these calibrated probabilities)."""
    from textclf.training.ensemble import greedy_ensemble, worth_keeping
    from textclf.training.select import _rank

    rows = [{"candidate": n, "status": "trained", "val_score": _accuracy(p, y), "val_loss": _loss(p, y),
             "_correct": p.argmax(1) == y} for n, p in probabilities.items()]
    winner = _rank(rows, "val_accuracy")
    lead = next(r for r in rows if r["candidate"] == winner)
    counts = greedy_ensemble(probabilities, y, winner, "val_accuracy")
    if len(counts) > 1 and worth_keeping(_mean(counts, probabilities), y, "val_accuracy", lead["_correct"],
                                         lead["val_loss"]):
        return counts
    return {winner: 1}


def _mean(counts: dict[str, int], probabilities: dict[str, np.ndarray]) -> np.ndarray:
    return sum(probabilities[n] * c for n, c in counts.items()) / sum(counts.values())


def halves_study(val_logits: dict[str, np.ndarray], y: np.ndarray, halvings: int, seed: int = 0) -> dict[str, float]:
    """Each rule's mean accuracy on held-out validation halves (chosen on the other half)."""
    from textclf.evaluation.calibration import fit_temperature

    rng = np.random.default_rng(seed)
    scores = {rule: [] for rule in RULES}
    for _ in range(halvings):
        order = rng.permutation(len(y))
        parts = (order[: len(y) // 2], order[len(y) // 2:])
        for a, b in (parts, parts[::-1]):
            temps = {n: fit_temperature(l[a], y[a]) for n, l in val_logits.items()}
            on_a = {n: _softmax(l[a] / temps[n]) for n, l in val_logits.items()}
            on_b = {n: _softmax(l[b] / temps[n]) for n, l in val_logits.items()}
            for rule in RULES:
                scores[rule].append(_accuracy(_mean(choose(rule, on_a, y[a]), on_b), y[b]))
    return {rule: 100 * float(np.mean(s)) for rule, s in scores.items()}


def _train_candidates(dataset: str, threads: int):
    """Each candidate trained on ``dataset``'s train split: (val logits, test logits) by name, and
    the val and test labels."""
    from textclf.config import CANDIDATES
    from textclf.data import load_corpus
    from textclf.inference import Predictor
    from textclf.run_layout import RunLayout
    from textclf.text.prepare import prepare_data
    from textclf.training import train
    from textclf.training.select import candidate_config

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TEXTCLF_CACHE"] = str(Path(tmp) / "cache")
        base = system_config("default", dataset, Path(tmp), [f"train.num_threads={threads}"])
        corpus = load_corpus(base)
        val, test = {}, {}
        for candidate in CANDIDATES:
            config = candidate_config(base, candidate)
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                result = train(config, run_dir=Path(tmp) / candidate.name, prepared=prepare_data(config),
                               progress=False, final_evaluation=False, resumable=False, refit=False)
            predictor = Predictor.load(RunLayout(result.run_dir).best_checkpoint)
            for split, into in (("val", val), ("test", test)):
                into[candidate.name] = predictor.log_proba_encoded(predictor.encode(corpus[split].texts),
                                                                   calibrated=False)
        return val, test, np.asarray(corpus["val"].labels), np.asarray(corpus["test"].labels)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="sms_spam,20news-subjects,20news-subjects6,20news-lead4,20news-5small,"
                                              "goemotions-polarity,goemotions-sentiment")
    parser.add_argument("--halvings", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--logits", type=Path, metavar="DIR",
                        help="keep each set's val/test logits in DIR/<set>.npz and reuse them when there")
    args = parser.parse_args()

    from textclf.evaluation.calibration import fit_temperature

    lines = ["| data set | val docs | " + " | ".join(f"{r} (held-out halves) %" for r in RULES)
             + " | " + " | ".join(f"{r} (test) %" for r in RULES) + " | chosen on all of val by greedy_loss |",
             "|---|--:|" + "--:|" * (2 * len(RULES)) + "---|"]
    means = []
    for dataset in args.datasets.split(","):
        stored = args.logits / f"{dataset}.npz" if args.logits else None
        if stored and stored.exists():
            with np.load(stored) as saved:
                names = [k[4:] for k in saved.files if k.startswith("val_")]
                val, test = {n: saved[f"val_{n}"] for n in names}, {n: saved[f"test_{n}"] for n in names}
                y_val, y_test = saved["y_val"], saved["y_test"]
        else:
            val, test, y_val, y_test = _train_candidates(dataset, args.threads)
            if stored:
                stored.parent.mkdir(parents=True, exist_ok=True)
                np.savez(stored, y_val=y_val, y_test=y_test, **{f"val_{n}": v for n, v in val.items()},
                         **{f"test_{n}": v for n, v in test.items()})
        held_out = halves_study(val, y_val, args.halvings)
        temps = {n: fit_temperature(l, y_val) for n, l in val.items()}
        on_val = {n: _softmax(l / temps[n]) for n, l in val.items()}
        on_test = {n: _softmax(l / temps[n]) for n, l in test.items()}
        on_test_scores = {r: 100 * _accuracy(_mean(choose(r, on_val, y_val), on_test), y_test) for r in RULES}
        chosen = choose("greedy_loss", on_val, y_val)
        line = (f"| {dataset} | {len(y_val):,} | " + " | ".join(f"{held_out[r]:.2f}" for r in RULES) + " | "
                + " | ".join(f"{on_test_scores[r]:.2f}" for r in RULES) + " | "
                + " + ".join(f"{n} ×{c}" if c > 1 else n for n, c in chosen.items()) + " |")
        print(line, flush=True)
        lines.append(line)
        means.append([held_out[r] for r in RULES] + [on_test_scores[r] for r in RULES])
    if len(means) > 1:
        lines.append(f"| mean of the {len(means)} sets | | " + " | ".join(f"{v:.2f}" for v in np.mean(means, 0))
                     + " | |")
    table = "\n".join(lines)
    print(table)
    if args.write:
        intro = (f"The default's candidates trained on each set's train split; {args.halvings} random halvings of "
                 "its validation split, each rule choosing on one half and scored on the other (both ways): "
                 "the held-out columns. The test columns: each rule choosing on all of validation, for "
                 "reference (nothing was decided on them).")
        path = write_section("candidate-ensemble", "Combining the default's candidates: which rule holds on "
                             "unseen validation documents", intro + "\n\n" + table)
        print(f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
