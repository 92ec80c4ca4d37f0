"""Why did the model say that? Token-level explanations rendered as highlighted HTML.

- models that declare ``has_attention``: the attention weight of each token;
- every other model: gradient × input saliency, |∂ logit / ∂ embedding · embedding| summed over
  the embedding dimensions, from the model's ``embed`` and ``classify`` (``models/base.py``).

Gradients are taken for the most likely class; for a multilabel model its probability is its own
sigmoid, and the explanation also lists every class the model predicts.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import torch

from textclf.inference import Predictor
from textclf.models import TextClassifier
from textclf.task import Task
from textclf.text.pipeline import TextPipeline
from textclf.text.vocabulary import UNK_ID

__all__ = ["Explanation", "explain_texts", "explain_ids", "explanations_html", "explanation_page"]


@dataclass
class Explanation:
    tokens: list[str]  # as the model read them (after tokenizing and truncating)
    unknown: list[bool]  # token outside the vocabulary (the model saw <unk>)
    weights: list[float]  # importance per token, scaled so that the largest is 1
    label: str
    probability: float
    method: str
    predicted: list[str] | None = None  # multilabel: every class the model predicts

    def top_tokens(self, k: int = 10) -> list[tuple[str, float]]:
        best: dict[str, float] = {}
        for token, weight in zip(self.tokens, self.weights):
            best[token] = max(weight, best.get(token, 0.0))
        return sorted(best.items(), key=lambda tw: -tw[1])[:k]


def texts_from_file(predictor: Predictor, path: str | Path, text_column: str | None = None,
                    encoding: str | None = None, limit: int | None = None) -> list[str]:
    """The first ``limit`` texts of a table file, read as the checkpoint's data were (its
    ``data.text_column`` and ``data.encoding`` unless given)."""
    from textclf.data.tables import read_table, texts_of

    setting = predictor.artifact.data_setting
    path = Path(path)
    return texts_of(read_table(path, encoding or setting("encoding")), text_column or setting("text_column"),
                    path)[:limit]


def explain_texts(predictor: Predictor, texts: list[str]) -> list[Explanation]:
    """Explain raw texts with a (single-model) predictor's own text pipeline."""
    if len(predictor) != 1:
        raise ValueError("explanations are made for one model, not an ensemble")
    pipeline = predictor.pipelines[0]
    docs = []
    for text in texts:
        tokens = pipeline.tokens(text) or ["<empty>"]
        if isinstance(pipeline, TextPipeline):  # the ids as the model reads them (unknown words' n-grams too)
            docs.append((tokens, pipeline.encode([text]).document(0).tolist()))
        else:  # (a pretrained tokenizer's encoding adds its special tokens, which are not shown)
            docs.append((tokens, pipeline.vocab_.encode(tokens)))
    return explain_ids(predictor.models[0], docs, predictor.classes, predictor.device, task=predictor.task_,
                       decide=predictor.decide)


def explain_ids(
    model: TextClassifier, docs: list[tuple[list[str], list[int]]], names: list[str],
    device: str | torch.device = "cpu", task: Task = Task("multiclass"), decide=None,
) -> list[Explanation]:
    """Explain documents given as (tokens to show, ids the model reads: a token's id each, then
    anything the model reads besides, such as unknown words' n-grams, which get no weight of their
    own). ``decide`` (a Predictor's) names a multilabel model's predicted classes; without it,
    those at 0.5."""
    model.eval()
    has_attention = type(model).has_attention
    out = []
    for tokens, id_list in docs:
        ids = torch.tensor([id_list], device=device)  # (1, seq_len)
        lengths = torch.tensor([ids.size(1)], device=device)
        if has_attention:
            with torch.inference_mode():
                logits, attention = model(ids, lengths, return_attention=True)
            scores = attention[0]
            method = "attention"
        else:
            scores, logits = _gradient_x_input(model, ids, lengths)
            method = "gradient × input"
        probs = task.probabilities(logits.float().cpu().numpy())  # (1, C)
        best = int(probs[0].argmax())
        predicted = None
        if task.multilabel:
            chosen = decide(probs) if decide is not None else task.decide(probs)
            predicted = [names[j] for j in chosen[0].nonzero()[0]]
        scores = scores.float().cpu()[: len(tokens)]
        scores = scores / scores.max().clamp_min(1e-12)
        out.append(Explanation(
            tokens, [i == UNK_ID for i in id_list[: len(tokens)]], scores.tolist(), names[best],
            float(probs[0, best]), method, predicted,
        ))
    return out


def _gradient_x_input(model: TextClassifier, ids, lengths):
    embedded = model.embed(ids).detach().requires_grad_(True)  # (1, seq_len, dim)
    logits = model.classify(embedded, ids, lengths)
    logits[0, logits[0].argmax()].backward()
    saliency = (embedded.grad * embedded).sum(-1).abs()[0]  # (seq_len,)
    return saliency.detach(), logits.detach()


STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; line-height: 1.5; }
.explanation { border: 1px solid #ddd; border-radius: 6px; padding: 0.8rem; margin: 1rem 0; }
.explanation .head { font-weight: 600; margin-bottom: 0.4rem; }
.explanation .tokens span { padding: 0 1px; border-radius: 2px; }
.explanation .tokens span.unk { text-decoration: underline dotted; }
.explanation .top { color: #555; font-size: 0.9em; margin-top: 0.4rem; }
"""


def explanations_html(explanations: list[Explanation], titles: list[str] | None = None) -> str:
    """An HTML fragment: one box per explanation."""
    parts = []
    for i, e in enumerate(explanations):
        title = html.escape(titles[i]) + " — " if titles else ""
        spans = []
        for token, weight, unknown in zip(e.tokens, e.weights, e.unknown):
            cls = ' class="unk" title="not in the vocabulary"' if unknown else ""
            spans.append(
                f'<span{cls} style="background: rgba(255, 120, 0, {weight:.3f})">{html.escape(token)}</span>'
            )
        top = ", ".join(f"{html.escape(t)} ({w:.2f})" for t, w in e.top_tokens(8))
        labels = "" if e.predicted is None else f"; predicted labels: {html.escape(', '.join(e.predicted))}"
        parts.append(
            f'<div class="explanation"><div class="head">{title}predicted <b>{html.escape(e.label)}</b> '
            f"(p = {e.probability:.3f}{labels}; highlighted by {html.escape(e.method)})</div>"
            f'<div class="tokens">{" ".join(spans)}</div><div class="top">top tokens: {top}</div></div>'
        )
    return "\n".join(parts)


def explanation_page(explanations: list[Explanation], title: str = "textclf explanations") -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        f"{explanations_html(explanations)}</body></html>\n"
    )

