"""A FastAPI app around one Predictor: ``textclf serve``.

    GET  /health    200 {"status": "ok"} once the model is loaded
    GET  /metadata  classes, task, models, artifact format versions and sha256 of the files
    POST /predict   {"texts": [...], "top_k": K?} →
                    {"predictions": [{"label": ..., "probabilities": {class: p, ...}}, ...]}
    GET  /metrics   Prometheus counters and histograms (when prometheus-client is installed)
    GET  /docs      the OpenAPI page
    /v2/...         the Open Inference Protocol (KServe, Triton): ``serving/inference_protocol.py``

Limits answer with 4xx, never by slowing down: a body over ``max_body_bytes`` → 413; malformed
JSON, a wrong schema, more than ``max_texts`` texts or a text over ``max_text_chars`` characters →
422 naming the limit; a full queue → 503 with ``Retry-After``. Texts of requests that arrive
together are predicted in one batch (``serving/batcher.py``), off the event loop.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np
from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from textclf import __version__
from textclf.inference import Predictor
from textclf.serving.batcher import MicroBatcher, Overloaded
from textclf.serving.inference_protocol import add_inference_protocol

__all__ = ["ServeSettings", "create_app"]


@dataclass
class ServeSettings:
    max_texts: int = 1024  # per request
    max_text_chars: int = 100_000  # per text
    max_body_bytes: int = 10 * 1024 * 1024
    max_batch_texts: int = 256  # texts the model sees at once
    max_wait_ms: float = 5.0  # how long a batch waits to fill (only while requests arrive together)
    max_queue_texts: int = 8192  # texts queued or in the model before 503
    batching: bool = True

    def problem(self, texts: list[str]) -> str | None:
        """What in a request's ``texts`` is over the limits (the message a client gets), or None."""
        if len(texts) > self.max_texts:
            return f"{len(texts)} texts in one request; the limit is {self.max_texts} (--max-texts)"
        for i, text in enumerate(texts):
            if len(text) > self.max_text_chars:
                return (f"texts[{i}] has {len(text):,} characters; the limit is {self.max_text_chars:,} "
                        "(--max-text-chars)")
        return None


class PredictRequest(BaseModel):
    texts: list[str] = Field(description="the texts to classify, answered in this order")
    top_k: Optional[int] = Field(None, ge=1, description="return only the K most likely classes' probabilities")


class Prediction(BaseModel):
    label: str  # the most likely class
    labels: Optional[list[str]] = None  # a multilabel model's predicted classes (thresholds applied)
    probabilities: dict[str, float]


class PredictResponse(BaseModel):
    predictions: list[Prediction]


def create_app(predictor: Predictor, settings: ServeSettings | None = None, model_name: str | None = None) -> FastAPI:
    """The app serving ``predictor``; under the Open Inference Protocol its name is
    ``model_name`` (default: its config's ``name``)."""
    settings = settings or ServeSettings()
    model_name = model_name or str(predictor.artifact.config.get("name") or "textclf")
    classes = predictor.classes
    batcher = MicroBatcher(predictor.predict_proba, settings.max_batch_texts, settings.max_wait_ms,
                           settings.max_queue_texts, settings.batching)
    metrics = _Metrics()
    metadata = {
        "classes": classes,
        "task": predictor.task,
        "textclf_version": __version__,
        "models": [
            {"model": a.model_name, "params": a.model_params, "format_version": a.format_version,
             "sha256": a.sha256(), "path": str(a.source) if a.source else None}
            for a in predictor.artifacts
        ],
        "limits": settings.__dict__,
        "model_name": model_name,  # under the Open Inference Protocol (/v2/models/<model_name>)
    }

    async def classify(texts: list[str]) -> np.ndarray:
        """The texts' probabilities through the batcher, timed into the metrics; a full queue
        raises Overloaded (counted as a 503)."""
        started = time.perf_counter()
        try:
            probs = await batcher.submit(texts) if texts else np.zeros((0, len(classes)), np.float32)
        except Overloaded:
            metrics.count("503")
            raise
        metrics.observe(time.perf_counter() - started, len(texts))
        return probs

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        await batcher.start()
        yield
        await batcher.stop()  # in-flight requests are answered before the process ends

    app = FastAPI(title="textclf", version=__version__, lifespan=lifespan,
                  description="Text classification with a textclf model.")
    app.add_middleware(_BodyLimit, limit=settings.max_body_bytes)

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok"}

    @app.get("/metadata")
    async def get_metadata() -> dict:
        return metadata

    @app.post("/predict", response_model=PredictResponse, response_model_exclude_none=True)
    async def predict(request: PredictRequest) -> dict:
        texts = request.texts
        problem = settings.problem(texts)
        if problem:
            raise HTTPException(422, problem)
        k = request.top_k
        if k is not None and k > len(classes):
            raise HTTPException(422, f"top_k {k}: there are only {len(classes)} classes")
        try:
            probs = await classify(texts)
        except Overloaded as exc:
            return JSONResponse({"detail": f"overloaded: {exc}"}, status_code=503,
                                headers={"Retry-After": str(exc.retry_after)})
        chosen = predictor.labels_of(probs) if predictor.task_.multilabel else [None] * len(probs)
        return {"predictions": [_prediction(row, classes, k, labels) for row, labels in zip(probs, chosen)]}

    add_inference_protocol(app, predictor, classify, settings, metrics, model_name)

    if metrics.enabled:
        @app.get("/metrics")
        async def get_metrics() -> Response:
            body, content_type = metrics.render(batcher)
            return Response(body, media_type=content_type)

    app.state.batcher = batcher
    return app


