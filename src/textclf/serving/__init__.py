"""Serving a Predictor over HTTP (FastAPI + uvicorn): ``textclf serve``."""

from textclf.serving.app import ServeSettings, create_app
from textclf.serving.batcher import MicroBatcher, Overloaded

__all__ = ["ServeSettings", "create_app", "MicroBatcher", "Overloaded"]
