"""Runnable example: answers as validated Python objects (``response_format=`` a type).

    OPENAI_API_KEY=sk-... uv run python examples/structured_output.py
    LLMSWITCH_MODEL=anthropic/claude-haiku-4-5 uv run python examples/structured_output.py
    LLMSWITCH_MODEL=fake/echo uv run python examples/structured_output.py  # no key needed

The pydantic model's JSON schema goes to each provider in its own form (OpenAI's strict
``json_schema``, Anthropic's ``output_config.format``, Gemini's ``responseJsonSchema``,
...); the answer comes back as ``resp.parsed``, an instance of the model, or the call
raises ``StructuredOutputError`` naming the first field that does not fit. Needs
pydantic (``pip install pydantic``).
"""

from __future__ import annotations

import json
import os
import sys

from pydantic import BaseModel, Field

from llmswitch import Client, ConfigurationError, LLMError, StructuredOutputError
from llmswitch.messages import ChatRequest
from llmswitch.testing import FakeProvider

MODEL = os.environ.get("LLMSWITCH_MODEL", "openai/gpt-4o-mini")


class Country(BaseModel):
    name: str
    code: str = Field(description="ISO 3166-1 alpha-2")


class City(BaseModel):
    name: str
    population: int = Field(gt=0)
    country: Country
    nickname: str | None = None


def ask(client: Client, city: str) -> None:
    question = [{"role": "user", "content": f"Facts about {city}, as JSON."}]
    try:
        resp = client.chat(MODEL, messages=question, response_format=City)
    except StructuredOutputError as exc:  # the answer came, but does not fit City
        what = exc.field or "the answer is not JSON"  # field is None for text that is not JSON
        print(f"{city}: the answer does not fit: {what} ({len(exc.errors)} errors)")
        print(f"  as received: {exc.text}")
        return
    found: City = resp.parsed
    print(f"{found.name}, {found.country.name} ({found.country.code}): {found.population:,} people")


def scripted(request: ChatRequest) -> str:
    """What a model might answer, for fake/echo: the echo provider repeats the prompt,
    which is not JSON, so this example scripts a FakeProvider with JSON answers."""
    if "Atlantis" in str(request.messages[-1].content):
        city = {"name": "Atlantis", "population": 0, "country": {"name": "Atlantis", "code": "AT"}}
    else:
        city = {"name": "Paris", "population": 2102650, "country": {"name": "France", "code": "FR"}}
    return json.dumps(city)


def client_for(model: str) -> Client:
    if model.startswith("fake/"):
        print(f"({model}: scripted JSON answers stand in for a model)", file=sys.stderr)
        return Client(providers=[FakeProvider().respond_with(scripted)])
    return Client()


def main() -> int:
    with client_for(MODEL) as client:
        try:
            ask(client, "Paris")
            ask(client, "Atlantis")  # a model may well invent a population of 0

            # Streamed: the JSON arrives piece by piece, validated once it is complete.
            question = [{"role": "user", "content": "Facts about Paris, as JSON."}]
            with client.stream(MODEL, messages=question, response_format=City) as stream:
                received = "".join(stream.text_stream)
            print(f"streamed {len(received)} characters: {stream.response.parsed!r}")
        except ConfigurationError as exc:
            print(f"not configured: {exc}", file=sys.stderr)
            return 2
        except LLMError as exc:
            print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
