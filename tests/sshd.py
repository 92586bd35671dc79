"""A second sshd on this machine that plays a remote host: 127.0.0.1 only, its own port, host key
and authorized client key, started and stopped by the test that needs it."""

from __future__ import annotations

import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from hostbench.polling import wait_until

SSHD = "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Sshd:
    directory: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def client_key(self) -> Path:
        return self.directory / "client_ed25519"

    @property
    def host_key(self) -> Path:
        return self.directory / "host_ed25519"

    @property
    def destination(self) -> str:
        return "root@127.0.0.1"

    def new_host_key(self) -> None:
        """A host key of its own (a fresh one: the host "reinstalled")."""
        self.host_key.unlink(missing_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.host_key)],
                       check=True)

    def start(self) -> Sshd:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not self.host_key.exists():
            self.new_host_key()
        if not self.client_key.exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                            str(self.client_key)], check=True)
        authorized = self.directory / "authorized_keys"
        shutil.copy(self.client_key.with_suffix(".pub"), authorized)
        authorized.chmod(0o600)
        config = self.directory / "sshd_config"
        config.write_text(
            f"ListenAddress 127.0.0.1\nPort {self.port}\nHostKey {self.host_key}\n"
            f"AuthorizedKeysFile {authorized}\nPermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
            f"PidFile {self.directory / 'sshd.pid'}\nAllowStreamLocalForwarding yes\n"
            "AllowTcpForwarding yes\nMaxSessions 64\nMaxStartups 64\nStrictModes no\n"
            "Subsystem sftp internal-sftp\n")
        Path("/run/sshd").mkdir(exist_ok=True)  # its privilege-separation directory
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)],
                                     stderr=(self.directory / "sshd.log").open("ab"))
        if wait_until(self._accepts, 10, 0.05):
            return self
        raise RuntimeError(f"sshd did not listen on 127.0.0.1:{self.port}")

    def _accepts(self) -> bool:
        """sshd takes connections; raises if it exited."""
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"sshd exited: {(self.directory / 'sshd.log').read_text()}")
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            return False
        return True

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None
