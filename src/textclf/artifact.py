"""ModelArtifact: what a trained model is, owned by neither training nor evaluation.

A model artifact is a typed, versioned record: the task, the classes, the text pipeline's spec
(tokenizer settings, vocabulary, maximum length), the model's registered name and parameters,
its weights, the config it was trained with, the training split's class counts and the metrics
of the epoch it was saved at. Everything that only ``--resume`` needs (optimizer, RNG states,
the loop's counters and early-stopping state) is a separate :class:`TrainingState`, stored in
``last.ckpt`` beside the artifact and never in ``best.ckpt``.

On disk a checkpoint is one ``torch.save`` zip of plain containers and tensors, read back with
``torch.load(weights_only=True)``, which refuses any other pickled object: loading a checkpoint
never runs code from the file. ``format_version`` says how to read it:

- 1 (textclf 0.1): ``vocab``, ``label_names``, ``model``, ``state_dict``, ``config`` (with the
  preprocessing settings), ``train_label_counts``, ``metrics``, ``training``; migrated on load;
- 2: the fields of :class:`ModelArtifact` by name, ``pipeline`` holding the text pipeline spec,
  and ``training`` only in ``last.ckpt``;
- 3: adds ``decision``: the multilabel decision thresholds (one per class) and whether a document
  may get no label, and ``calibration``: the temperature that divides the logits (1: none). A
  version-2 file reads as having no thresholds and temperature 1.
- 4: an ensemble in one file (what a default selection keeps when a weighted mean of its
  candidates beats the best one on validation): ``ensemble`` holds ``members`` (each a version-3
  payload: its own text pipeline, model, weights, temperature) and ``weights`` (how much each
  member's probabilities count). :func:`load_members` reads either kind; ``ModelArtifact.load``
  reads one model and names the way to load an ensemble.
- 5: how a checkpoint file holds a version-3 payload (a single model, or an ensemble's member):
  the text pipeline's vocabulary packed as one string and a tensor of its tokens' lengths
  (``vocab_packed``) instead of a list of strings, which the weights-only unpickler reads one
  object at a time (``benchmarks/predict_process.py`` times a whole load). Exports keep
  version 3's JSON, and a loaded artifact has the unpacked list whichever file it came from.

A newer or unknown version is a one-line error that names both versions.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from textclf import __version__
from textclf.errors import CheckpointError
from textclf.files import atomic_path
from textclf.text.pipeline import TextPipeline, pipeline_from_spec
from textclf.text.pretrained import PretrainedPipeline, window_length
from textclf.text.vocabulary import PAD_ID, word_strings

if TYPE_CHECKING:  # (torch and the models are imported where weights are read or a model is
    import torch  # built: an export's artifact, read from JSON, needs neither)

    from textclf.models import BuildContext, TextClassifier

__all__ = ["ARTIFACT_VERSION", "ENSEMBLE_VERSION", "ModelArtifact", "TrainingState", "load_checkpoint_file",
           "load_members", "save_ensemble"]

ARTIFACT_VERSION = 3  # the payload's layout (to_dict, exports)
ENSEMBLE_VERSION = 4  # a file holding several artifacts and their weights
PACKED_VERSION = 5  # a version-3 payload in a checkpoint file, its vocabulary packed
_SINGLE_VERSIONS = (2, ARTIFACT_VERSION, PACKED_VERSION)  # what a single model's payload may be
EXPORT_METADATA = "textclf.json"  # beside model.onnx in an exported folder
EXPORT_GRAPH = "model.onnx"


@dataclass
class TrainingState:
    """What resuming needs besides the model: the loop's state, the optimizer's, the RNGs'."""

    loop: dict[str, Any]
    optimizer: dict[str, Any]
    rng: dict[str, Any]
    scheduler: dict[str, Any] | None = None  # the learning-rate schedule's state, if any
    scaler: dict[str, Any] | None = None  # train.precision fp16: the loss scaler's scale and counters

    def to_dict(self) -> dict[str, Any]:
        out = {"loop": self.loop, "optimizer": self.optimizer, "rng": self.rng}
        for key in ("scheduler", "scaler"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


@dataclass
class ModelArtifact:
    """A trained model: everything needed to rebuild it and turn texts into its inputs."""

    task: str
    classes: list[str]
    pipeline: dict[str, Any]  # TextPipeline.spec()
    model_name: str
    model_params: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    config: dict[str, Any]  # the resolved config, as plain containers
    train_class_counts: list[int] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)  # the epoch record at saving time
    # Multilabel: a class is predicted when its probability reaches its threshold; a document
    # whose classes all fall below gets its most likely class unless allow_empty.
    thresholds: list[float] | None = None
    allow_empty: bool = False
    # Temperature scaling (train.calibration): probabilities are softmax(logits / temperature).
    temperature: float = 1.0
    textclf_version: str = __version__
    source: Path | None = None  # the file it was loaded from, if any
    format_version: int = ARTIFACT_VERSION  # of the file it was loaded from (1 when migrated)
    onnx_path: Path | None = None  # an exported artifact: the ONNX graph stands for the weights
    export: dict[str, Any] | None = None  # an exported artifact: how it was exported (textclf.json's "export")

    # ----------------------------------------------------------------- building

    def build_context(self) -> BuildContext:
        from textclf.models import BuildContext

        return BuildContext(
            vocab_size=len(self.pipeline["vocab"]), num_classes=len(self.classes), pad_id=PAD_ID,
            task=self.task, tokens=word_strings(self.pipeline["vocab"]),
            window=window_length(self.pipeline),
        )

    def build_model(self, device: str | torch.device = "cpu") -> TextClassifier:
        """The trained model in eval mode; weights that do not fit it are a CheckpointError."""
        if self.onnx_path is not None:
            raise CheckpointError(
                f"{self.where}: an ONNX export holds no PyTorch weights; use the .ckpt it was exported from"
            )
        from textclf.models import build_model

        model = build_model(self.model_name, self.model_params, self.build_context())
        try:
            model.load_state_dict(self.state_dict)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()
            detail = " ".join(line.strip() for line in first[:3])[:300]
            raise CheckpointError(
                f"{self.where}: the weights do not fit model '{self.model_name}' with the stored "
                f"parameters ({detail}); the file was changed or assembled by hand"
            ) from None
        return model.to(device).eval()

    def onnx_batching(self) -> tuple[int | None, int | None]:
        """An export's batches: at most how many documents and how many padded tokens one
        onnxruntime call takes (its model class's ``onnx_batch_rows`` and ``max_batch_tokens``,
        stored at export; an export written before they were is asked of the class)."""
        export = self.export or {}
        if "batch_rows" in export:
            return export["batch_rows"], export.get("max_batch_tokens")
        from textclf.models.registry import model_class

        cls = model_class(self.model_name)
        return cls.onnx_batch_rows, cls.max_batch_tokens

    def text_pipeline(self) -> TextPipeline | PretrainedPipeline:
        return pipeline_from_spec(self.pipeline)

    def sha256(self) -> str | None:
        """The sha256 of the file it was loaded from (the ONNX graph of an exported artifact;
        None for an artifact made in memory)."""
        path = self.onnx_path or self.source
        return file_sha256(path) if path and path.is_file() else None

    def metadata(self) -> dict[str, Any]:
        """Everything but the weights, as JSON-ready containers (what an export stores)."""
        meta = self.to_dict()
        del meta["state_dict"]
        return meta

    def data_setting(self, key: str) -> Any:
        """``data.<key>`` of the config the model was trained with (how its files were read:
        ``text_column``, ``encoding``, ``id_column``, ``label_separator``); the files source's
        default where the saved config lacks it (a model trained on another source, or an older
        artifact): the file it is given now is a table (``data.tables.READ_DEFAULTS``)."""
        from textclf.data.tables import READ_DEFAULTS

        data = self.config.get("data") or {}
        return data[key] if key in data else READ_DEFAULTS[key]

    def train_setting(self, key: str) -> Any:
        """``train.<key>`` of the config the model was trained with (``precision``, ``compile``:
        how it predicts); ``TrainConfig``'s default where the saved config lacks it."""
        from textclf.config import TrainConfig

        train = self.config.get("train") or {}
        return train[key] if key in train else TrainConfig.model_fields[key].default

    @property
    def where(self) -> str:
        return str(self.source) if self.source else "model artifact"

    # ----------------------------------------------------------------- files

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": ARTIFACT_VERSION,
            "textclf_version": self.textclf_version,
            "task": self.task,
            "classes": list(self.classes),
            "pipeline": self.pipeline,
            "model": {"name": self.model_name, "params": self.model_params},
            "state_dict": self.state_dict,
            "config": self.config,
            "train_class_counts": list(self.train_class_counts),
            "metrics": self.metrics,
            "decision": {"thresholds": self.thresholds, "allow_empty": self.allow_empty},
            "calibration": {"temperature": self.temperature},
        }

    def save(self, path: str | Path, training: TrainingState | None = None) -> Path:
        """Write atomically; ``training`` (for ``last.ckpt``) travels beside the artifact."""
        payload = _packed(self.to_dict())
        if training is not None:
            payload["training"] = training.to_dict()
        import torch

        with atomic_path(path) as tmp:
            torch.save(payload, tmp)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> "ModelArtifact":
        return cls.load_with_state(path)[0]

    @classmethod
    def load_with_state(cls, path: str | Path) -> tuple["ModelArtifact", TrainingState | None]:
        """The artifact and, when the file has one (``last.ckpt``), the training state.
        A folder written by ``textclf export`` loads as an artifact whose model is its ONNX graph."""
        path = Path(path)
        if path.is_dir() and (path / EXPORT_METADATA).is_file():
            return _load_export(path), None
        return cls._from_file_payload(path, load_checkpoint_file(path))

    @classmethod
    def _from_file_payload(cls, path: Path, payload: dict[str, Any]) -> tuple["ModelArtifact", TrainingState | None]:
        """The artifact (and training state) of a checkpoint file's payload, read once."""
        version = payload.get("format_version")
        if version == ENSEMBLE_VERSION and "ensemble" not in payload:
            raise CheckpointError(f"{path}: format version {version} (an ensemble file) without its ensemble; the "
                                  "file was changed or assembled by hand")
        if version == ENSEMBLE_VERSION:
            members = payload["ensemble"].get("members") or []
            names = ", ".join(str(m.get("model", {}).get("name")) for m in members)
            raise CheckpointError(
                f"{path}: an ensemble of {len(members)} models ({names}), not one model; textclf evaluate, "
                "predict, serve and textclf.Predictor.load take it as it is; for one model (to export it), "
                "train with train.ensemble: false"
            )
        if version == 1:
            payload = _from_version_1(payload)
        elif version not in _SINGLE_VERSIONS:
            raise CheckpointError(
                f"{path}: checkpoint format version {version} is not supported by this textclf "
                f"{__version__} (reads versions 1 to {PACKED_VERSION}); use the textclf version "
                "that wrote it"
            )
        missing = [k for k in ("task", "classes", "pipeline", "model", "state_dict", "config") if k not in payload]
        if missing:
            raise CheckpointError(f"{path}: not a textclf checkpoint (missing {', '.join(missing)})")
        training = payload.get("training")
        state = (TrainingState(training["loop"], training["optimizer"], training["rng"], training.get("scheduler"),
                                 training.get("scaler"))
                 if training else None)
        return cls._from_payload(payload, path, version), state

    @classmethod
    def _from_payload(cls, payload: dict[str, Any], source: Path, format_version: int,
                      onnx_path: Path | None = None, export: dict[str, Any] | None = None) -> "ModelArtifact":
        """From the dict of :meth:`to_dict` (without ``state_dict`` for an export)."""
        decision = payload.get("decision") or {}
        thresholds = decision.get("thresholds")
        return cls(
            task=payload["task"],
            classes=list(payload["classes"]),
            pipeline=_unpacked(payload["pipeline"], source),
            model_name=payload["model"]["name"],
            model_params=dict(payload["model"]["params"]),
            state_dict=payload.get("state_dict", {}),
            config=payload["config"],
            train_class_counts=list(payload.get("train_class_counts", [])),
            metrics=dict(payload.get("metrics") or {}),
            thresholds=None if thresholds is None else [float(t) for t in thresholds],
            allow_empty=bool(decision.get("allow_empty", False)),
            temperature=float((payload.get("calibration") or {}).get("temperature", 1.0)),
            textclf_version=payload.get("textclf_version", "unknown"),
            source=source,
            format_version=format_version,
            onnx_path=onnx_path,
            export=export,
        )


