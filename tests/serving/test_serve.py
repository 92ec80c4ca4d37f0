"""`textclf serve`: a real uvicorn server on 127.0.0.1, real HTTP requests (httpx), bounded in
count and time; and the micro-batcher on its own."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from textclf.artifact import PACKED_VERSION  # noqa: E402
from textclf.cli import main  # noqa: E402
from textclf.serving.batcher import MicroBatcher, Overloaded  # noqa: E402

TEXTS = ["the goalie made forty saves in overtime", "rendering polygons with a new shading algorithm",
         "the shuttle reached orbit", "peace talks stalled again", "", "puck"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(checkpoint, *options, timeout=60.0, env=None):
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "textclf", "serve", "--checkpoint", str(checkpoint), "--port", str(port),
         "--log-level", "warning", *options],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise AssertionError(f"the server exited: {process.stdout.read()}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("the server did not answer /health in time")
            time.sleep(0.2)
        yield url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        process.stdout.close()


@pytest.fixture(scope="module")
def best(trained_run):
    return trained_run / "checkpoints" / "best.ckpt"


def _predicted_by_the_command(best, tmp_path) -> list[str]:
    """The labels ``textclf predict`` writes for TEXTS: what every front door must answer."""
    source = tmp_path / "texts.csv"
    with open(source, "w", newline="") as f:
        csv.writer(f).writerows([["text"], *[[t] for t in TEXTS]])
    out = tmp_path / "pred.csv"
    assert main(["predict", "--checkpoint", str(best), "--input", str(source), "--output", str(out),
                 "--no-progress"]) == 0
    with open(out, newline="") as f:
        return [r["Category"] for r in csv.DictReader(f)]


def test_health_metadata_docs_and_the_same_labels_as_predict(best, tmp_path):
    expected = _predicted_by_the_command(best, tmp_path)

    with serving(best) as (url, _):
        assert httpx.get(f"{url}/health").json() == {"status": "ok"}
        meta = httpx.get(f"{url}/metadata").json()
        assert meta["classes"] == ["comp.graphics", "rec.sport.hockey", "sci.space", "talk.politics.mideast"]
        assert meta["task"] == "multiclass" and meta["models"][0]["model"] == "bigru_attention"
        assert meta["models"][0]["sha256"] == hashlib.sha256(best.read_bytes()).hexdigest()
        assert meta["models"][0]["format_version"] == PACKED_VERSION  # (the file's)
        assert httpx.get(f"{url}/docs").status_code == 200
        assert "/predict" in httpx.get(f"{url}/openapi.json").json()["paths"]

        answer = httpx.post(f"{url}/predict", json={"texts": TEXTS}).json()["predictions"]
        assert [p["label"] for p in answer] == expected
        for p in answer:
            assert len(p["probabilities"]) == 4 and sum(p["probabilities"].values()) == pytest.approx(1, abs=1e-4)
            assert max(p["probabilities"], key=p["probabilities"].get) == p["label"]
        assert all("labels" not in p for p in answer)  # a multiclass answer has no label sets (not even null)
        top = httpx.post(f"{url}/predict", json={"texts": TEXTS[:2], "top_k": 2}).json()["predictions"]
        assert [len(p["probabilities"]) for p in top] == [2, 2] and [p["label"] for p in top] == expected[:2]
        assert httpx.post(f"{url}/predict", json={"texts": []}).json() == {"predictions": []}
        metrics = httpx.get(f"{url}/metrics")
        assert metrics.status_code == 200 and 'textclf_requests_total{status="200"}' in metrics.text


def test_bad_requests_get_4xx_answers_that_name_the_limit(best):
    with serving(best, "--max-texts", "5", "--max-text-chars", "1000", "--max-body-bytes", "20000") as (url, _):
        def post(**kwargs):
            return httpx.post(f"{url}/predict", **kwargs)

        assert post(content=b"{not json", headers={"content-type": "application/json"}).status_code == 422
        assert post(json={"text": ["wrong key"]}).status_code == 422
        assert post(json={"texts": "not a list"}).status_code == 422
        assert post(json={"texts": ["a"], "top_k": 0}).status_code == 422
        r = post(json={"texts": ["a"], "top_k": 9})
        assert r.status_code == 422 and "only 4 classes" in r.json()["detail"]
        r = post(json={"texts": ["a"] * 6})
        assert r.status_code == 422 and "the limit is 5" in r.json()["detail"]
        r = post(json={"texts": ["x" * 1001]})
        assert r.status_code == 422 and "texts[0] has 1,001 characters; the limit is 1,000" in r.json()["detail"]
        r = post(json={"texts": ["x" * 900] * 5 * 5})
        assert r.status_code == 413 and "20,000 bytes" in r.json()["detail"]
        # Without a Content-Length (chunked), the body is counted as it arrives.
        r = post(content=iter([b'{"texts": ["', b"x" * 30000, b'"]}']), headers={"content-type": "application/json"})
        assert r.status_code == 413
        # A client that sends the whole body before it reads the answer (urllib) reads the 413:
        # the server drops the rest of the body instead of resetting the connection.
        import urllib.error
        import urllib.request

        body = b'{"texts": ["' + b"x" * 5_000_000 + b'"]}'
        request = urllib.request.Request(f"{url}/predict", data=body, headers={"content-type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(request, timeout=30)
        assert answer.value.code == 413 and b"20,000 bytes" in answer.value.read()
        assert httpx.get(f"{url}/health").status_code == 200


def test_64_concurrent_clients_get_answers_and_the_server_stays_healthy(best):
    with serving(best) as (url, _):
        with httpx.Client(limits=httpx.Limits(max_connections=64)) as client:
            def ask(i):
                texts = [TEXTS[(i + j) % len(TEXTS)] for j in range(3)]
                r = client.post(f"{url}/predict", json={"texts": texts}, timeout=60)
                return r.status_code, len(r.json()["predictions"])

            with ThreadPoolExecutor(64) as pool:
                results = list(pool.map(ask, range(64 * 3)))
        assert results == [(200, 3)] * (64 * 3)
        assert httpx.get(f"{url}/health").status_code == 200


def test_two_worker_processes_answer_as_predict_does_and_stop_on_sigterm(best, tmp_path):
    expected = _predicted_by_the_command(best, tmp_path)
    with serving(best, "--workers", "2", timeout=120) as (url, process):
        with httpx.Client(limits=httpx.Limits(max_connections=8)) as client:
            def ask(i):
                r = client.post(f"{url}/predict", json={"texts": TEXTS}, timeout=60)
                return r.status_code, [p["label"] for p in r.json()["predictions"]]

            with ThreadPoolExecutor(8) as pool:
                answers = list(pool.map(ask, range(32)))
        assert answers == [(200, expected)] * 32
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        printed = process.stdout.read()
    assert "in 2 processes" in printed and "Traceback" not in printed


def test_an_export_is_served_by_two_workers_that_never_import_torch(best, tmp_path):
    """A server of ONNX exports, and each of its worker processes, runs without torch: a
    ``torch`` package that refuses to import comes first on the path of all of them."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    expected = _predicted_by_the_command(best, tmp_path)
    export = tmp_path / "onnx"
    assert main(["export", "--checkpoint", str(best), "--output", str(export)]) == 0
    refusing = tmp_path / "no-torch" / "torch"
    refusing.mkdir(parents=True)
    (refusing / "__init__.py").write_text("raise ImportError('this process must not import torch')\n")
    path = os.pathsep.join(p for p in (str(refusing.parent), os.environ.get("PYTHONPATH")) if p)
    with serving(export, "--workers", "2", timeout=120, env={**os.environ, "PYTHONPATH": path}) as (url, process):
        answer = httpx.post(f"{url}/predict", json={"texts": TEXTS}, timeout=60)
        assert [p["label"] for p in answer.json()["predictions"]] == expected
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        printed = process.stdout.read()
    assert "in 2 processes" in printed and "Traceback" not in printed


