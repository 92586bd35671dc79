"""One ed25519 SSH key pair per stack, kept as a 0600 file and exported as a secret output."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hostbench.paths import private_stack_dir, stack_state_dir


@dataclass(frozen=True)
class StackKey:
    private_path: Path
    private_openssh: str
    public_openssh: str


def key_path(stack: str) -> Path:
    return stack_state_dir(stack) / "id_ed25519"


def known_hosts_file(stack: str) -> Path:
    """The host keys of the stack's environments, pinned when each was first reached."""
    return stack_state_dir(stack) / "known_hosts"


def _public_of(private_pem: bytes, comment: str) -> str:
    key = serialization.load_ssh_private_key(private_pem, password=None)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode()
    return f"{public} {comment}"


def ensure_stack_key(stack: str) -> StackKey:
    """Create the stack's key on first use; later calls return the same key."""
    path = key_path(stack)
    if not path.exists():
        private_stack_dir(stack)
        private = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(private)
    os.chmod(path, 0o600)
    private_bytes = path.read_bytes()
    public = _public_of(private_bytes, f"hostbench-{stack}")
    path.with_suffix(".pub").write_text(public + "\n")
    return StackKey(path, private_bytes.decode(), public)
