"""Mixed precision and compilation: ``train.precision`` and ``train.compile``, for training and prediction.

``precision``:

- ``fp32``: everything in float32 (the default);
- ``bf16``: matrix products and convolutions run in bfloat16 under ``torch.autocast`` (the
  weights, the optimizer and the loss stay float32); bfloat16 has float32's range, so no loss
  scaling is needed. Fast on GPUs from Ampere on and on CPUs with AMX/AVX-512 BF16;
- ``fp16``: the same in float16, with a gradient scaler (``torch.amp.GradScaler``) that
  multiplies the loss before ``backward`` so that small gradients do not round to zero, skips
  the steps whose gradients overflowed and adapts the scale. For GPUs without bfloat16.

``compile``: the model's forward runs through ``torch.compile`` (TorchInductor: fused kernels,
Triton on a GPU, C++ on a CPU, which needs a C++ compiler). Documents come in batches of varying
length, so shapes are compiled as dynamic from the start rather than recompiled per length. The
first batches pay the compilation (seconds to a minute). Two parts run outside the compiled
graphs: sparse embedding lookups (``models.base.lookup``: Inductor cannot lower their backward)
and recurrent layers (Dynamo leaves GRU/LSTM to their own fused kernels; unrolling them compiled
for over a minute per shape here).

Both are properties of a run's config, so a model artifact carries them and a Predictor built
from it predicts the way the model was validated.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from textclf.errors import ConfigError

__all__ = ["DTYPES", "check_training", "on_device", "autocast", "attention_backends", "grad_scaler",
           "compiled"]

DTYPES: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def check_training(device: torch.device, precision: str) -> None:
    """fp16 trains on a GPU only: CPU float16 kernels are slow where they exist (a TextCNN epoch
    4x slower than fp32 here) and missing for some layers (oneDNN's LSTM)."""
    if precision == "fp16" and device.type == "cpu":
        raise ConfigError("train.precision: fp16 needs a CUDA GPU (training runs on the CPU); use bf16 or fp32 "
                          "on a CPU")


def on_device(device: torch.device | str, precision: str) -> str:
    """The precision to predict in on ``device``: a model trained in fp16 predicts in fp32 on a
    CPU (see check_training); otherwise its own."""
    return "fp32" if precision == "fp16" and torch.device(device).type == "cpu" else precision


def autocast(device: torch.device | str, precision: str) -> contextlib.AbstractContextManager:
    """The context that runs a forward pass in ``precision`` on ``device``: autocast (nothing
    for fp32) and, on a GPU, attention without cuDNN's kernel (``attention_backends``)."""
    device = torch.device(device)
    stack = contextlib.ExitStack()
    if device.type == "cuda":
        stack.enter_context(attention_backends())
    dtype = DTYPES[precision]
    if dtype is not None:
        stack.enter_context(torch.autocast(device_type=device.type, dtype=dtype))
    return stack


def attention_backends() -> contextlib.AbstractContextManager:
    """``scaled_dot_product_attention`` may pick flash, memory-efficient or plain attention, not
    cuDNN's. PyTorch prefers cuDNN's kernel on Hopper GPUs in bf16/fp16, and it builds an
    execution plan for every new batch shape: text batches change length at every step, and on an
    H200 each call then cost about 20 ms of CPU for 36 µs of GPU work (benchmarks/gpu.py
    --profile: a MiniLM bf16 epoch 2.1x slower than fp32). Flash attention needs no plan."""
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError:  # (torch before 2.3 has no cuDNN attention either)
        return contextlib.nullcontext()
    return sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH])


def grad_scaler(device: torch.device | str, precision: str) -> torch.amp.GradScaler:
    """A loss scaler, enabled for fp16 only (its methods pass through when disabled)."""
    return torch.amp.GradScaler(torch.device(device).type, enabled=precision == "fp16")


# Called before the first torch.compile: what must be marked for the compiler (torch.compiler.disable
# imports torch._dynamo, most of a second, which a run that compiles nothing need not pay).
_BEFORE_COMPILE: list = []


def before_compile(callback):
    """Register ``callback`` (no arguments) to run before ``compiled`` compiles anything."""
    _BEFORE_COMPILE.append(callback)
    return callback


def compiled(module: nn.Module, enabled: bool) -> nn.Module:
    """``module`` compiled with dynamic shapes when ``enabled``; the same module otherwise. The
    compiled module shares the parameters, and forwards attribute reads to ``module``."""
    if not enabled:
        return module
    for callback in _BEFORE_COMPILE:
        callback()
    return torch.compile(module, dynamic=True)