def test_overload_is_answered_503_with_retry_after_and_in_flight_requests_finish_on_sigterm(best):
    # One text per model call and at most 1,040 texts in the server: while a 1,024-text request
    # runs, a burst of 8-text requests finds room for two, and the rest are refused at once.
    options = ("--batch-size", "1", "--max-queue-texts", "1040")
    with serving(best, *options) as (url, process):
        big = {}
        runner = threading.Thread(target=lambda: big.update(
            r=httpx.post(f"{url}/predict", json={"texts": [TEXTS[0] * 20] * 1024}, timeout=120)))
        runner.start()
        time.sleep(0.3)
        with httpx.Client(limits=httpx.Limits(max_connections=32)) as client:
            def ask(_):
                r = client.post(f"{url}/predict", json={"texts": TEXTS[:4] * 2}, timeout=120)
                return r.status_code, r.headers.get("retry-after")

            with ThreadPoolExecutor(32) as pool:
                results = list(pool.map(ask, range(32)))
        runner.join(120)
        codes = [c for c, _ in results]
        assert big["r"].status_code == 200 and len(big["r"].json()["predictions"]) == 1024
        assert set(codes) <= {200, 503} and codes.count(503) >= 20, codes
        assert all(int(retry) >= 1 for c, retry in results if c == 503)
        assert httpx.get(f"{url}/health").status_code == 200

        # SIGTERM while a request is in the model: it is still answered.
        answer = {}
        thread = threading.Thread(target=lambda: answer.update(
            r=httpx.post(f"{url}/predict", json={"texts": [TEXTS[0] * 20] * 300}, timeout=60)))
        thread.start()
        time.sleep(0.3)
        process.send_signal(signal.SIGTERM)
        thread.join(60)
        assert answer["r"].status_code == 200 and len(answer["r"].json()["predictions"]) == 300
        # uvicorn re-raises the signal once it has shut down cleanly (exit status -15).
        assert process.wait(timeout=30) in (0, -signal.SIGTERM)


