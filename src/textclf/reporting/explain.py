"""Why did the model say that? Token-level explanations rendered as highlighted HTML.

- models that expose attention (``forward(..., return_attention=True)``): the attention weight of
  each token;
- every other model: gradient × input saliency, |∂ logit / ∂ embedding · embedding| summed over
  the embedding dimensions (the model's embedding layer must be its ``embedding`` attribute).
"""

from __future__ import annotations

import html
import inspect
from dataclasses import dataclass

import torch

from textclf.text.vocabulary import UNK_ID
from textclf.training.checkpoint import model_from_checkpoint, text_pipeline_from_checkpoint

__all__ = ["Explanation", "explain_texts", "explain_ids", "explanations_html", "explanation_page"]


@dataclass
class Explanation:
    tokens: list[str]  # as the model read them (after tokenizing and truncating)
    unknown: list[bool]  # token outside the vocabulary (the model saw <unk>)
    weights: list[float]  # importance per token, scaled so that the largest is 1
    label: str
    probability: float
    method: str

    def top_tokens(self, k: int = 10) -> list[tuple[str, float]]:
        best: dict[str, float] = {}
        for token, weight in zip(self.tokens, self.weights):
            best[token] = max(weight, best.get(token, 0.0))
        return sorted(best.items(), key=lambda tw: -tw[1])[:k]


def explain_texts(payload: dict, texts: list[str], device: str | torch.device = "cpu") -> list[Explanation]:
    """Explain raw texts with a checkpoint's own tokenizer and vocabulary."""
    model = model_from_checkpoint(payload, device)
    tokenize, vocab, max_len = text_pipeline_from_checkpoint(payload)
    docs = []
    for text in texts:
        tokens = tokenize(text)[:max_len] or ["<empty>"]
        docs.append((tokens, vocab.encode(tokens)))
    return explain_ids(model, docs, payload["label_names"], device)


def explain_ids(
    model: torch.nn.Module, docs: list[tuple[list[str], list[int]]], names: list[str],
    device: str | torch.device = "cpu",
) -> list[Explanation]:
    """Explain documents given as (tokens to show, ids the model reads)."""
    model.eval()
    has_attention = "return_attention" in inspect.signature(model.forward).parameters
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
        probs = torch.softmax(logits[0].float(), dim=0)
        best = int(probs.argmax())
        scores = scores.float().cpu()
        scores = scores / scores.max().clamp_min(1e-12)
        out.append(Explanation(
            tokens, [i == UNK_ID for i in ids[0].tolist()], scores.tolist(), names[best],
            float(probs[best]), method,
        ))
    return out


def _gradient_x_input(model, ids, lengths):
    captured = {}

    def keep(module, inputs, output):
        output.retain_grad()
        captured["embedded"] = output

    handle = model.embedding.register_forward_hook(keep)
    try:
        logits = model(ids, lengths)
        logits[0, logits[0].argmax()].backward()
    finally:
        handle.remove()
    embedded = captured["embedded"]
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
        parts.append(
            f'<div class="explanation"><div class="head">{title}predicted <b>{html.escape(e.label)}</b> '
            f"(p = {e.probability:.3f}; highlighted by {html.escape(e.method)})</div>"
            f'<div class="tokens">{" ".join(spans)}</div><div class="top">top tokens: {top}</div></div>'
        )
    return "\n".join(parts)


def explanation_page(explanations: list[Explanation], title: str = "textclf explanations") -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        f"{explanations_html(explanations)}</body></html>\n"
    )

