"""The core value types' makers (:func:`llmswitch._frozen.maker`) for the paths that
build one on every call: same keywords as the class call, about half its cost. (The
Message maker is in :mod:`llmswitch.messages`, which uses it itself.)"""

from __future__ import annotations

from ._frozen import maker
from .messages import ChatRequest, ChatResponse, Usage

__all__ = ["make_request", "make_response", "make_usage"]

make_request = maker(ChatRequest)
make_response = maker(ChatResponse)
make_usage = maker(Usage)
