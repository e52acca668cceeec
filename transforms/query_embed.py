"""Embed search queries with the same all-MiniLM-L6-v2 weights in plain numpy: no torch or
sentence-transformers import, so a command that embeds one query starts in a fraction of a
second. Vectors equal the sentence-transformers model's in float32 to float precision."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from transforms.embed import DIMENSIONS, default_model_path


def erf(x: np.ndarray) -> np.ndarray:
    """The error function to a relative error of 1.2e-7 (Numerical Recipes' `erfcc`)."""
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
            -0.82215223 + t * 0.17087277))))))))
    erfc = t * np.exp(-z * z + poly)
    return np.where(x >= 0, 1.0 - erfc, erfc - 1.0)


def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


class QueryEmbedder:
    """A BERT encoder with mean pooling and unit-length output, read from the
    sentence-transformers folder (safetensors weights, tokenizer.json)."""

    def __init__(self, model_path: Path | None = None):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        path = Path(model_path or default_model_path())
        modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((path / "modules.json").read_text())]
        pooling = json.loads((path / "1_Pooling" / "config.json").read_text())
        if modules != ["Transformer", "Pooling", "Normalize"] or not pooling.get("pooling_mode_mean_tokens"):
            raise ValueError(f"{path} is not a mean-pooled, normalised BERT model")
        config = json.loads((path / "config.json").read_text())
        self.heads = config["num_attention_heads"]
        self.layers = config["num_hidden_layers"]
        self.eps = config["layer_norm_eps"]
        max_tokens = json.loads((path / "sentence_bert_config.json").read_text())["max_seq_length"]
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_tokens)
        self.w = load_file(str(path / "model.safetensors"))
        self.dimensions = self.w["embeddings.word_embeddings.weight"].shape[1] or DIMENSIONS

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text.

        BLAS runs on one thread here: a query's matrices are a few rows high, and waking
        more threads (on a busy machine, waiting for them) costs 0.1-0.6 s against 0.03 s
        of work."""
        from threadpoolctl import threadpool_limits

        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        with threadpool_limits(1, user_api="blas"):
            for row, text in enumerate(texts):
                out[row] = self.embed_one(text)
        return out

    def embed_one(self, text: str) -> np.ndarray:
        w = self.w
        encoding = self.tokenizer.encode(text)
        ids = np.asarray(encoding.ids)
        types = np.asarray(encoding.type_ids)
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][: len(ids)]
             + w["embeddings.token_type_embeddings.weight"][types])
        x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps)
        for n in range(self.layers):
            x = self.layer(x, f"encoder.layer.{n}.")
        pooled = x.mean(0)
        return (pooled / max(float(np.linalg.norm(pooled)), 1e-12)).astype(np.float32)

    def layer(self, x: np.ndarray, prefix: str) -> np.ndarray:
        w = self.w

        def dense(h: np.ndarray, name: str) -> np.ndarray:
            return h @ w[f"{prefix}{name}.weight"].T + w[f"{prefix}{name}.bias"]

        tokens, hidden = x.shape
        size = hidden // self.heads

        def split(h: np.ndarray) -> np.ndarray:
            return h.reshape(tokens, self.heads, size).transpose(1, 0, 2)

        q = split(dense(x, "attention.self.query"))
        k = split(dense(x, "attention.self.key"))
        v = split(dense(x, "attention.self.value"))
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(size)
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        context = (scores / scores.sum(-1, keepdims=True)) @ v
        context = context.transpose(1, 0, 2).reshape(tokens, hidden)
        x = layer_norm(x + dense(context, "attention.output.dense"),
                       w[f"{prefix}attention.output.LayerNorm.weight"], w[f"{prefix}attention.output.LayerNorm.bias"],
                       self.eps)
        inner = dense(x, "intermediate.dense")
        inner = (0.5 * inner * (1.0 + erf(inner / math.sqrt(2.0)))).astype(np.float32)
        return layer_norm(x + dense(inner, "output.dense"),
                          w[f"{prefix}output.LayerNorm.weight"], w[f"{prefix}output.LayerNorm.bias"], self.eps)
