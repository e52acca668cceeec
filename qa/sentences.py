"""Prose answers: the sentences of the retrieved passages that answer the question, scored
by the question's words they hold and by the store's embedding model, kept in reading order."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from index.identity import norm

SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
STOP = {"the", "a", "an", "of", "to", "in", "on", "for", "and", "or", "is", "are", "was", "were", "what", "which",
        "who", "how", "did", "do", "does", "with", "about", "that", "this", "by", "from", "at", "as", "be", "it"}


def sentences_of(text: str) -> list[str]:
    """The sentences (or lines) of a passage, each of a few words at least."""
    return [s.strip() for s in SENTENCE.split(text or "") if len(s.split()) >= 4]


def answering_sentences(question: str, hits: list[Any], embedder: Any, keep: int = 4) -> str:
    """The `keep` sentences of the hits that best answer the question: half the share of
    the question's words they hold, half their cosine similarity to the question."""
    candidates = list(dict.fromkeys(s for h in hits for s in sentences_of(h.text)))
    if not candidates:
        return ""
    terms = {w for w in norm(question).split() if w not in STOP and len(w) > 2}
    lexical = np.array([len(terms & set(norm(s).split())) / max(1, len(terms)) for s in candidates])
    vectors = np.asarray(embedder.encode([question, *candidates]))
    semantic = vectors[1:] @ vectors[0]
    score = 0.5 * lexical + 0.5 * semantic
    chosen = sorted(np.argsort(-score)[:keep])
    return "\n".join(candidates[i] for i in chosen)
