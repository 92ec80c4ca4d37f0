"""Self-describing checkpoints that load without running code.

A checkpoint is a dict of plain containers (dict, list, str, int, float, bool, None) and tensors,
saved with ``torch.save`` and read with ``torch.load(weights_only=True)``, which refuses any other
pickled object. It holds everything ``evaluate`` and ``predict`` need: the weights, the model
name and parameters, the preprocessing settings, the vocabulary, the label names and the full
config, plus the training state for resuming.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch
from torch import nn

from textclf.errors import CheckpointError
from textclf.files import atomic_path
from textclf.models import build_model
from textclf.text.tokenizer import build_tokenizer
from textclf.text.vocabulary import Vocabulary

__all__ = ["FORMAT_VERSION", "save_checkpoint", "load_checkpoint", "model_from_checkpoint"]

FORMAT_VERSION = 1
_REQUIRED = ("format_version", "config", "model", "state_dict", "vocab", "label_names")


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    payload = {"format_version": FORMAT_VERSION, **payload}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"{path}: checkpoint not found (runs keep them in <run>/checkpoints/best.ckpt)"
        )
    with open(path, "rb") as f:
        if f.read(4) != b"PK\x03\x04":  # torch.save writes a zip archive
            raise CheckpointError(
                f"{path}: not a readable checkpoint (not a file written by torch.save; "
                "truncated, corrupt or another format)"
            )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"{path}: refused to load: the file holds objects other than tensors and plain "
            f"containers, which could run code ({first[:200]}); only load checkpoints written "
            "by textclf"
        ) from None
    except Exception as exc:  # whatever a damaged file makes the reader raise
        raise CheckpointError(
            f"{path}: not a readable checkpoint (truncated or corrupt: {str(exc).splitlines()[0][:200]})"
        ) from None
    if not isinstance(payload, dict) or any(k not in payload for k in _REQUIRED):
        raise CheckpointError(f"{path}: not a textclf checkpoint (required fields are missing)")
    if payload["format_version"] != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {payload['format_version']} is not supported by "
            f"this textclf (reads version {FORMAT_VERSION}); use the textclf version that wrote it"
        )
    return payload


def model_from_checkpoint(payload: dict[str, Any], device: str | torch.device = "cpu") -> nn.Module:
    model = build_model(
        payload["model"]["name"],
        payload["model"]["params"],
        vocab_size=len(payload["vocab"]),
        num_classes=len(payload["label_names"]),
    )
    model.load_state_dict(payload["state_dict"])
    return model.to(device).eval()


def text_pipeline_from_checkpoint(payload: dict[str, Any]):
    """(tokenizer, vocabulary, max_seq_len) exactly as at training time."""
    pre = payload["config"]["preprocess"]
    return (
        build_tokenizer(pre["tokenizer"], pre["lowercase"]),
        Vocabulary.from_itos(payload["vocab"], pre["min_freq"], pre["max_size"]),
        pre["max_seq_len"],
    )
