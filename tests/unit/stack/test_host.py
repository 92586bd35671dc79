"""A remote host over SSH, for real: a second sshd of this machine plays it."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from hostbench.errors import HostbenchError
from hostbench.paths import PROJECT_ROOT
from hostbench.stack.host import (
    HostCommandError,
    HostKeyChanged,
    HostUnreachable,
    LocalHost,
    RemoteHost,
    cpu_list,
    local_limits,
    remote_limits,
)
from tests.sshd import Sshd, free_port


def _host(sshd: Sshd, stack: str = "lab") -> RemoteHost:
    return RemoteHost(stack, sshd.destination, sshd.port, str(sshd.client_key))


def test_commands_arrive_with_their_arguments_intact(sshd):
    host = _host(sshd)
    tricky = ["it's", "a b", "$HOME", "`id`", "--", ";exit 3", ""]
    out = host.output(["sh", "-c", 'for a; do printf "[%s]" "$a"; done', "sh", *tricky])
    assert out == "".join(f"[{a}]" for a in tricky)
    assert LocalHost().output(["sh", "-c", 'printf "[%s]" "$1"', "sh", "it's"]) == "[it's]"


def test_first_contact_pins_the_host_key_and_a_changed_key_is_refused(fresh_sshd):
    sshd = fresh_sshd
    host = _host(sshd, "pinning")
    assert host.known_hosts.read_text() == ""
    host.output(["true"])
    pinned = host.known_hosts.read_text()
    assert f"[127.0.0.1]:{sshd.port}" in pinned and "ssh-ed25519" in pinned
    host.close()
    sshd.stop()
    sshd.new_host_key()  # the host was "reinstalled", or something else answers there
    sshd.start()
    with pytest.raises(HostKeyChanged, match=str(host.known_hosts).replace(".", r"\.")):
        _host(sshd, "pinning").output(["true"])
    with pytest.raises(HostKeyChanged):  # the daemons' transports use the same check
        _host(sshd, "pinning").docker()


def test_the_stack_config_keeps_agents_home_and_takes_the_users_ssh_config(sshd):
    host = _host(sshd)
    config = host.config_file.read_text()
    for line in ("ForwardAgent no", "StrictHostKeyChecking accept-new", "BatchMode yes",
                 f"IdentityFile {sshd.client_key}", f"Port {sshd.port}",
                 f"UserKnownHostsFile {host.known_hosts} ~/.ssh/known_hosts"):
        assert line in config.splitlines()
    assert config.rstrip().endswith("Include ~/.ssh/config")  # first value wins: ours first
    assert os.stat(host.ssh_command).st_mode & 0o777 == 0o700
    assert host.libvirt_uri == (f"qemu+ssh://root@127.0.0.1:{sshd.port}/system?command="
                                f"{str(host.ssh_command).replace('/', '%2F')}&no_tty=1")
    assert shlex.split(host.proxy_command("192.168.9.7", 22))[-3:] == [
        "-W", "192.168.9.7:22", "root@127.0.0.1"]


def test_limits_read_over_ssh_are_the_hosts(sshd):
    here = local_limits(Path("/var/lib/libvirt/images"))
    there = remote_limits(_host(sshd), Path("/var/lib/libvirt/images"))
    assert there == here  # the same machine, read two ways


def test_files_of_the_host_and_their_absence(sshd, tmp_path):
    host = _host(sshd)
    (tmp_path / "f").write_text("x y\n")
    assert host.read_text(str(tmp_path / "f")) == "x y\n"
    with pytest.raises(OSError, match="No such file"):
        host.read_text(str(tmp_path / "missing"))
    assert host.usable_cpus() == LocalHost().usable_cpus()


def test_an_unreachable_host_is_named(isolated_state):
    host = RemoteHost("lab", "root@127.0.0.1", free_port())
    with pytest.raises(HostUnreachable, match=r"cannot reach host root@127\.0\.0\.1:\d+ over SSH"):
        host.output(["true"])


def test_a_host_command_that_hangs_ends_naming_it():
    with pytest.raises(HostCommandError, match=r"this machine: sleep 30 did not finish in 0\.05 s"):
        LocalHost().output(["sleep", "30"], timeout=0.05)


def _control_path(host: RemoteHost) -> str:
    """The control socket OpenSSH itself resolves from the stack's config (no connection)."""
    resolved = subprocess.run(host.ssh_argv("-G", host.destination), capture_output=True,
                              text=True, check=True).stdout
    return next(line.split(" ", 1)[1] for line in resolved.splitlines()
                if line.startswith("controlpath "))


