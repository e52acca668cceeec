"""Where the embedding model runs: CPU by default here, a CUDA GPU when `engine.device` is
"auto" and the machine has one, the same chunk ids and vectors (within float tolerance)
either way."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from flows.config import EngineConfig
from transforms.embed import Embedder, resolve_device

TEXTS = ["The export crashed for the customer.", "Kestrel's budget review is on Friday.", "retry the sync"]


def test_auto_takes_the_cpu_without_a_gpu_and_cuda_without_one_is_an_error():
    if torch.cuda.is_available():
        assert resolve_device("auto") == "cuda"
        return
    assert resolve_device("auto") == "cpu"
    with pytest.raises(ValueError, match="no CUDA device"):
        resolve_device("cuda")


def test_engine_device_is_checked_when_the_config_is_read():
    assert EngineConfig().device == "auto"
    assert EngineConfig(device="cuda:1").device == "cuda:1"
    with pytest.raises(ValidationError):
        EngineConfig(device="gpu")


def test_auto_gives_the_vectors_of_the_cpu_here():
    auto = Embedder(batch_size=8, device="auto")
    cpu = Embedder(batch_size=8, device="cpu")
    assert auto.device == ("cuda" if torch.cuda.is_available() else "cpu")
    np.testing.assert_allclose(auto.encode(TEXTS), cpu.encode(TEXTS), atol=0 if auto.device == "cpu" else 2e-2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_vectors_match_the_cpu_within_float_tolerance():
    """Chunk ids come from the chunker, before the model: only the vectors could differ."""
    texts = [f"{text} ({n})" for n in range(50) for text in TEXTS]
    gpu = Embedder(batch_size=64, device="cuda", dtype="float32").encode(texts)
    cpu = Embedder(batch_size=64, device="cpu", dtype="float32").encode(texts)
    assert (gpu * cpu).sum(axis=1).min() > 0.9999
