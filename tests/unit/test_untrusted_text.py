"""Text from tools, environments and error messages reaches the terminal as text: never as rich
markup, and without raw control characters."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from rich.table import Table

from hostbench.analysis.fleet import HostColumn
from hostbench.commands.fleet import Member, _table
from hostbench.console import run_cli, untrusted
from hostbench.errors import HostbenchError
from hostbench.report.fleet_report import hosts_table
from hostbench.report.tables import facts_table, failures_table
from hostbench.run.facts import EnvFacts
from hostbench.run.parity import ParityCheck
from tests.unit.fakes import FakeHost, fake_targets, load
from tests.unit.run.test_runner import _run

HOSTILE = ("tool said [/x] [bold]b[/] [link=http://evil.invalid]click[/link] "
           "\x1b[2J\x1b]8;;http://evil.invalid\x07here\x1b]8;;\x07")
"""A closing tag that opens nothing (MarkupError), markup, a link, and raw escape sequences
(clear the screen; an OSC 8 hyperlink)."""


def assert_text(shown: str) -> None:
    """``shown`` (wrapped anywhere) holds the hostile text literally, and no control character
    of it."""
    joined = "".join(shown.split())
    assert "[/x][bold]b[/][link=http://evil.invalid]click[/link]" in joined
    assert "\x1b" not in shown and "\x07" not in shown
    assert "\\x1b[2J" in joined


def rendered(renderable: object) -> str:
    out = io.StringIO()
    Console(file=out, width=400).print(renderable)
    return out.getvalue()


def test_untrusted_text_is_literal_and_shows_control_characters_escaped():
    assert_text(rendered(untrusted(HOSTILE)))
    assert untrusted("a\tb\nc").plain == "a\tb\nc"


def test_an_error_message_is_printed_as_text(capsys):
    def fail() -> None:
        raise HostbenchError(HOSTILE)

    with pytest.raises(SystemExit) as info:
        run_cli(fail)
    assert info.value.code == 1
    assert_text(capsys.readouterr().err)


def test_a_failed_trials_error_is_printed_as_text(tmp_path: Path):
    targets = load(fake_targets(tmp_path)).targets
    host = FakeHost(fail={"vm": lambda n: HostbenchError(HOSTILE) if n == 1 else None})
    saved, ctx = _run(tmp_path, targets, host, ["cpu-sysbench"], warmup=0, repeat=1)
    assert [t.status for t in saved if t.env == "vm"] == ["failed"]
    out = ctx.console.file
    assert isinstance(out, io.StringIO)
    assert_text(out.getvalue())


def _facts() -> EnvFacts:
    return EnvFacts(nproc=1, memtotal_kib=1024, kernel=HOSTILE, os_release=HOSTILE)


@pytest.mark.parametrize("table", [
    lambda: facts_table({"vm": _facts()}, {}),
    lambda: failures_table([ParityCheck(fact="kernel", env="vm", expected="6.1",
                                        actual=HOSTILE, ok=False, rule="same")]),
    lambda: hosts_table([HostColumn("r", "lab", "lab1", HOSTILE, HOSTILE, HOSTILE, "kvm",
                                    "ok")]),
])
def test_facts_read_from_a_host_are_table_text(table):
    assert_text(rendered(table()))


def test_a_fleet_members_last_line_is_table_text(tmp_path: Path):
    log = tmp_path / "lab.log"
    log.write_text("starting\n" + HOSTILE.replace("\x1b[2J", "") + "\n")
    shown: Table = _table("benchmark", [Member("lab", [], log, tmp_path / "lab.result.jsonl")])
    text = rendered(shown).replace("\n", "").replace("│", "").replace(" ", "")
    assert "[/x][bold]b[/]" in text and "\x1b" not in text and "\x07" not in text
