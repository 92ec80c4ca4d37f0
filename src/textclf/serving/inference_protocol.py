"""The Open Inference Protocol (KServe / Triton "v2" REST) on ``textclf serve``, beside ``/predict``.

    GET  /v2                                 server metadata
    GET  /v2/health/live, /v2/health/ready   200 while serving
    GET  /v2/models/{name}                   model metadata: inputs and outputs
    GET  /v2/models/{name}/ready             200 when ``name`` is the served model
    POST /v2/models/{name}/infer             the inference request (also under /versions/{v}/)

The model takes one input tensor, ``text`` (``BYTES``, shape ``[n]``: the texts), and answers
``label`` (``BYTES`` ``[n]``: each text's most likely class) and ``probabilities`` (``FP32``
``[n, C]``, columns in the order of the metadata's ``classes`` parameter); a multi-label model
also answers ``labels`` (``BYTES`` ``[n]``: each text's predicted classes joined by ``|``). A
request's ``outputs`` may ask for some of them only. Tensors travel as JSON, or in the binary
tensor extension that Triton's clients use by default (``Inference-Header-Content-Length``:
the JSON header first, then each binary tensor's bytes; a ``BYTES`` element is its length as a
4-byte little-endian integer, then its UTF-8 bytes).

The limits, the batching and the metrics are those of ``/predict``; errors are the protocol's
``{"error": "..."}`` (400 for a bad request, 404 for an unknown model, 503 when overloaded).
"""

from __future__ import annotations

import json
import struct
from typing import Any, Awaitable, Callable

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from textclf import __version__
from textclf.inference import Predictor
from textclf.serving.batcher import Overloaded

__all__ = ["add_inference_protocol", "HEADER_LENGTH"]

HEADER_LENGTH = "inference-header-content-length"


