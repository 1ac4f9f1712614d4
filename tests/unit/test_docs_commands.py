"""Every `invoke ...` command line that README.md and docs/ show parses with the current tasks and options, so the
docs cannot drift from the command line."""

from __future__ import annotations

import re
import shlex

import pytest
from invoke.exceptions import ParseError
from invoke.parser.context import ParserContext
from invoke.parser.parser import Parser
from invoke.program import Program

import tasks
from devkit.core.project import ROOT

DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Where a command line ends inside a shell snippet.
_END = re.compile(r"\s(?:\||;|&&|#|>|2>)\s|\)|`|$")
# A placeholder the reader replaces (N, NAME, FILE, <client-id>, ...); it stands for any value, so it parses as one.
_PLACEHOLDER = re.compile(r"^(?:[A-Z][A-Z_]*|<[^>]*>|\.\.\.)$")


def command_lines(text: str) -> list[str]:
    """The words after `invoke` of every command line in a Markdown text's code (spans and fenced blocks)."""
    code = re.findall(r"```[^\n]*\n(.*?)```", text, flags=re.S) + re.findall(r"`([^`\n]+)`", text)
    found = []
    for snippet in code:
        # `invoke` that starts a command: at the start of a line, after `uv run`, or in `$(...)`.
        for match in re.finditer(
            r"(?:^|\brun\s|\$\()invoke((?:\s[^\n]*)?)$", snippet.replace("\\|", "|"), flags=re.M
        ):
            rest = match.group(1)
            found.append(rest[: _END.search(rest).start()].strip())  # type: ignore[union-attr]
    return found


def words_of(line: str) -> list[str]:
    """The words invoke would get, with [optional] brackets dropped, a|b alternatives as their first and
    placeholders as a value."""
    try:
        words = shlex.split(line)
    except ValueError:
        words = line.split()
    plain = [word.strip("[]") for word in words if word.strip("[]")]
    # A line on any task (`invoke TASK --help`) is checked on one.
    plain[:1] = ["up" if _PLACEHOLDER.match(word) else word for word in plain[:1]]
    return ["1" if _PLACEHOLDER.match(word) else word.split("|")[0] for word in plain]


def parse(words: list[str]) -> None:
    program = Program(namespace=tasks.ns, name="invoke", binary="invoke")
    parser = Parser(initial=ParserContext(args=program.core_args()), contexts=tasks.ns.to_contexts())
    parser.parse_argv(words)


DOCUMENTED = [
    pytest.param(line, id=f"{path.name}: invoke {line}")
    for path in DOCUMENTS
    for line in command_lines(path.read_text())
]


def test_the_docs_show_command_lines() -> None:
    assert len(DOCUMENTED) > 40


@pytest.mark.parametrize("line", DOCUMENTED)
def test_a_documented_command_line_parses(line: str) -> None:
    words = words_of(line)
    if len(words) == 1 and not words[0].startswith("-"):
        # A task named in prose (`invoke call`): it exists, as a task or a namespace.
        assert words[0] in {*tasks.ns.task_names, *tasks.ns.collections}, f"no task {words[0]!r}"
    else:
        parse(words)


def test_a_command_line_with_an_unknown_option_is_refused() -> None:
    # Given a documented line with an option no task has, Then parsing refuses it (so the test above can fail)
    (line,) = command_lines("Run `uv run invoke up --engine localstack` first.")
    with pytest.raises(ParseError):
        parse(words_of(line))
