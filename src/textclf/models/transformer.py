"""A pretrained transformer encoder (Hugging Face ``transformers``) with a linear head.

``model.pretrained`` names a local folder or a Hub name; its tokenizer replaces textclf's
(``text/pretrained.py``) and its weights start the encoder. A document is the mean of its
sub-word vectors (``pooling: mean``, masked by the true lengths) or its first one (``cls``);
dropout and one linear layer give the logits.

A document longer than ``preprocess.max_seq_len`` sub-words is cut there, unless ``chunks`` is
above 1: the pipeline then gives it as up to ``chunks`` windows of ``max_seq_len`` sub-words, each
with ``[CLS] … [SEP]`` of its own (``text/pretrained.py``); the encoder reads every window apart
(as many windows per batch as the token budget allows), each window is pooled as ``pooling``
says, and the document is the mean of its windows' vectors weighted by their sub-words (or, with
``chunk_pooling: max``, their element-wise maximum). The later parts of a long post are then read
too.

Two modes:

- ``freeze: false`` fine-tunes everything (use AdamW with a small learning rate, 2e-5 to 5e-5,
  and ``train.scheduler: linear`` with a warm-up, as BERT-style models are tuned);
- ``freeze: true`` keeps the encoder as it is: a document's pooled vector depends on its ids
  only, so it is computed once (``precompute_features``: all splits, before training, saved in
  the encoded-data cache and reused by later runs) and every epoch trains only the head — fast
  on a CPU. The encoder runs in eval mode (no dropout) in this mode.

With fixed vectors (``freeze`` or ``contrastive``) the head can be fitted by liblinear's SVM in
one pass (``solver: svm``, the default with ``contrastive``: training/solver.py) instead of the
epoch loop (``solver: sgd``).

The encoder's architecture (its Hugging Face config) is stored with the parameters in model
artifacts (``encoder_config``), so a checkpoint rebuilds the model without the folder.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Literal, Optional

import numpy as np
import torch
from pydantic import Field, field_validator
from torch import nn

from textclf.errors import ConfigError, UsageError
from textclf.models.base import BuildContext, TextClassifier
from textclf.models.contrastive import ContrastiveParams, draw_pairs, fit_pairs
from textclf.models.registry import ModelParams, register_model

__all__ = ["Transformer", "TransformerParams"]


class TransformerParams(ModelParams):
    pretrained: str  # a folder holding a Hugging Face model (config.json, weights, tokenizer) or a Hub name
    pooling: Literal["mean", "cls"] = "mean"  # mean of the sub-word vectors, or the first ([CLS]) one
    freeze: bool = False  # true: train only the head, on document vectors computed once
    dropout: float = Field(0.1, ge=0, lt=1)  # before the head
    # Few labels: first fine-tune the encoder on pairs of training examples (same class: similar;
    # different: dissimilar; models/contrastive.py), then train the head on its vectors as
    # freeze: true does. true takes the defaults; a mapping sets pairs, max_pairs, epochs, lr,
    # batch_size.
    contrastive: Optional[ContrastiveParams] = None
    # How the head on fixed vectors (freeze, contrastive) is fitted: sgd (the epoch loop, with the
    # train section's lr, batch size and epochs) or svm (liblinear's LinearSVC on the vectors, one
    # convex pass with penalty C: nothing to tune on tens of examples). Unset: svm with
    # contrastive, sgd otherwise. Fine-tuning (freeze: false) trains by the loop only.
    solver: Optional[Literal["sgd", "svm"]] = None
    C: float = Field(1.0, gt=0)  # solver: svm's penalty, as LinearSVC's
    # Long documents: read up to this many windows of preprocess.max_seq_len sub-words (1: the
    # first window only, the rest cut off), and pool their vectors by chunk_pooling (mean: weighted
    # by each window's sub-words; max: element-wise).
    chunks: int = Field(1, ge=1, le=64)
    chunk_pooling: Literal["mean", "max"] = "mean"
    # The encoder's Hugging Face config; training writes it into model artifacts (leave it out).
    encoder_config: Optional[dict[str, Any]] = None

    @field_validator("contrastive", mode="before")
    @classmethod
    def _true_is_the_defaults(cls, value):
        return {} if value is True else (None if value is False else value)

    def pretrained_tokenizer(self) -> str | None:
        return self.pretrained

    def input_windows(self) -> int:
        return self.chunks


@register_model("transformer", TransformerParams)
class Transformer(TextClassifier):
    caches_features = True  # with freeze: true (see precompute_features)
    # Attention's memory grows with batch × length²: evaluation batches of 256 posts of 256
    # sub-words need gigabytes; 16,384 tokens (64 × 256) keep it to a few hundred megabytes.
    max_batch_tokens = 16_384
    onnx_batch_rows = 16  # its export: 520 docs/s at 16 a call, 403 at 64 (RESULTS.md, onnx-profile-minilm)

    def __init__(self, params: TransformerParams, context: BuildContext):
        super().__init__()
        if params.pretrained_vectors:
            raise ConfigError("model.pretrained_vectors: a transformer's token vectors come with model.pretrained; "
                              "remove pretrained_vectors")
        self.params = params
        self.encoder = _encoder(params)
        if self.encoder.get_input_embeddings().num_embeddings < context.vocab_size:
            raise ConfigError(f"model.pretrained: the encoder of {params.pretrained!r} has fewer token rows than "
                              "its tokenizer's vocabulary")
        self.dropout = nn.Dropout(params.dropout)
        self.head = nn.Linear(self.encoder.config.hidden_size, context.num_classes)
        self.frozen = params.freeze or params.contrastive is not None  # (the head on fixed vectors)
        if self.frozen:
            self.encoder.requires_grad_(False)
        solver = params.solver or ("svm" if params.contrastive is not None else "sgd")
        if solver == "svm" and not self.frozen:
            raise ConfigError("model.solver: svm fits a head on fixed vectors; set model.freeze: true or "
                              "model.contrastive, or leave solver unset to fine-tune the encoder")
        self.solver = None if solver == "sgd" else solver  # (training/solver.py fits the head)
        self.C = params.C
        self.tol = 1e-4  # (scikit-learn's: on tens of vectors a tight fit costs nothing)
        self.feature_columns = self.encoder.config.hidden_size
        if params.chunks > 1 and not context.window:
            raise ConfigError("model.chunks: the text pipeline gives this model no windows; build it from a "
                              "config or an artifact whose pipeline was made with the same model section")
        self.window = context.window if params.chunks > 1 else 0  # sub-words per window; 0: one window
        self._features: dict[bytes, torch.Tensor] = {}  # a document's ids → its pooled vector (frozen)

    def artifact_params(self, params: dict[str, Any]) -> dict[str, Any]:
        return {**params, "encoder_config": self.encoder.config.to_dict()}

    def train(self, mode: bool = True) -> "Transformer":
        super().train(mode)
        if self.frozen:
            self.encoder.eval()
        return self

    # ----------------------------------------------------------------- the contract

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self.encoder.get_input_embeddings()(ids)

    def encode(self, embedded: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(batch, hidden) pooled document vectors from token vectors (their windows', pooled
        again, with ``chunks``)."""
        if self.window:
            return self._encode_windows(embedded, lengths)
        return self._encode_one(embedded, lengths)

    def _encode_windows(self, embedded: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Every document's windows (``self.window`` positions each, back to back) through the
        encoder as rows of one batch, empty ones left out; their vectors pooled per document."""
        m = self.window
        batch, length, dim = embedded.shape
        count = -(-length // m)
        if count * m > length:
            embedded = nn.functional.pad(embedded, (0, 0, 0, count * m - length))
        starts = torch.arange(count, device=embedded.device) * m
        window_lengths = (lengths.to(embedded.device)[:, None] - starts[None, :]).clamp(0, m).reshape(-1)
        present = window_lengths > 0
        pooled = self._encode_one(embedded.reshape(batch * count, m, dim)[present], window_lengths[present])
        vectors = pooled.new_zeros(batch * count, pooled.size(1))
        vectors[present] = pooled
        vectors, present = vectors.view(batch, count, -1), present.view(batch, count, 1)
        if self.params.chunk_pooling == "max":
            return vectors.masked_fill(~present, torch.finfo(vectors.dtype).min).amax(1)
        # each window weighs its sub-words: a short last window (a signature, a closing line)
        # counts for what it holds, and with pooling: mean the document's vector is the mean of
        # all its sub-words' vectors, each read in its window's context
        weights = window_lengths.view(batch, count, 1).to(vectors.dtype)
        return (vectors * weights).sum(1) / weights.sum(1).clamp(min=1)

    def _encode_one(self, embedded: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(batch, hidden) pooled vectors of sequences the encoder reads whole."""
        mask = torch.arange(embedded.size(1), device=embedded.device)[None, :] < lengths.to(embedded.device)[:, None]
        hidden = self.encoder(inputs_embeds=embedded, attention_mask=mask.long()).last_hidden_state
        if self.params.pooling == "cls":
            return hidden[:, 0]
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)

    def classify(self, embedded: torch.Tensor, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.encode(embedded, lengths)))

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if self.frozen:
            return self.head(self.dropout(self.features(ids, lengths)))
        return self.classify(self.embed(ids), ids, lengths)

    def export_module(self) -> nn.Module:
        if self.window:  # (the windows' count and padding follow each batch's length, which a traced graph
            # would fix to the example's)
            raise UsageError("textclf export --format onnx: a transformer trained with model.chunks above 1 "
                             "cannot be exported yet; serve or predict from its .ckpt")
        return _Traced(self)

    def adapt(self, split, take, device: torch.device, precision: str = "fp32", seed: int = 0,
              progress=None) -> None:
        """With ``contrastive``: fine-tune the encoder on pairs of ``split``'s examples (the
        training split), before its vectors are computed and the head trained on them."""
        settings = self.params.contrastive
        if settings is None:
            return
        pairs = draw_pairs(np.asarray(split.labels), settings.pairs, settings.max_pairs, seed)
        if not len(pairs):
            raise ConfigError("model.contrastive: no pairs can be drawn from the training split (it needs "
                              "at least two examples of a class, or of different classes)")
        print(f"contrastive stage: {len(pairs):,} pairs ({int(pairs[:, 2].sum()):,} of the same class) from the "
              f"{len(split):,} training examples, {settings.epochs} epoch(s) at lr {settings.lr:g}; the "
              "validation split is not used here" + (" (it chooses the head's epoch afterwards)" if self.solver is None
                                                     else ""), flush=True)
        was_training = self.training
        self.encoder.requires_grad_(True)
        self.encoder.train()
        try:
            losses = fit_pairs(lambda ids, lengths: self.encode(self.embed(ids), lengths),
                               list(self.encoder.parameters()), take, pairs, settings, device, precision,
                               progress)
        finally:
            self.encoder.requires_grad_(False)
            self.train(was_training)
        print(f"contrastive stage: pair loss {' -> '.join(f'{v:.4f}' for v in losses)}", flush=True)

    # ----------------------------------------------------------------- frozen features

    @torch.no_grad()
    def features(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(batch, hidden) pooled vectors of a batch. Precomputed documents are looked up; others
        are computed, and kept only while training (a serving process keeps nothing)."""
        rows = ids.cpu().numpy()
        keys = [rows[i, : int(n)].tobytes() for i, n in enumerate(lengths.tolist())]
        found = [self._features.get(k) for k in keys]
        missing = [i for i, vector in enumerate(found) if vector is None]
        if missing:
            index = torch.tensor(missing, device=ids.device)
            sub_lengths = lengths.to(ids.device)[index]
            sub = ids[index, : int(sub_lengths.max())]
            for i, vector in zip(missing, self.encode(self.embed(sub), sub_lengths).float().cpu()):
                found[i] = vector
                if self.training:
                    self._features[keys[i]] = vector
        return torch.stack(found).to(self.head.weight.device)

    def sparse_features(self, ids: torch.Tensor, lengths: torch.Tensor):
        """The batch's pooled vectors as (row, column, value) entries, for the solver."""
        vectors = self.features(ids, lengths)
        batch, width = vectors.shape
        rows = torch.arange(batch, device=vectors.device).repeat_interleave(width)
        return rows, torch.arange(width, device=vectors.device).repeat(batch), vectors.reshape(-1)

    @torch.no_grad()
    def set_coefficients(self, coef: np.ndarray, intercept: np.ndarray) -> None:
        """Take the solver's weights as the head's: logits = vector @ coef.T + intercept."""
        self.head.weight.copy_(torch.as_tensor(np.asarray(coef), dtype=self.head.weight.dtype))
        self.head.bias.copy_(torch.as_tensor(np.asarray(intercept), dtype=self.head.bias.dtype))

    def fingerprint(self) -> str:
        """Identifies the frozen encoder's function: its weights and pooling."""
        digest = hashlib.sha256(self.params.pooling.encode())
        for name, tensor in sorted(self.encoder.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
        return digest.hexdigest()[:20]

    def precompute_features(self, splits, folder: Path | None, batches, progress=None) -> None:
        """With ``freeze: true``, compute every document's pooled vector of ``splits`` (EncodedSplits)
        now, reading and writing ``folder/<key>.npy`` (key: the encoder and the split's ids);
        ``batches(split)`` yields a split's ``(indices, (ids, lengths, labels))`` batches."""
        if not self.frozen:
            return
        was_training = self.training
        self.eval()
        fingerprint = self.fingerprint()
        for split in splits:
            ids, offsets = np.asarray(split.ids), np.asarray(split.offsets)
            key = hashlib.sha256(fingerprint.encode() + ids.tobytes() + offsets.tobytes()).hexdigest()[:24]
            path = None if folder is None else Path(folder) / f"{key}.npy"
            if path is not None and path.is_file():
                vectors = torch.from_numpy(np.load(path))
            else:
                vectors = self._compute(split, batches, progress)
                if path is not None:
                    _save(path, vectors.numpy())
            for i in range(len(split)):
                self._features[ids[offsets[i]: offsets[i + 1]].astype(np.int64).tobytes()] = vectors[i]
        self.train(was_training)

    @torch.no_grad()
    def _compute(self, split, batches, progress) -> torch.Tensor:
        out = torch.zeros(len(split), self.encoder.config.hidden_size)
        device = self.head.weight.device
        bar = progress(total=len(split)) if progress else None
        for indices, (ids, lengths, _) in batches(split):
            out[torch.from_numpy(indices)] = self.encode(self.embed(ids.to(device)), lengths).float().cpu()
            if bar is not None:
                bar.update(len(indices))
        if bar is not None:
            bar.close()
        return out


class _Traced(nn.Module):
    """The whole computation (encoder included), for ONNX export: no feature memo."""

    def __init__(self, model: Transformer):
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.model.classify(self.model.embed(ids), ids, lengths)


def _encoder(params: TransformerParams) -> nn.Module:
    try:
        from transformers import AutoConfig, AutoModel
    except ImportError:
        raise ConfigError("model: transformer needs the transformers extra: pip install 'textclf[transformers]'") from None
    if params.encoder_config is not None:  # from a model artifact: the weights come from its state_dict
        config = dict(params.encoder_config)
        encoder = AutoModel.from_config(AutoConfig.for_model(config.pop("model_type"), **config))
    else:
        try:
            encoder = AutoModel.from_pretrained(params.pretrained)
        except (OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0][:200]
            raise ConfigError(f"model.pretrained: cannot load an encoder from {params.pretrained!r} ({first})") from None
    if getattr(encoder, "pooler", None) is not None:
        encoder.pooler = None  # BERT's next-sentence pooler: unused (documents are pooled here), never trained
    return encoder


def _save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # torchrun ranks may write the same entry
    with open(tmp, "wb") as fh:
        np.save(fh, array, allow_pickle=False)
    tmp.replace(path)
