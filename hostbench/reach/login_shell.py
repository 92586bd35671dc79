"""One shell kept open in an environment for a whole run, which runs each command it is sent.

A new SSH session starts a new shell for every command: under emulation (a TCG VM) that is
about 50 ms a command beyond what the command itself takes. The shell here is the environment's
login shell, started once; each command runs in a subshell of it with the same wrapper as a
session's command (``hostbench.reach.executors``), and ends with a marker on stdout and stderr
carrying its exit status and a nonce the command cannot know, so its own output cannot end it.
"""

from __future__ import annotations

import re
import secrets
import select
import shlex
import time
from typing import Any

FUNCTION = "__hostbench_run"
_MARK = "__hostbench_end_"
START = 'exec "${0#-}" -s'
"""What the session runs: its login shell (sshd's ``$SHELL -c``) becomes one reading stdin."""


END = (f'printf "\\n{_MARK}%s=%s\\n" "$id" "$rc" >&2; '
       f'printf "\\n{_MARK}%s=%s\\n" "$id" "$rc"')
"""How a command run by ``FUNCTION`` ends, instead of exiting: its markers on stderr and stdout."""


def definition(body: str) -> str:
    """The shell function that runs one command: ``body`` (the timed wrapper ending with
    ``END``, its positional parameters the command's) in a subshell, its first parameter the
    command's nonce."""
    return f"{FUNCTION}() ( id=$1; shift; {body} )"


class ShellGone(EOFError):
    """The shell's session closed before the command's end marker arrived."""


class LoginShell:
    """The shell on an open paramiko Channel; one command at a time."""

    def __init__(self, channel: Any) -> None:
        self.channel = channel

    @classmethod
    def start(cls, transport: Any, function: str, timeout: float) -> LoginShell:
        channel = transport.open_session(timeout=timeout)
        channel.exec_command(START)
        channel.sendall((function + "\n").encode())
        return cls(channel)

    def run(self, args: list[str], deadline: float) -> tuple[str, str, int] | None:
        """stdout, stderr and exit status of ``FUNCTION args``; None once ``deadline`` (a
        monotonic time) passes without its end (the caller closes the shell)."""
        nonce = secrets.token_hex(8)
        self.channel.sendall(f"{FUNCTION} {shlex.join([nonce, *args])}\n".encode())
        marker = re.compile(rb"\n" + re.escape(f"{_MARK}{nonce}=".encode()) + rb"(\d+)\n")
        out, err = bytearray(), bytearray()
        while True:
            # paramiko queues what arrived before the end of the channel: seen ended before the
            # drain, nothing more will come after it
            ended = self.channel.closed or self.channel.eof_received
            self._drain(out, err)
            ends = marker.search(out), marker.search(err)
            if ends[0] and ends[1]:
                return (_text(out[:ends[0].start()]), _text(err[:ends[1].start()]),
                        int(ends[0].group(1)))
            if ended:
                raise ShellGone("the connection closed before the command finished")
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            select.select([self.channel], [], [], min(left, 0.5))

    def _drain(self, out: bytearray, err: bytearray) -> None:
        while self.channel.recv_ready():
            out += self.channel.recv(65536)
        while self.channel.recv_stderr_ready():
            err += self.channel.recv_stderr(65536)

    def close(self) -> None:
        """The session closed: the shell's input ends, which kills a command still running
        (its guard) and ends the shell."""
        self.channel.close()


def _text(data: bytearray) -> str:
    return data.decode("utf-8", "replace")