def save_ensemble(path: str | Path, artifacts: list[ModelArtifact], weights: list[float]) -> Path:
    """Write ``artifacts`` as one ensemble file (format version 4), atomically: the prediction is
    the mean of the members' (calibrated) probabilities, member i counting ``weights[i]``."""
    if len(artifacts) != len(weights) or not artifacts or min(weights) <= 0:
        raise ValueError("an ensemble needs one positive weight per member")
    payload = {"format_version": ENSEMBLE_VERSION, "textclf_version": __version__,
               "ensemble": {"weights": [float(w) for w in weights], "members": [_packed(a.to_dict()) for a in artifacts]}}
    import torch

    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def _packed(payload: dict[str, Any]) -> dict[str, Any]:
    """A :meth:`ModelArtifact.to_dict` payload as a checkpoint file holds it: its vocabulary (a
    word pipeline's list of strings) as one string and the words' lengths, format version 5."""
    vocab = payload["pipeline"].get("vocab")
    if not isinstance(vocab, list):  # (a pretrained model's pipeline has no word list)
        return payload
    import torch

    pipeline = {k: v for k, v in payload["pipeline"].items() if k != "vocab"}
    pipeline["vocab_packed"] = {"text": "".join(vocab),
                                "lengths": torch.tensor([len(word) for word in vocab], dtype=torch.int32)}
    return {**payload, "format_version": PACKED_VERSION, "pipeline": pipeline}