class ProtocolError(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def add_inference_protocol(app: FastAPI, predictor: Predictor, classify: Callable[[list[str]], Awaitable[np.ndarray]],
                           settings, metrics, model_name: str) -> None:
    """Add the v2 routes for ``predictor`` served as ``model_name`` to ``app``: ``classify`` is the
    app's way to the model (batcher and metrics), ``settings`` its limits."""
    classes = predictor.classes
    multilabel = predictor.task_.multilabel
    outputs = [{"name": "label", "datatype": "BYTES", "shape": [-1]},
               {"name": "probabilities", "datatype": "FP32", "shape": [-1, len(classes)]}]
    if multilabel:
        outputs.append({"name": "labels", "datatype": "BYTES", "shape": [-1]})
    model_metadata = {
        "name": model_name, "versions": ["1"], "platform": "textclf",
        "inputs": [{"name": "text", "datatype": "BYTES", "shape": [-1]}], "outputs": outputs,
        "parameters": {"classes": "|".join(classes), "task": predictor.task},
    }

    def error(message: str, status: int = 400) -> JSONResponse:
        metrics.count(str(status))
        return JSONResponse({"error": message}, status_code=status)

    def known(name: str) -> JSONResponse | None:
        return None if name == model_name else error(
            f"unknown model {name!r}; this server serves {model_name!r}", 404)

    @app.get("/v2")
    async def server_metadata() -> dict:
        return {"name": "textclf", "version": __version__, "extensions": ["binary_tensor_data"]}

    @app.get("/v2/health/live")
    async def live() -> dict:
        return {"live": True}

    @app.get("/v2/health/ready")
    async def ready() -> dict:
        return {"ready": True}

    @app.get("/v2/models/{name}")
    @app.get("/v2/models/{name}/versions/{version}")
    async def metadata(name: str, version: str | None = None):
        return known(name) or model_metadata

    @app.get("/v2/models/{name}/ready")
    @app.get("/v2/models/{name}/versions/{version}/ready")
    async def model_ready(name: str, version: str | None = None):
        return known(name) or {"name": name, "ready": True}

    @app.post("/v2/models/{name}/infer")
    @app.post("/v2/models/{name}/versions/{version}/infer")
    async def infer(name: str, request: Request, version: str | None = None):
        if (wrong := known(name)) is not None:
            return wrong
        try:
            body, texts, wanted = _parse(await request.body(), request.headers.get(HEADER_LENGTH), settings)
        except ProtocolError as exc:
            return error(str(exc), exc.status)
        try:
            probs = await classify(texts)
        except Overloaded as exc:
            return JSONResponse({"error": f"overloaded: {exc}"}, status_code=503,
                                headers={"Retry-After": str(exc.retry_after)})
        tensors = {"label": ("BYTES", [len(texts)], [classes[i] for i in probs.argmax(1)] if len(texts) else []),
                   "probabilities": ("FP32", [len(texts), len(classes)], probs.astype(np.float32))}
        if multilabel:
            tensors["labels"] = ("BYTES", [len(texts)], ["|".join(row) for row in predictor.labels_of(probs)])
        unknown = [o for o in wanted if o not in tensors]
        if unknown:
            return error(f"unknown output {unknown[0]!r}; the outputs are {', '.join(tensors)}")
        return _answer(body, model_name, tensors, wanted)


def _parse(raw: bytes, header_length: str | None, settings) -> tuple[dict, list[str], dict[str, bool]]:
    """The request's JSON header, its texts and the outputs it asks for (name → binary)."""
    if header_length is not None:
        if not header_length.isdigit() or int(header_length) > len(raw):
            raise ProtocolError(f"{HEADER_LENGTH} {header_length!r}: not the length of the JSON header")
        header, binary = raw[:int(header_length)], raw[int(header_length):]
    else:
        header, binary = raw, b""
    try:
        body = json.loads(header)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"the request is not JSON: {exc}") from None
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        raise ProtocolError('the request needs "inputs": a list of input tensors')
    inputs = {i.get("name"): i for i in body["inputs"] if isinstance(i, dict)}
    if set(inputs) != {"text"} or len(body["inputs"]) != 1:
        raise ProtocolError(f"one input named 'text' (BYTES, shape [n]) is expected, not {sorted(map(str, inputs))}")
    tensor = inputs["text"]
    if tensor.get("datatype") != "BYTES":
        raise ProtocolError(f"input 'text': datatype {tensor.get('datatype')!r}; it must be BYTES")
    shape = tensor.get("shape")
    if not (isinstance(shape, list) and len(shape) in (1, 2) and all(isinstance(d, int) and d >= 0 for d in shape)
            and (len(shape) == 1 or shape[1] == 1)):
        raise ProtocolError(f"input 'text': shape {shape!r}; give [n] (or [n, 1])")
    n = shape[0]
    size = (tensor.get("parameters") or {}).get("binary_data_size")
    if size is not None:
        if len(binary) < size:
            raise ProtocolError(f"input 'text': binary_data_size {size} but {len(binary)} bytes follow the header")
        texts = _unpack_bytes(binary[:size])
    else:
        data = tensor.get("data")
        if isinstance(data, list) and data and isinstance(data[0], list):  # a nested [n, 1] list
            data = [x for row in data for x in (row if isinstance(row, list) else [row])]
        if not isinstance(data, list) or not all(isinstance(t, str) for t in data):
            raise ProtocolError("input 'text': data must be a list of strings")
        texts = data
    if len(texts) != n:
        raise ProtocolError(f"input 'text': shape says {n} texts but {len(texts)} were given")
    problem = settings.problem(texts)
    if problem:
        raise ProtocolError(problem)
    wanted: dict[str, bool] = {}
    requested = body.get("outputs")
    default_binary = bool((body.get("parameters") or {}).get("binary_data_output", False))
    if requested is None:
        wanted = {"label": default_binary, "probabilities": default_binary}
    elif not isinstance(requested, list) or not all(isinstance(o, dict) and "name" in o for o in requested):
        raise ProtocolError('"outputs": a list of {"name": ...}')
    else:
        for o in requested:
            wanted[o["name"]] = bool((o.get("parameters") or {}).get("binary_data", default_binary))
    return body, texts, wanted


def _unpack_bytes(data: bytes) -> list[str]:
    texts, at = [], 0
    while at < len(data):
        if at + 4 > len(data):
            raise ProtocolError("input 'text': the binary data end inside an element's length")
        (length,) = struct.unpack_from("<I", data, at)
        at += 4
        if at + length > len(data):
            raise ProtocolError("input 'text': the binary data end inside an element")
        try:
            texts.append(data[at:at + length].decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ProtocolError(f"input 'text': element {len(texts)} is not UTF-8 ({exc.reason})") from None
        at += length
    return texts


def _answer(body: dict, model_name: str, tensors: dict[str, tuple[str, list[int], Any]],
            wanted: dict[str, bool]) -> Response:
    header: dict[str, Any] = {"model_name": model_name, "model_version": "1", "outputs": []}
    if "id" in body:
        header["id"] = body["id"]
    chunks = []
    for name, binary in wanted.items():
        datatype, shape, values = tensors[name]
        out: dict[str, Any] = {"name": name, "datatype": datatype, "shape": shape}
        if binary:
            data = (b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in values) if datatype == "BYTES"
                    else np.ascontiguousarray(values, dtype="<f4").tobytes())
            out["parameters"] = {"binary_data_size": len(data)}
            chunks.append(data)
        else:
            out["data"] = list(values) if datatype == "BYTES" else np.asarray(values).ravel().tolist()
        header["outputs"].append(out)
    text = json.dumps(header).encode()
    if not chunks:
        return Response(text, media_type="application/json")
    return Response(text + b"".join(chunks), media_type="application/octet-stream",
                    headers={HEADER_LENGTH: str(len(text))})