def test_the_batcher_merges_requests_keeps_order_and_refuses_past_its_queue():
    seen = []
    release = threading.Event()

    def predict(texts):
        seen.append(list(texts))
        release.wait(5)
        return np.array([[len(t), 0.0] for t in texts])

    async def scenario():
        batcher = MicroBatcher(predict, max_batch_texts=100, max_wait_ms=200, max_queue_texts=6)
        await batcher.start()
        first = asyncio.create_task(batcher.submit(["a", "bb"]))
        second = asyncio.create_task(batcher.submit(["ccc"]))
        await asyncio.sleep(0.05)
        third = asyncio.create_task(batcher.submit(["dddd", "e", "f"]))
        await asyncio.sleep(0.01)
        with pytest.raises(Overloaded):  # 6 texts wait already
            await batcher.submit(["g"])
        release.set()
        results = await asyncio.gather(first, second, third)
        await batcher.stop()
        return results, batcher.stats

    results, stats = asyncio.run(scenario())
    assert [r[:, 0].tolist() for r in results] == [[1, 2], [3], [4, 1, 1]]
    assert seen == [["a", "bb", "ccc", "dddd", "e", "f"]]  # one batch for three requests
    assert stats.batches == 1 and stats.refused == 1


def test_serve_refuses_bad_options(best, capsys):
    with pytest.raises(SystemExit) as exit_info:  # (argparse's type check: before the model loads)
        main(["serve", "--checkpoint", str(best), "--max-texts", "0"])
    assert exit_info.value.code == 2 and "--max-texts: 0: give 1 or more" in capsys.readouterr().err
    assert main(["serve", "--checkpoint", os.devnull]) == 5
    # The port and the address are checked before the model loads: one line each, no traceback.
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--checkpoint", str(best), "--port", "99999"])
    assert exit_info.value.code == 2 and "a port is a number from 1 to 65535" in capsys.readouterr().err
    assert main(["serve", "--checkpoint", str(best), "--host", "no-such-host.invalid"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--host no-such-host.invalid: not an address" in err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--checkpoint", str(best), "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--port {port}: cannot listen there" in err and "Traceback" not in err


def test_the_open_inference_protocol_with_tritons_own_client(best, tmp_path):
    """tritonclient.http (Triton's client, nobody here wrote it) gets the labels textclf predict
    writes, in JSON and in its default binary tensor form; errors come in the protocol's form."""
    import json as _json

    client_module = pytest.importorskip("tritonclient.http")
    expected = _predicted_by_the_command(best, tmp_path)

    with serving(best, "--model-name", "news", "--max-texts", "8") as (url, _):
        client = client_module.InferenceServerClient(url.removeprefix("http://"))
        try:
            assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("news")
            assert not client.is_model_ready("other")
            meta = client.get_model_metadata("news")
            assert meta["inputs"] == [{"name": "text", "datatype": "BYTES", "shape": [-1]}]
            classes = meta["parameters"]["classes"].split("|")
            for binary in (False, True):
                text = client_module.InferInput("text", [len(TEXTS)], "BYTES")
                text.set_data_from_numpy(np.array(TEXTS, dtype=object), binary_data=binary)
                outputs = [client_module.InferRequestedOutput("label", binary_data=binary),
                           client_module.InferRequestedOutput("probabilities", binary_data=binary)]
                result = client.infer("news", [text], outputs=outputs, request_id="r1")
                labels = [x.decode() if isinstance(x, bytes) else x for x in result.as_numpy("label")]
                assert labels == expected, binary
                probabilities = result.as_numpy("probabilities")
                assert probabilities.shape == (len(TEXTS), len(classes)) and probabilities.dtype == np.float32
                assert [classes[i] for i in probabilities.argmax(1)] == expected
                assert result.get_response()["id"] == "r1"
            everything = client.infer("news", [text])  # no outputs named: all of them, binary (the client's default)
            assert [x.decode() for x in everything.as_numpy("label")] == expected
            too_many = client_module.InferInput("text", [9], "BYTES")
            too_many.set_data_from_numpy(np.array(["x"] * 9, dtype=object), binary_data=False)
            with pytest.raises(client_module.InferenceServerException, match="the limit is 8"):
                client.infer("news", [too_many])
        finally:
            client.close()
        # The protocol's error form, for a wrong model, a wrong input and a wrong output.
        r = httpx.post(f"{url}/v2/models/other/infer", json={"inputs": []})
        assert r.status_code == 404 and "serves 'news'" in r.json()["error"]
        r = httpx.post(f"{url}/v2/models/news/infer", json={"inputs": [{"name": "x", "datatype": "FP32", "shape": [1],
                                                                          "data": [1.0]}]})
        assert r.status_code == 400 and "one input named 'text'" in r.json()["error"]
        r = httpx.post(f"{url}/v2/models/news/infer", content=_json.dumps({
            "inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["a"]}],
            "outputs": [{"name": "logits"}]}), headers={"content-type": "application/json"})
        assert r.status_code == 400 and "unknown output 'logits'" in r.json()["error"]
        assert httpx.get(f"{url}/metadata").json()["model_name"] == "news"
