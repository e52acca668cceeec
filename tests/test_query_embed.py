"""The numpy query embedder gives the sentence-transformers model's float32 vectors."""

from __future__ import annotations

import numpy as np

from transforms.embed import Embedder
from transforms.query_embed import QueryEmbedder

TEXTS = [
    "who reviewed the vision document?",
    "Which customers were affected by API security issues in AnomalyForce?",
    "x",
    "word " * 400,
    "Ünïcödé, emoji 🎉 and tokens like getUserById()",
]


def test_query_vectors_equal_sentence_transformers_float32(embedder):
    fast = QueryEmbedder().encode(TEXTS)
    exact = Embedder(batch_size=1, dtype="float32").encode(TEXTS)
    assert fast.dtype == np.float32 and fast.shape == (len(TEXTS), 384)
    assert np.abs(fast - exact).max() < 1e-5
    assert np.allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-6)
    assert ((fast * embedder.encode(TEXTS)).sum(1) > 0.999).all()
