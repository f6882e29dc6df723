"""Prompt templates: the file forms, variable checks, and the sandbox (llmswitch.prompts.template)."""

from __future__ import annotations

import pytest

from llmswitch.errors import ConfigurationError, PromptError
from llmswitch.prompts import CompiledPrompt, PromptTemplate

SUPPORT = """
system = "You are a support agent for {{ product }}. Answer in {{ language }}."
model = "openai/gpt-4o-mini"
[defaults]
language = "English"
[options]
temperature = 0.2
max_tokens = 400
[[messages]]
role = "user"
content = "{{ question }}"
"""


def compiled(text: str) -> CompiledPrompt:
    return CompiledPrompt(PromptTemplate.from_toml(text))


def test_a_toml_prompt_renders_system_messages_and_keeps_its_defaults() -> None:
    prompt = compiled(SUPPORT)
    out = prompt.render({"product": "Acme", "question": "Where is my order?"})
    assert out.system == "You are a support agent for Acme. Answer in English."
    assert out.messages == [{"role": "user", "content": "Where is my order?"}]
    assert prompt.required == {"product", "question"} and prompt.known == {
        "product",
        "question",
        "language",
    }
    assert prompt.template.model == "openai/gpt-4o-mini"
    assert dict(prompt.template.options) == {"temperature": 0.2, "max_tokens": 400}
    # An optional variable given overrides its default.
    again = prompt.render({"product": "Acme", "question": "?", "language": "French"})
    assert again.system is not None and again.system.endswith("Answer in French.")


def test_a_text_file_is_one_user_message() -> None:
    prompt = CompiledPrompt(PromptTemplate.from_text("Summarise:\n{{ text }}\n"))
    assert prompt.render({"text": "a b c"}).messages == [
        {"role": "user", "content": "Summarise:\na b c\n"}
    ]
    assert prompt.render({"text": "x"}).system is None


@pytest.mark.parametrize(
    ("variables", "missing_or_unknown", "word"),
    [
        ({"question": "?"}, "product", "missing"),
        ({"product": "A"}, "question", "missing"),
        ({"product": "A", "question": "?", "lang": "fr"}, "lang", "unknown"),
        ({}, "product", "missing"),
    ],
)
def test_missing_and_unknown_variables_are_named(
    variables: dict[str, str], missing_or_unknown: str, word: str
) -> None:
    with pytest.raises(PromptError, match=f"{word} variable '{missing_or_unknown}'") as caught:
        compiled(SUPPORT).render(variables, "support")
    assert caught.value.variable == missing_or_unknown
    assert caught.value.prompt == "support" and caught.value.field == "variables"
    assert isinstance(caught.value, ConfigurationError)  # raised before any call, like bad input


def test_declared_variables_must_cover_what_the_templates_use() -> None:
    declared = 'variables = ["name"]\n[[messages]]\ncontent = "Hi {{ name }}, {{ mood }}"\n'
    with pytest.raises(PromptError, match="uses variable 'mood', which is not declared") as caught:
        compiled(declared)
    assert caught.value.variable == "mood"
    # Declared but not (yet) used: still required, so callers are checked against the contract.
    unused = 'variables = ["name", "extra"]\n[[messages]]\ncontent = "Hi {{ name }}"\n'
    with pytest.raises(PromptError, match="missing variable 'extra'"):
        compiled(unused).render({"name": "Al"})


