"""``client.request(...)``: a fluent, immutable way to put a chat call together.

::

    base = client.request("openai/gpt-4o-mini").system("Answer in one word.").temperature(0)
    resp = base.user("Capital of France?").send()
    with base.user("Capital of Italy?").stream() as stream:
        for piece in stream.text_stream: ...

    # AsyncClient: the same steps; send() is awaited, stream() entered with async with
    resp = await aclient.request().user("Hi").send()

Every step returns a new builder and leaves the one it was called on as it was, so a
base can be shared and extended safely (also across threads). Nothing is checked until
:meth:`RequestBuilder.send` or :meth:`RequestBuilder.stream`, which hand everything to
``client.chat``/``client.stream``: the errors are exactly theirs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._options import (
        ReasoningInput,
        ResponseFormatInput,
        TimeoutInput,
        ToolChoiceInput,
        ToolsInput,
    )

__all__ = ["RequestBuilder"]

# Options whose values a repr does not show (credentials, personal data).
_SECRET_OPTIONS = frozenset({"extra_headers", "extra_body", "metadata", "user"})
_IMAGE_TYPES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def _image_url(image: str | bytes, mime: str | None) -> str:
    """An ``http(s)``/``data:`` URL as given; bytes as a base64 ``data:`` URL."""
    if isinstance(image, str):
        return image
    if isinstance(image, bytes | bytearray | memoryview):
        data = bytes(image)
        if mime is None:
            if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
                mime = "image/webp"
            else:
                mime = next((m for magic, m in _IMAGE_TYPES if data.startswith(magic)), None)
        if mime is None:
            from .errors import ConfigurationError

            raise ConfigurationError(
                "image(): cannot tell the image type of these bytes: pass mime='image/png'",
                field="image",
            )
        import base64  # only for images given as bytes

        return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    return image  # anything else: chat() says what is wrong with it


class RequestBuilder:
    """An immutable chat request under construction; see the module docstring.

    Steps: :meth:`system`, :meth:`user`, :meth:`assistant`, :meth:`image`,
    :meth:`message`, :meth:`messages`, :meth:`tool_result`, :meth:`tools`,
    :meth:`tool_choice`, :meth:`temperature`, :meth:`max_tokens`, :meth:`top_p`,
    :meth:`stop`, :meth:`reasoning`, :meth:`response_format`, :meth:`user_id`,
    :meth:`metadata`, :meth:`timeout`, :meth:`options` (any other ``chat()`` option),
    :meth:`model`. Then :meth:`send` or :meth:`stream`.
    """

    __slots__ = ("_client", "_messages", "_model", "_options")

    def __init__(
        self,
        client: Any,
        model: str | None = None,
        messages: tuple[Any, ...] = (),
        options: tuple[tuple[str, Any], ...] = (),
    ) -> None:
        self._client = client
        self._model = model
        self._messages = messages
        self._options = options

    # ------------------------------------------------------------------ plumbing

    def _with(self, **changes: Any) -> RequestBuilder:
        return RequestBuilder(
            self._client,
            changes.get("model", self._model),
            changes.get("messages", self._messages),
            changes.get("options", self._options),
        )

    def _add(self, message: Any) -> RequestBuilder:
        return self._with(messages=(*self._messages, message))

    def _set(self, name: str, value: Any) -> RequestBuilder:
        kept = tuple((k, v) for k, v in self._options if k != name)
        return self._with(options=(*kept, (name, value)))

    def __setattr__(self, name: str, value: Any) -> None:
        if hasattr(self, "_options"):  # set once, in __init__
            raise AttributeError("a RequestBuilder is immutable: each step returns a new one")
        object.__setattr__(self, name, value)

    # ------------------------------------------------------------------ messages

    def model(self, model: str) -> RequestBuilder:
        """Send to ``model`` instead (``"provider/model"``, an alias or a group)."""
        return self._with(model=model)

    def system(self, text: str) -> RequestBuilder:
        """The system prompt (``system=`` of ``chat()``); a later call replaces it."""
        return self._set("system", text)

    def user(self, content: Any) -> RequestBuilder:
        """A user message: text, or a list of parts as ``chat()`` takes them."""
        return self._add({"role": "user", "content": content})

    def assistant(self, content: Any = None, *, tool_calls: Sequence[Any] = ()) -> RequestBuilder:
        """An earlier assistant turn (text and/or the tool calls it made)."""
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if tool_calls:
            message["tool_calls"] = list(tool_calls)
        return self._add(message)

    def tool_result(self, tool_call_id: str, content: Any) -> RequestBuilder:
        """The result of tool call ``tool_call_id`` (a ``role: "tool"`` message); a dict
        or list ``content`` is sent as JSON."""
        if not isinstance(content, str) and isinstance(content, Mapping | list):
            from ._json import dumps_str

            content = dumps_str(content)
        return self._add({"role": "tool", "tool_call_id": tool_call_id, "content": content})

    def image(
        self,
        image: str | bytes,
        *,
        mime: str | None = None,
        detail: str | None = None,
        text: str | None = None,
    ) -> RequestBuilder:
        """An image (an ``http(s)``/``data:`` URL, or the image's bytes: ``mime`` is
        guessed for PNG, JPEG, GIF and WebP) in the last user message, or in a new one
        (with ``text`` first, when given) if the last message is not the user's."""
        part: dict[str, Any] = {"type": "image_url", "image_url": {"url": _image_url(image, mime)}}
        if detail is not None:
            part["image_url"]["detail"] = detail
        last = self._messages[-1] if self._messages else None
        if text is None and isinstance(last, dict) and last.get("role") == "user":
            content = last.get("content")
            parts = (
                [{"type": "text", "text": content}]
                if isinstance(content, str)
                else list(content or ())
            )
            merged = {**last, "content": [*parts, part]}
            return self._with(messages=(*self._messages[:-1], merged))
        parts = [{"type": "text", "text": text}] if text is not None else []
        return self._add({"role": "user", "content": [*parts, part]})

    def message(self, message: Any) -> RequestBuilder:
        """Any one message, as ``chat()`` takes them (a dict or a ``Message``)."""
        return self._add(message)

    def messages(self, messages: Sequence[Any]) -> RequestBuilder:
        """Several messages at once (an earlier conversation), appended in order."""
        return self._with(messages=(*self._messages, *messages))

    # ------------------------------------------------------------------ options

    def tools(self, tools: ToolsInput) -> RequestBuilder:
        return self._set("tools", list(tools))

    def tool_choice(self, choice: ToolChoiceInput) -> RequestBuilder:
        return self._set("tool_choice", choice)

    def temperature(self, value: float) -> RequestBuilder:
        return self._set("temperature", value)

    def max_tokens(self, value: int) -> RequestBuilder:
        return self._set("max_tokens", value)

    def top_p(self, value: float) -> RequestBuilder:
        return self._set("top_p", value)

    def stop(self, stop: str | Sequence[str]) -> RequestBuilder:
        return self._set("stop", stop)

    def reasoning(self, reasoning: ReasoningInput) -> RequestBuilder:
        """``reasoning=`` of ``chat()``: an effort (``"low"``...), a token budget or a dict."""
        return self._set("reasoning", reasoning)

    def response_format(self, response_format: ResponseFormatInput) -> RequestBuilder:
        """``response_format=`` of ``chat()``; a pydantic model, dataclass or TypedDict
        makes ``send().parsed`` its validated instance."""
        return self._set("response_format", response_format)

    def user_id(self, user: str) -> RequestBuilder:
        """``user=`` of ``chat()``: who the call is for (their stored key, quotas...)."""
        return self._set("user", user)

    def metadata(self, metadata: Mapping[str, Any]) -> RequestBuilder:
        return self._set("metadata", metadata)

    def timeout(self, timeout: TimeoutInput) -> RequestBuilder:
        return self._set("timeout", timeout)

    def options(self, **options: Any) -> RequestBuilder:
        """Any ``chat()`` options (``extra_body=``, ``extra_headers=``...), by name; a
        name ``chat()`` does not take is its ``TypeError`` at :meth:`send`."""
        out = self
        for name, value in options.items():
            out = out._set(name, value)
        return out

    # ------------------------------------------------------------------ sending

    def _arguments(self) -> tuple[str | None, list[Any], dict[str, Any]]:
        return self._model, list(self._messages), dict(self._options)

    def send(self) -> Any:
        """``client.chat(...)`` with what was built: a ``ChatResponse``, or with an
        ``AsyncClient`` an awaitable of one."""
        model, messages, options = self._arguments()
        return self._client.chat(model, messages, **options)

    def stream(self) -> Any:
        """``client.stream(...)`` with what was built: a ``ChatStream`` to use in
        ``with``, or with an ``AsyncClient`` an ``AsyncChatStream`` for ``async with``."""
        model, messages, options = self._arguments()
        return self._client.stream(model, messages, **options)

    def __repr__(self) -> str:
        # Values of options that may carry credentials or personal data are not shown.
        shown = ", ".join(
            f"{k}=..." if k in _SECRET_OPTIONS else f"{k}={v!r}"
            for k, v in self._options
            if k != "system"
        )
        model = self._model if self._model is not None else "(default)"
        roles = ",".join(
            str(m.get("role")) if isinstance(m, dict) else str(getattr(m, "role", "?"))
            for m in self._messages
        )
        system = ", system=..." if any(k == "system" for k, _ in self._options) else ""
        extra = f", {shown}" if shown else ""
        return f"RequestBuilder(model={model!r}, messages=[{roles}]{system}{extra})"