def test_two_stacks_on_one_host_port_and_user_have_a_control_socket_each(isolated_state):
    first, second = (RemoteHost(stack, "root@192.0.2.7", 2222) for stack in ("a", "b"))
    assert _control_path(first) != _control_path(second)
    assert _control_path(first) == _control_path(RemoteHost("a", "root@192.0.2.7", 2222))


def test_another_stack_exiting_mid_command_leaves_this_stacks_command_running(sshd):
    """Stack a runs a command on the host while a process of stack b (same host, port and user)
    connects and exits, ending its connection as every hostbench process does at exit."""
    first = _host(sshd, "a")
    outcome: list[object] = []

    def long_command() -> None:
        try:
            outcome.append(first.output(["sh", "-c", "sleep 3; echo done"]))
        except Exception as exc:
            outcome.append(exc)

    command = threading.Thread(target=long_command)
    command.start()
    other = ("import sys; from hostbench.stack.host import host_for; "
             "host_for('b', sys.argv[1], int(sys.argv[2]), sys.argv[3]).output(['true'])")
    subprocess.run([sys.executable, "-c", other, sshd.destination, str(sshd.port),
                    str(sshd.client_key)], check=True, timeout=60, cwd=PROJECT_ROOT)
    command.join(60)
    assert outcome == ["done\n"]


def test_an_option_is_no_destination(isolated_state):
    with pytest.raises(Exception, match="not an SSH destination"):
        RemoteHost("lab", "-oProxyCommand=touch /tmp/x")


def test_cpu_lists():
    assert cpu_list("0-3,6") == {0, 1, 2, 3, 6}
    assert cpu_list("1\n") == {1}


def test_the_users_ssh_config_names_the_host(sshd, tmp_path, monkeypatch):
    """An alias of the user's config, with its address, port, user and identity file, is all a
    stack needs to name (the user's file stands in for ~/.ssh/config)."""
    user_config = tmp_path / "config"
    user_config.write_text(f"Host lab-alias\n  HostName 127.0.0.1\n  Port {sshd.port}\n"
                           f"  User root\n  IdentityFile {sshd.client_key}\n")
    monkeypatch.setattr("hostbench.stack.host.USER_SSH_CONFIG", str(user_config))
    host = RemoteHost("aliased", "lab-alias")
    assert host.output(["id", "-un"]) == "root\n"
    assert host.libvirt_uri.startswith("qemu+ssh://lab-alias/system?")


@pytest.mark.parametrize("identity", ["/keys/a\nProxyCommand touch /tmp/pwned", "/keys/a\tb",
                                      '/keys/"a'])
def test_a_path_that_would_change_the_ssh_config_is_refused_naming_its_key(isolated_state,
                                                                           identity):
    with pytest.raises(HostbenchError, match="hostbench:host_identity_file") as info:
        RemoteHost("lab", "root@127.0.0.1", 22, identity)
    assert repr(identity) in str(info.value)


def test_paths_with_spaces_are_quoted_in_the_ssh_config(tmp_path, monkeypatch):
    monkeypatch.setenv("HOSTBENCH_STATE_DIR", str(tmp_path / "state dir"))
    host = RemoteHost("lab", "root@127.0.0.1", 22, str(tmp_path / "my keys" / "id"))
    seen = subprocess.run([*host.ssh_argv("-G"), "root@127.0.0.1"], capture_output=True,
                          text=True, check=True).stdout.splitlines()
    assert f"identityfile {tmp_path / 'my keys' / 'id'}" in seen
    assert f'UserKnownHostsFile "{host.known_hosts}" ~/.ssh/known_hosts' in (
        host.config_file.read_text().splitlines())
