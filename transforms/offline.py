"""The start-up step that lets unstructured parse with no network, once per process."""

from __future__ import annotations

import os
from functools import cache


@cache
def set_up_unstructured_offline() -> None:
    """Make unstructured run with no network: no telemetry, no notice, no spaCy download.

    unstructured 0.27 downloads spaCy's `en_core_web_sm` on first use; a blank English
    pipeline with a sentencizer stands in for it, always, so that element classification
    is the same on every machine. Sets DO_NOT_TRACK and UNSTRUCTURED_DISABLE_NOTICE (unless
    already set). Every engine calls it where it starts parsing: the local engine before its first
    non-empty batch, each
    Dask worker through a plugin, each Beam worker in the parse stage's `setup`. Calling it
    again does nothing.
    """
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("UNSTRUCTURED_DISABLE_NOTICE", "1")
    import spacy
    from unstructured.nlp import tokenize

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    tokenize._get_nlp = lambda: nlp
