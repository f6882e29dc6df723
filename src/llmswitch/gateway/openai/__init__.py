"""The OpenAI-compatible routes: ``/v1/chat/completions``, ``/v1/embeddings``,
``/v1/models`` and ``/v1/completions`` (see docs/gateway/openai.md), and the OpenAI error
shape (:data:`OPENAI_ERRORS`) other routes may answer in."""

from ._errors import OPENAI_ERRORS

__all__ = ["OPENAI_ERRORS"]
