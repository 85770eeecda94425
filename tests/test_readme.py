"""Every ``rollbook …`` command the README shows exists, and every flag it shows with it is one
the command takes: each documented command path is asked for its ``--help`` (through Typer's
CliRunner) and each documented ``--flag`` must appear in that help (issue 17, item 7)."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from rollbook.cli import app

from .conftest import REPO

README = REPO / "README.md"
SNIPPET = re.compile(r"`(rollbook [^`]+)`")
FLAG = re.compile(r"--[a-z][a-z0-9-]*")
PLACEHOLDER = re.compile(r"^[a-z][a-z-]*$")  # a subcommand's spelling; ID, BUNDLE… are not


def documented() -> list[str]:
    """The README's ``rollbook …`` commands: in backquotes, or lines of its code blocks."""
    text = README.read_text(encoding="utf-8")
    found = [s.replace("\\|", "|") for s in SNIPPET.findall(text)]
    in_code = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif in_code and line.strip().startswith("rollbook "):
            found.append(line.split("#")[0].strip())
    return list(dict.fromkeys(found))


def command_paths(snippet: str) -> list[list[str]]:
    """The command paths a snippet names: ``rollbook run show|approve ID`` → [run, show] and
    [run, approve]. A word that is not a subcommand of a group is an error (AssertionError)."""
    root = typer.main.get_command(app)
    paths: list[list[str]] = [[]]
    for token in snippet.split()[1:]:
        names = [n.strip("[]") for n in token.split("|")]
        groups = [_command(root, p) for p in paths]
        if not all(hasattr(g, "commands") for g in groups):  # a group of subcommands
            break  # the commands are found: the rest are their arguments and options
        if not all(PLACEHOLDER.match(n) for n in names):
            break
        for group, path in zip(groups, paths, strict=True):
            unknown = [n for n in names if n not in group.commands]
            assert not unknown, f"{snippet}: no command {' '.join(['rollbook', *path])} {unknown}"
        paths = [[*p, n] for p in paths for n in names]
    assert all(paths), f"{snippet}: names no command"
    return paths


def _command(root, path: list[str]):
    command = root
    for name in path:
        command = command.commands[name]
    return command


@pytest.mark.parametrize("snippet", documented())
def test_each_documented_command_parses_with_its_flags(snippet):
    runner = CliRunner()
    flags = sorted(set(FLAG.findall(snippet)))
    for path in command_paths(snippet):
        shown = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "240", "NO_COLOR": "1"})
        assert shown.exit_code == 0, f"rollbook {' '.join(path)} --help: {shown.output}"
        missing = [f for f in flags if not re.search(rf"{re.escape(f)}(?![a-z0-9-])", shown.output)]
        assert not missing, f"{snippet}: rollbook {' '.join(path)} takes no {missing}"


def test_the_readme_documents_commands():
    """The parser above finds the README's commands (a README rewritten in another form
    would otherwise pass with nothing checked)."""
    snippets = documented()
    assert len(snippets) > 20
    assert any(s.startswith("rollbook sync ") and "--dry-run" in s for s in snippets)


def test_a_wrong_command_or_flag_is_caught():
    with pytest.raises(AssertionError, match="no command"):
        command_paths("rollbook merge undo|redo --district ID")
    with pytest.raises(AssertionError, match="takes no"):
        test_each_documented_command_parses_with_its_flags("rollbook runs --district ID --nope")
