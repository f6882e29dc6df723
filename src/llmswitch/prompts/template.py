"""Prompt templates: what one stored prompt version holds, and rendering it safely.

A prompt is a system part, message parts (``{role, content}``, each a template) and
the model and options a call uses when the caller gives none. The templates are
Jinja2, rendered in its *immutable sandbox* (no attribute starting with ``_``, no
mutating a list or dict passed in, ranges capped, huge repetitions refused) with
``StrictUndefined`` and no autoescaping (the output is a chat message, not HTML).

Variables are checked before any call: a prompt's variables are the names declared in
``variables = [...]`` (required) and ``[defaults]`` (optional), or, without a
declaration, every name its templates use (``jinja2.meta``). Rendering with one
missing, or with a name the prompt does not know, raises :class:`PromptError` naming
it. A prompt is compiled once (:class:`CompiledPrompt`) and then renders in a few
microseconds; jinja2 is imported only when the first prompt is compiled.

The file forms (``llmswitch prompts add NAME --file F``):

- a text file: the template of one user message;
- a ``.toml`` file::

      system = "You are a support agent for {{ product }}. Answer in {{ language }}."
      model = "openai/gpt-4o-mini"          # optional: used when the call names none
      variables = ["product", "question"]   # optional: inferred from the templates
      [defaults]
      language = "English"                  # optional variables and their values
      [options]                             # optional: defaults of the call options
      temperature = 0.2
      max_tokens = 400
      [[messages]]
      role = "user"
      content = "{{ question }}"
"""

from __future__ import annotations

import dataclasses
import hashlib
import tomllib
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from .._json import dumps
from ..errors import PromptError

__all__ = [
    "OPTION_NAMES",
    "CompiledPrompt",
    "MessageTemplate",
    "PromptTemplate",
    "Rendered",
    "compile_prompt",
    "syntax_error",
]

# The call options a prompt may set defaults for (the caller's own values win).
OPTION_NAMES = ("temperature", "max_tokens", "top_p", "stop", "reasoning", "response_format")
ROLES = ("user", "assistant")
_TOML_KEYS = {"system", "messages", "model", "options", "variables", "defaults", "llmswitch"}
# Refused by the sandbox: a string or list repeated past this many items, a power
# past this exponent (a template must not be able to eat the process's memory).
MAX_REPEAT = 1_000_000
MAX_EXPONENT = 1000


