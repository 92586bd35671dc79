"""The docs stay true to the code: every `fab` command they show exists with the options shown,
every page is linked from the README, and every relative link leads to a file (and heading)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostbench.paths import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"
DOCS = PROJECT_ROOT / "docs"
FENCE = re.compile(r"^```.*?$(.*?)^```", re.M | re.S)
INLINE = re.compile(r"`([^`]+)`")
FAB = re.compile(r"(?<![\w.-])fab[ \t]+(?P<task>[a-z][\w-]*)(?P<rest>[^\n#]*)")
OPTION = re.compile(r"(?<![\w-])(--[a-z][\w-]*)")
LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} (.+)$", re.M)


def pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def code_segments(text: str) -> Iterator[str]:
    """What a page shows as code: each command of a fenced block (an indented line that goes on
    with `[` or `--` continues the command above), and each inline span, even across lines."""
    for block in FENCE.findall(text):
        command = ""
        for line in block.splitlines():
            if line[:1].isspace() and line.lstrip().startswith(("[", "--")):
                command += " " + line.strip()
            else:
                yield command
                command = line
        yield command
    for span in INLINE.findall(FENCE.sub("", text)):
        yield span.replace("\n", " ")


def fab_tasks() -> dict[str, set[str]]:
    """Each task as `fab` sees it (fabfile.py loaded as a collection), with the flags it takes.
    Fabric and every command module are loaded here, not when each worker collects this file."""
    from invoke import Collection
    from invoke.parser import ParserContext

    import fabfile

    collection = Collection.from_module(fabfile)
    tasks = {}
    for name in collection.task_names:
        context = ParserContext(name=name, args=collection[name].get_arguments())
        tasks[name] = {*context.flags, *context.inverse_flags, "--help"}
    return tasks


def command_problems(text: str, tasks: dict[str, set[str]]) -> list[str]:
    problems = []
    for segment in code_segments(text):
        for match in FAB.finditer(segment):
            task, shown = match["task"], match.group(0).strip()
            if task not in tasks:
                problems.append(f"{shown}: fab has no task {task!r}")
                continue
            problems += [f"{shown}: fab {task} has no option {option}"
                         for option in OPTION.findall(match["rest"]) if option not in tasks[task]]
    return problems


def test_every_fab_command_shown_names_a_task_and_options_it_takes() -> None:
    tasks = fab_tasks()
    problems = [f"{page.relative_to(PROJECT_ROOT)}: {problem}" for page in pages()
                for problem in command_problems(page.read_text(), tasks)]
    assert problems == []


def test_the_command_check_finds_a_task_or_option_that_does_not_exist() -> None:
    tasks = fab_tasks()
    text = ("Run `fab benchmark --stack lab --rounds 3`, then\n"
            "```\n.venv/bin/fab report [--run RUN]\n.venv/bin/fab calibrate [--suite quick]\n"
            "                        [--env bare]\n.venv/bin/fab teardown\n```\n")
    assert command_problems(text, tasks) == [
        "fab calibrate [--suite quick] [--env bare]: fab calibrate has no option --env",
        "fab teardown: fab has no task 'teardown'",
        "fab benchmark --stack lab --rounds 3: fab benchmark has no option --rounds"]


def test_every_docs_page_is_linked_from_the_readme() -> None:
    linked = {(README.parent / link.split("#")[0]).resolve()
              for link in LINK.findall(README.read_text())}
    assert [p.name for p in sorted(DOCS.glob("*.md")) if p.resolve() not in linked] == []


def github_anchor(heading: str) -> str:
    """The id GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(FENCE.sub("", page.read_text())):
        slug = github_anchor(heading)
        found.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
        seen[slug] = seen.get(slug, 0) + 1
    return found


def relative_links(page: Path) -> Iterator[tuple[str, Path, str]]:
    for link in LINK.findall(page.read_text()):
        if re.match(r"[a-z][a-z+.-]*:", link):
            continue
        path, _, anchor = link.partition("#")
        yield link, (page.parent / path).resolve() if path else page, anchor


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.name)
def test_every_relative_link_leads_to_a_file_and_heading(page: Path) -> None:
    broken = []
    for link, target, anchor in relative_links(page):
        if not target.exists():
            broken.append(f"{link}: no such file")
        elif anchor and target.suffix == ".md" and anchor not in anchors(target):
            broken.append(f"{link}: no such heading in {target.name}")
    assert broken == []