def _prediction(row: np.ndarray, classes: list[str], k: int | None, labels: list[str] | None) -> dict:
    order = np.argsort(-row, kind="stable")
    shown = order[:k] if k else range(len(classes))
    return {"label": classes[int(order[0])], "labels": labels,
            "probabilities": {classes[int(j)]: float(row[j]) for j in shown}}


class _BodyLimit:
    """Pure ASGI middleware: a request body over ``limit`` bytes is answered 413 before the app
    reads it (declared Content-Length, or counted while it arrives).

    The rest of such a body is read and dropped before the answer, up to ``DRAIN`` bytes in all:
    a server that answers and closes while the client is still sending resets the connection,
    and most clients (urllib, requests) then report "connection reset" instead of the 413. A
    body declared larger than that is answered at once."""

    DRAIN = 256 * 1024 * 1024

    def __init__(self, app, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            if int(declared) <= self.DRAIN:
                await self._drain(receive, 0)
            return await self._too_large(send)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                chunks.append(message)
                break
            size += len(message.get("body", b""))
            if size > self.limit:
                if message.get("more_body", False):
                    await self._drain(receive, size)
                return await self._too_large(send)
            chunks.append(message)
            if not message.get("more_body", False):
                break

        async def replay():
            return chunks.pop(0) if chunks else await receive()

        await self.app(scope, replay, send)

    async def _drain(self, receive, size: int) -> None:
        """Read and drop the rest of the body (up to DRAIN bytes in all)."""
        while size <= self.DRAIN:
            message = await receive()
            if message["type"] != "http.request":
                return
            size += len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    async def _too_large(self, send):
        response = JSONResponse({"detail": f"request body over {self.limit:,} bytes (--max-body-bytes)"},
                                status_code=413)
        await response({"type": "http"}, None, send)


class _Metrics:
    """Prometheus metrics when prometheus-client is installed; nothing otherwise."""

    def __init__(self):
        try:
            import prometheus_client as prom
        except ImportError:
            self.enabled = False
            return
        self.enabled = True
        self.prom = prom
        self.registry = prom.CollectorRegistry()
        self.requests = prom.Counter("textclf_requests", "Answered /predict requests by status",
                                     ["status"], registry=self.registry)
        self.texts = prom.Counter("textclf_texts", "Texts classified", registry=self.registry)
        self.latency = prom.Histogram("textclf_predict_seconds", "Time from queueing to answer",
                                      registry=self.registry,
                                      buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.batches = prom.Gauge("textclf_batches", "Model batches run", registry=self.registry)
        self.refused = prom.Gauge("textclf_refused", "Requests refused with 503", registry=self.registry)

    def count(self, status: str) -> None:
        if self.enabled:
            self.requests.labels(status).inc()

    def observe(self, seconds: float, texts: int) -> None:
        if self.enabled:
            self.requests.labels("200").inc()
            self.texts.inc(texts)
            self.latency.observe(seconds)

    def render(self, batcher: MicroBatcher) -> tuple[bytes, str]:
        self.batches.set(batcher.stats.batches)
        self.refused.set(batcher.stats.refused)
        return self.prom.generate_latest(self.registry), self.prom.CONTENT_TYPE_LATEST