def test_loops_filters_and_dict_access_work_on_the_values_passed() -> None:
    text = (
        '[[messages]]\ncontent = """{% for item in order["items"] %}- {{ item.name | upper }} '
        'x{{ item.qty }}\n{% endfor %}{{ range(3) | list | length }}"""\n'
    )
    out = compiled(text).render(
        {"order": {"items": [{"name": "pen", "qty": 2}, {"name": "ink", "qty": 1}]}}
    )
    assert out.messages[0]["content"] == "- PEN x2\n- INK x1\n3"


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ value.__class__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ lipsum.__globals__['os'] }}",
        "{{ value.__init__ }}",
        "{{ ('a' * 100000000) | length }}",
        "{{ 10 ** 100000000 }}",
        "{{ range(1000000000) | list }}",
        "{% set _ = items.append(4) %}{{ items }}",
        "{% set _ = table.update({'x': 1}) %}{{ table }}",
        "{{ table.clear() }}",
    ],
)
def test_sandbox_escapes_and_resource_bombs_raise_prompt_error(template: str) -> None:
    items, table = [1, 2, 3], {"k": "v"}
    prompt = CompiledPrompt(PromptTemplate.from_text(template))
    variables = {
        k: v for k, v in {"value": 1, "items": items, "table": table}.items() if k in prompt.known
    }
    with pytest.raises(PromptError):
        prompt.render(variables, "evil")
    assert items == [1, 2, 3] and table == {"k": "v"}  # the caller's values are never mutated


def test_a_syntax_error_names_the_part_and_line() -> None:
    bad = 'system = "ok"\n[[messages]]\ncontent = """line one\n{% if x %}never closed"""\n'
    with pytest.raises(PromptError, match=r"messages\[0\]: template syntax error on line 2"):
        compiled(bad)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nonsense = 1\n[[messages]]\ncontent='x'", "unknown key 'nonsense'"),
        ("[[messages]]\nrole='system'\ncontent='x'", "role must be 'user' or 'assistant'"),
        ("[[messages]]\nrole='user'\ncontent=''", "content must be a non-empty string"),
        ("model = ''\n[[messages]]\ncontent='x'", "model must be a non-empty string"),
        ("[options]\nseed=1\n[[messages]]\ncontent='x'", "options.seed is not an option"),
        (
            "[options]\nmax_tokens=0\n[[messages]]\ncontent='x'",
            "max_tokens must be a positive integer",
        ),
        ("[options]\ntemperature='hot'\n[[messages]]\ncontent='x'", "temperature must be a number"),
        ("variables = ['not a name']\n[[messages]]\ncontent='x'", "is not a variable name"),
        ("model = 'openai/x'", "needs a system part or messages"),
        ("system = ", "not valid TOML"),
    ],
)
def test_malformed_prompt_files_are_refused(text: str, message: str) -> None:
    with pytest.raises(PromptError, match=message):
        compiled(text)


@pytest.mark.parametrize(
    "content",
    [
        "plain",
        'quotes " and \'single\' and """triple""" and \\ backslash',
        "two\nlines\n",
        "\nstarts with a newline",
        'ends with a quote"',
        "tab\tand unicode: café — 東京 🚀",
        "control \x01 char\nand a newline",
        "{{ a }}\r\nwindows line end",
    ],
)
def test_toml_export_reads_back_to_the_same_content(content: str) -> None:
    template = PromptTemplate.from_content(
        {
            "system": content,
            "messages": [
                {"role": "user", "content": content},
                {"role": "assistant", "content": "ok"},
            ],
            "model": "anthropic/claude-sonnet-4-5",
            "options": {"temperature": 0.5, "stop": ["\n\n", "END"], "reasoning": "low"},
            "defaults": {"a": content},
        }
    )
    text = template.to_toml({"name": "x", "version": 3})
    back = PromptTemplate.from_toml(
        text
    )  # the [llmswitch] table is where it came from, not content
    assert back.to_content() == template.to_content()
    assert back.content_hash == template.content_hash


def test_the_content_hash_ignores_key_order_and_sees_every_change() -> None:
    one = PromptTemplate.from_content(
        {"system": "s", "messages": [{"role": "user", "content": "m"}]}
    )
    two = PromptTemplate.from_content(
        {"messages": [{"content": "m", "role": "user"}], "system": "s"}
    )
    three = PromptTemplate.from_content(
        {"system": "s ", "messages": [{"role": "user", "content": "m"}]}
    )
    assert one.content_hash == two.content_hash != three.content_hash
    assert len(one.content_hash) == 64