def _unpacked(pipeline: dict[str, Any], source: Path | None) -> dict[str, Any]:
    """The pipeline spec with its vocabulary as the list of strings (a version-5 file's unpacked)."""
    packed = pipeline.get("vocab_packed")
    if packed is None:
        return pipeline
    import torch  # (a packed vocabulary is a checkpoint file's, read with torch)

    text, lengths = packed.get("text"), packed.get("lengths")
    if not isinstance(text, str) or not isinstance(lengths, torch.Tensor) or int(lengths.sum()) != len(text):
        raise CheckpointError(f"{source}: its packed vocabulary does not add up; the file was changed or is corrupt")
    ends = np.cumsum(lengths.numpy(), dtype=np.int64).tolist()
    vocab = [text[start:end] for start, end in zip([0, *ends[:-1]], ends)]
    return {**{k: v for k, v in pipeline.items() if k != "vocab_packed"}, "vocab": vocab}


def load_members(path: str | Path) -> tuple[list[ModelArtifact], list[float]]:
    """The artifacts of a checkpoint and their weights: one model with weight 1, or an ensemble
    file's members and weights (normalised to sum to 1)."""
    path = Path(path)
    if path.is_dir():
        return [ModelArtifact.load(path)], [1.0]
    payload = load_checkpoint_file(path)
    if payload.get("format_version") != ENSEMBLE_VERSION or "ensemble" not in payload:
        return [ModelArtifact._from_file_payload(path, payload)[0]], [1.0]
    ensemble = payload["ensemble"]
    members, weights = ensemble.get("members"), ensemble.get("weights")
    if (not isinstance(members, list) or not isinstance(weights, list) or not members
            or len(members) != len(weights) or any(not isinstance(w, (int, float)) or w <= 0 for w in weights)):
        raise CheckpointError(f"{path}: an ensemble file whose members and weights do not match; the file was "
                              "changed or assembled by hand")
    artifacts = []
    for i, member in enumerate(members):
        missing = [k for k in ("task", "classes", "pipeline", "model", "state_dict", "config") if k not in member]
        if missing or member.get("format_version") not in _SINGLE_VERSIONS:
            raise CheckpointError(f"{path}: ensemble member {i + 1} is not a textclf model "
                                  f"({'missing ' + ', '.join(missing) if missing else 'unknown format version'})")
        artifacts.append(ModelArtifact._from_payload(member, path, member["format_version"]))
    total = float(sum(weights))
    return artifacts, [float(w) / total for w in weights]