@dataclasses.dataclass(frozen=True, slots=True)
class MessageTemplate:
    role: str
    content: str


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class PromptTemplate:
    """The content of one prompt version (what is hashed and stored)."""

    system: str | None = None
    messages: tuple[MessageTemplate, ...] = ()
    model: str | None = None
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    # Declared required variables; ``None``: inferred from the templates.
    variables: tuple[str, ...] | None = None
    defaults: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    # ---- building

    @classmethod
    def from_text(cls, text: str) -> PromptTemplate:
        """A text file's template: one user message."""
        if not text.strip():
            raise PromptError("the prompt is empty", field="content")
        return cls(messages=(MessageTemplate("user", text),))

    @classmethod
    def from_toml(cls, text: str, *, source: str = "prompt") -> PromptTemplate:
        """A ``.toml`` prompt (see the module docstring); ``source`` names it in errors.
        A ``[llmswitch]`` table (what ``prompts export`` writes: name, version, hash)
        is ignored."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise PromptError(f"{source}: not valid TOML: {exc}", field="content") from None
        return cls.from_content(data, source=source)

    @classmethod
    def from_content(cls, data: Mapping[str, Any], *, source: str = "prompt") -> PromptTemplate:
        """From the stored JSON (or parsed TOML) form; every field is checked."""
        if not isinstance(data, Mapping):
            raise PromptError(f"{source}: a prompt must be a table", field="content")
        unknown = sorted(set(data) - _TOML_KEYS)
        if unknown:
            raise PromptError(
                f"{source}: unknown key {unknown[0]!r} (expected system, messages, model, "
                "options, variables, defaults)",
                field=unknown[0],
            )
        system = data.get("system")
        if system is not None and not isinstance(system, str):
            raise PromptError(f"{source}: system must be a string", field="system")
        messages = tuple(
            _message(m, i, source) for i, m in enumerate(_list(data, "messages", source))
        )
        if not system and not messages:
            raise PromptError(
                f"{source}: a prompt needs a system part or messages", field="messages"
            )
        model = data.get("model")
        if model is not None and (not isinstance(model, str) or not model):
            raise PromptError(f"{source}: model must be a non-empty string", field="model")
        options = _options(data.get("options", {}), source)
        declared = data.get("variables")
        variables = None
        if declared is not None:
            variables = tuple(
                _name(v, "variables", source) for v in _list(data, "variables", source)
            )
        defaults = data.get("defaults", {})
        if not isinstance(defaults, Mapping):
            raise PromptError(f"{source}: defaults must be a table", field="defaults")
        for key in defaults:
            _name(key, "defaults", source)
        return cls(
            system=system or None, messages=messages, model=model, options=dict(options),
            variables=variables, defaults=dict(defaults),
        )  # fmt: skip

    # ---- the stored form

    def to_content(self) -> dict[str, Any]:
        """The JSON stored for this version (and what :attr:`content_hash` hashes)."""
        content: dict[str, Any] = {
            "system": self.system,
            "messages": [{"role": m.role, "content": m.content} for m in self.messages],
        }
        if self.model is not None:
            content["model"] = self.model
        if self.options:
            content["options"] = dict(self.options)
        if self.variables is not None:
            content["variables"] = list(self.variables)
        if self.defaults:
            content["defaults"] = dict(self.defaults)
        return content

    @property
    def content_hash(self) -> str:
        """Hex SHA-256 of the canonical JSON (sorted keys): equal content, equal hash."""
        canonical = orjson.dumps(self.to_content(), option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(canonical).hexdigest()

    def to_toml(self, header: Mapping[str, Any] | None = None) -> str:
        """The ``.toml`` form, which :meth:`from_toml` reads back to equal content;
        ``header`` becomes an ``[llmswitch]`` table (name, version... for the reader)."""
        lines: list[str] = []
        if self.system is not None:
            lines.append(f"system = {_toml_value(self.system)}")
        if self.model is not None:
            lines.append(f"model = {_toml_value(self.model)}")
        if self.variables is not None:
            lines.append(f"variables = {_toml_value(list(self.variables))}")
        for table, values in (("defaults", self.defaults), ("options", self.options)):
            if values:
                lines += ["", f"[{table}]"]
                lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in values.items()]
        for m in self.messages:
            lines += ["", "[[messages]]", f"role = {_toml_value(m.role)}"]
            lines.append(f"content = {_toml_value(m.content)}")
        if header:
            lines += ["", "[llmswitch]"]
            lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in header.items()]
        return "\n".join(lines).lstrip("\n") + "\n"


@dataclasses.dataclass(frozen=True, slots=True)
class Rendered:
    """A rendered prompt: the system text (or ``None``) and the messages, as dicts."""

    system: str | None
    messages: list[dict[str, str]]


class CompiledPrompt:
    """A :class:`PromptTemplate` with its templates compiled and variables known."""

    __slots__ = (
        "_context", "_env", "_globals", "_messages", "_system", "defaults", "known",
        "required", "template",
    )  # fmt: skip

    def __init__(self, template: PromptTemplate) -> None:
        env = _environment()
        self.template = template
        sources = [("system", template.system)] if template.system is not None else []
        sources += [(f"messages[{i}]", m.content) for i, m in enumerate(template.messages)]
        used: set[str] = set()
        compiled: dict[str, Any] = {}
        for where, text in sources:
            ast = _parse(env, text, where)
            used |= _undeclared(ast) - set(env.globals)
            compiled[where] = _from_ast(env, ast, where)
        # Rendered through the compiled templates' render functions with one shared
        # context dict (Template.render would copy the globals and variables per part).
        self._env = env
        self._globals = dict(env.globals)
        self._context = _context_class()
        system = compiled.get("system")
        self._system = None if system is None else (system.root_render_func, system.blocks)
        self._messages = tuple(
            (m.role, compiled[f"messages[{i}]"].root_render_func, compiled[f"messages[{i}]"].blocks)
            for i, m in enumerate(template.messages)
        )
        self.defaults: Mapping[str, Any] = dict(template.defaults)
        if template.variables is None:
            required = used - set(self.defaults)
        else:
            required = set(template.variables) - set(self.defaults)
            undeclared = sorted(used - required - set(self.defaults))
            if undeclared:
                raise PromptError(
                    f"the template uses variable {undeclared[0]!r}, which is not declared in "
                    "variables or defaults",
                    field="variables",
                    variable=undeclared[0],
                )
        self.required: frozenset[str] = frozenset(required)
        self.known: frozenset[str] = self.required | frozenset(self.defaults)

    def check(self, variables: Mapping[str, Any], name: str | None = None) -> None:
        """Raise :class:`PromptError` for a missing required or an unknown variable."""
        if variables.keys() == self.required:  # the common case: exactly the required ones
            return
        of = f" of prompt {name!r}" if name else ""
        for key in sorted(self.required):
            if key not in variables:
                raise PromptError(
                    f"missing variable {key!r}{of} (it needs: {', '.join(sorted(self.required))})",
                    field="variables", prompt=name, variable=key,
                )  # fmt: skip
        for key in variables:
            if key not in self.known:
                known = ", ".join(sorted(self.known)) or "none"
                raise PromptError(
                    f"unknown variable {key!r}{of} (it takes: {known})",
                    field="variables", prompt=name, variable=key,
                )  # fmt: skip

    def render(
        self, variables: Mapping[str, Any] | None = None, name: str | None = None
    ) -> Rendered:
        """The system text and messages with ``variables`` filled in (checked first)."""
        given: Mapping[str, Any] = {} if variables is None else variables
        if not isinstance(given, Mapping):
            raise PromptError("variables must be a dict", field="variables", prompt=name)
        self.check(given, name)
        values = {**self._globals, **self.defaults, **given}
        env, context = self._env, self._context
        try:
            system = None
            if self._system is not None:
                root, blocks = self._system
                system = "".join(root(context(env, values, None, blocks)))
            messages = [
                {"role": role, "content": "".join(root(context(env, values, None, blocks)))}
                for role, root, blocks in self._messages
            ]
        except PromptError:
            raise
        except Exception as exc:  # the sandbox's SecurityError, a filter's TypeError...
            raise _render_error(exc, name) from None
        return Rendered(system, messages)


def compile_prompt(template: PromptTemplate) -> CompiledPrompt:
    return CompiledPrompt(template)


def syntax_error(text: str) -> tuple[int, str] | None:
    """``(line, message)`` of the first thing that keeps ``text`` from compiling as a
    template (bad syntax, an unknown filter), else ``None``: lets a file's reader
    name the file and the line (``bad.txt:1: ...``), which CompiledPrompt cannot know."""
    from jinja2 import TemplateSyntaxError

    try:
        _environment().from_string(text)
    except TemplateSyntaxError as exc:
        return exc.lineno, exc.message or "invalid template"
    return None


# ---- jinja2, imported on first use


_ENV: Any = None


def _environment() -> Any:
    global _ENV
    if _ENV is None:
        _ENV = _make_environment()
    return _ENV


def _make_environment() -> Any:
    import operator

    from jinja2 import StrictUndefined
    from jinja2.exceptions import SecurityError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class _Sandbox(ImmutableSandboxedEnvironment):
        # Multiplication and power are checked before they run: ``'x' * 10**9`` would
        # build a gigabyte string inside the sandbox otherwise.
        intercepted_binops = frozenset({"*", "**"})

        def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
            if operator_name == "**":
                if isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
                    raise SecurityError(f"exponent {right} is over the sandbox's {MAX_EXPONENT}")
                return operator.pow(left, right)
            for seq, times in ((left, right), (right, left)):
                repeats = isinstance(seq, str | list | tuple) and isinstance(times, int)
                if repeats and len(seq) * times > MAX_REPEAT:
                    raise SecurityError(f"a repetition over {MAX_REPEAT} items")
            return operator.mul(left, right)

    return _Sandbox(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True, cache_size=0
    )


def _context_class() -> Any:
    from jinja2.runtime import Context

    return Context


def _parse(env: Any, text: str, where: str) -> Any:
    from jinja2 import TemplateSyntaxError

    try:
        return env.parse(text)
    except TemplateSyntaxError as exc:
        raise PromptError(
            f"{where}: template syntax error on line {exc.lineno}: {exc.message}", field=where
        ) from None


def _undeclared(ast: Any) -> set[str]:
    from jinja2 import meta

    return set(meta.find_undeclared_variables(ast))


def _from_ast(env: Any, ast: Any, where: str) -> Any:
    from jinja2 import TemplateSyntaxError

    try:
        return env.from_string(ast)
    except TemplateSyntaxError as exc:
        raise PromptError(f"{where}: {exc.message}", field=where) from None


def _render_error(exc: Exception, name: str | None) -> PromptError:
    from jinja2.exceptions import SecurityError, UndefinedError

    of = f"prompt {name!r}: " if name else ""
    if isinstance(exc, SecurityError):
        return PromptError(
            f"{of}refused by the template sandbox: {exc}", field="content", prompt=name
        )
    if isinstance(exc, UndefinedError):
        return PromptError(f"{of}{exc}", field="variables", prompt=name)
    return PromptError(
        f"{of}rendering failed: {type(exc).__name__}: {exc}", field="content", prompt=name
    )


# ---- checks of the stored form


def _list(data: Mapping[str, Any], key: str, source: str) -> Sequence[Any]:
    value = data.get(key, [])
    if not isinstance(value, list | tuple):
        raise PromptError(f"{source}: {key} must be a list", field=key)
    return value


def _message(item: Any, index: int, source: str) -> MessageTemplate:
    where = f"messages[{index}]"
    if not isinstance(item, Mapping) or set(item) - {"role", "content"}:
        raise PromptError(f"{source}: {where} must be a table of role and content", field=where)
    role, content = item.get("role", "user"), item.get("content")
    if role not in ROLES:
        raise PromptError(f"{source}: {where}.role must be 'user' or 'assistant'", field=where)
    if not isinstance(content, str) or not content:
        raise PromptError(f"{source}: {where}.content must be a non-empty string", field=where)
    return MessageTemplate(role, content)


def _name(value: Any, key: str, source: str) -> str:
    if not isinstance(value, str) or not value.isidentifier():
        raise PromptError(f"{source}: {key}: {value!r} is not a variable name", field=key)
    return value


def _options(value: Any, source: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PromptError(f"{source}: options must be a table", field="options")
    for key, item in value.items():
        if key not in OPTION_NAMES:
            raise PromptError(
                f"{source}: options.{key} is not an option a prompt can set "
                f"(one of: {', '.join(OPTION_NAMES)})",
                field=f"options.{key}",
            )
        if key == "max_tokens" and (
            isinstance(item, bool) or not isinstance(item, int) or item < 1
        ):
            raise PromptError(
                f"{source}: options.max_tokens must be a positive integer",
                field="options.max_tokens",
            )
        if key in ("temperature", "top_p") and (
            isinstance(item, bool) or not isinstance(item, int | float)
        ):
            raise PromptError(f"{source}: options.{key} must be a number", field=f"options.{key}")
    return value


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else _toml_value(key)


def _toml_value(value: Any) -> str:
    """A TOML literal: strings as multi-line basic strings when they span lines."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        if "\n" in value and not any((c < " " and c not in "\n\t") or c == "\x7f" for c in value):
            body = value.replace("\\", "\\\\").replace('"""', '""\\"')
            # A newline right after the opening quotes is trimmed by TOML: keep it.
            return '"""\n' + body + '"""'
        return dumps(value).decode()  # JSON's string escapes are valid TOML
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return (
            "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
        )
    raise PromptError(f"cannot write {type(value).__name__} to TOML", field="content")
