"""The locust users of ``benchmarks/serve_load.py``: each sends one text per POST /predict, back
to back, the texts read from the file named by ``SERVE_LOAD_TEXTS`` (one JSON list).

    locust -f benchmarks/serve_locustfile.py --headless -u 64 -r 64 --run-time 20s --host URL
"""

from __future__ import annotations

import itertools
import json
import os

from locust import FastHttpUser, task

with open(os.environ["SERVE_LOAD_TEXTS"], encoding="utf-8") as f:
    TEXTS = json.load(f)
_next = itertools.count()


class OneTextClient(FastHttpUser):
    """A client that waits for each answer before sending its next text (a closed loop)."""

    @task
    def predict(self) -> None:
        text = TEXTS[next(_next) % len(TEXTS)]
        with self.client.post("/predict", json={"texts": [text]}, catch_response=True) as answer:
            if answer.status_code != 200:
                answer.failure(f"HTTP {answer.status_code}")