def _load_export(folder: Path) -> ModelArtifact:
    try:
        meta = json.loads((folder / EXPORT_METADATA).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{folder / EXPORT_METADATA}: not readable ({exc}); export the model again") from None
    if meta.get("format_version") not in (2, ARTIFACT_VERSION):
        raise CheckpointError(
            f"{folder}: exported with artifact format version {meta.get('format_version')}; this textclf "
            f"{__version__} reads versions 2 to {ARTIFACT_VERSION}; export the model again"
        )
    graph = folder / EXPORT_GRAPH
    if not graph.is_file():
        raise CheckpointError(f"{folder}: no {EXPORT_GRAPH} beside {EXPORT_METADATA}; export the model again")
    return ModelArtifact._from_payload(meta, folder, meta["format_version"], onnx_path=graph,
                                       export=meta.get("export"))


def load_checkpoint_file(path: str | Path) -> dict[str, Any]:
    """The raw payload of a checkpoint file (plain containers and tensors only)."""
    path = Path(path)
    if not path.is_file():
        hint = ("a folder, but not one written by textclf export: give a .ckpt file"
                if path.is_dir() else "runs keep them in <run>/checkpoints/best.ckpt")
        raise CheckpointError(f"{path}: checkpoint not found ({hint})")
    with open(path, "rb") as f:
        if f.read(4) != b"PK\x03\x04":  # torch.save writes a zip archive
            raise CheckpointError(
                f"{path}: not a readable checkpoint (not a file written by torch.save; "
                "truncated, corrupt or another format)"
            )
    import torch

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
    if not isinstance(payload, dict) or "format_version" not in payload:
        raise CheckpointError(f"{path}: not a textclf checkpoint (required fields are missing)")
    return payload


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_V1_LOOP_KEYS = ("epoch_done", "batches_done", "step", "best_score", "best_epoch", "stale_epochs",
                 "stopped_early", "history", "partial")


def _from_version_1(old: dict[str, Any]) -> dict[str, Any]:
    """A version-1 payload (textclf 0.1) in version 2's shape."""
    missing = [k for k in ("config", "model", "state_dict", "vocab", "label_names") if k not in old]
    if missing:
        return old  # reported as missing fields by the caller
    pre = old["config"]["preprocess"]
    new = {
        "format_version": ARTIFACT_VERSION,
        "textclf_version": old.get("textclf_version", "0.1.0"),
        "task": "multiclass",
        "classes": list(old["label_names"]),
        "pipeline": {
            # (a config of 0.1 has no unicode_words: its tokens were \w+ runs)
            "tokenizer": {"name": pre["tokenizer"], "lowercase": pre["lowercase"],
                          **({"unicode_words": True} if pre.get("unicode_words") else {})},
            "min_freq": pre["min_freq"],
            "max_size": pre["max_size"],
            "max_length": pre["max_seq_len"],
            "vocab": list(old["vocab"]),
        },
        "model": old["model"],
        "state_dict": old["state_dict"],
        "config": old["config"],
        "train_class_counts": old.get("train_label_counts", []),
        "metrics": old.get("metrics", {}),
    }
    training = old.get("training")
    if training:
        new["training"] = {
            "loop": {k: training[k] for k in _V1_LOOP_KEYS},
            "optimizer": training["optimizer"],
            "rng": training["rng"],
        }
    return new
