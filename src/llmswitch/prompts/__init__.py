"""Stored prompts: templates with immutable versions and movable labels, used in calls.

::

    from llmswitch.prompts import PromptStore, PromptTemplate

    store = PromptStore(database)                 # or client.prompts
    v = store.add("support", PromptTemplate.from_toml(open("support.toml").read()),
                  author="ana", message="friendlier tone")
    store.label("support", v.version, "production")
    client.chat(prompt="support:production", variables={"question": "..."})

- :mod:`.template`: the template language (Jinja2's immutable sandbox, strict about
  variables), :class:`PromptTemplate` and its compiled form.
- :mod:`.store`: :class:`PromptStore`, versions and labels in the SQL database behind
  an in-process cache (labels seen by every process within ``label_ttl``).
- :mod:`.files`: export to and import from ``.toml`` files, for prompts kept in git.

Importing this package imports neither jinja2 nor SQLAlchemy; the first compiled
prompt and the first query do.
"""

from __future__ import annotations

from ..errors import PromptError
from ..messages import PromptRef
from .store import (
    DEFAULT_LABEL_TTL,
    LATEST,
    PromptCall,
    PromptInfo,
    PromptStore,
    PromptVersion,
    parse_ref,
)
from .template import CompiledPrompt, MessageTemplate, PromptTemplate, Rendered

__all__ = [
    "DEFAULT_LABEL_TTL",
    "LATEST",
    "CompiledPrompt",
    "MessageTemplate",
    "PromptCall",
    "PromptError",
    "PromptInfo",
    "PromptRef",
    "PromptStore",
    "PromptTemplate",
    "PromptVersion",
    "Rendered",
    "parse_ref",
]
