"""Clients from an Ansible inventory, read by Ansible's own parser.

``ansible-inventory -i FILE --list [--limit PATTERN]`` does the reading (every inventory format and
plugin Ansible knows, its group and host variables merged as Ansible merges them) and the pattern
matching of ``--limit``; regwiz only maps each host's connection variables onto a client entry.
A password in the inventory is refused: secrets stay out of files, in environment variables that the
profile names (``password_env`` of a ``[[clients]]`` entry with the same host, or the inventory
variable ``regwiz_password_env``, which holds a variable's name, not a secret).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

from app.i18n import _
from app.profiles import ClientProfile
from app.session import SetupError

# Ansible's names for a host's connection, newest first (ansible_ssh_* are the old spellings).
_HOST = ("ansible_host", "ansible_ssh_host")
_PORT = ("ansible_port", "ansible_ssh_port")
_USER = ("ansible_user", "ansible_ssh_user")
_KEY = ("ansible_ssh_private_key_file", "ansible_private_key_file")
# Variables that hold a secret itself: refused.
SECRET_VARS = ("ansible_password", "ansible_ssh_pass", "ansible_ssh_password", "ansible_become_password",
               "ansible_become_pass", "ansible_sudo_pass", "ansible_sudo_password",
               "ansible_ssh_private_key_passphrase")
NOT_INSTALLED = ("reading an Ansible inventory needs Ansible's ansible-inventory command, which is not on PATH: "
                 "install Ansible (pip install ansible-core, or your system's ansible package), or list the "
                 "clients as [[clients]] in the profile")
TIMEOUT = 120  # seconds: dynamic inventory plugins may ask a cloud API


class InventoryError(SetupError):
    """The inventory cannot be used as given (exit 2: nothing was touched)."""


def ansible_inventory_command() -> str:
    found = shutil.which("ansible-inventory")
    if found is None:
        raise InventoryError(NOT_INSTALLED)
    return found


def read_inventory(path: str, limit: str | None = None) -> dict[str, Any]:
    """``ansible-inventory --list`` of ``path`` as JSON (``_meta.hostvars`` and the group tree)."""
    file = Path(path).expanduser()
    if not file.exists():
        raise InventoryError(_("--inventory {path}: no such file or folder: give the path of an Ansible "
                               "inventory").format(path=path))
    argv = [ansible_inventory_command(), "-i", str(file), "--list"]
    if limit:
        argv += ["--limit", limit]
    # Ansible warns on stderr about what it could not parse; only an unparsed inventory is fatal here.
    env = {**os.environ, "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True", "ANSIBLE_NOCOLOR": "1"}
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, env=env,
                              stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        raise InventoryError(_("ansible-inventory did not finish reading {path} in {seconds} s: check the "
                               "inventory (a dynamic inventory's source may not answer)").format(
                                   path=path, seconds=TIMEOUT)) from None
    if done.returncode != 0:
        said = " ".join(done.stderr.split())[-600:] or _("exit status {status}").format(status=done.returncode)
        raise InventoryError(_("ansible-inventory could not read {path}: {said}").format(path=path, said=said))
    try:
        data = json.loads(done.stdout)
    except ValueError:
        raise InventoryError(_("ansible-inventory printed no JSON for {path}: check its Ansible version").format(
            path=path)) from None
    if not isinstance(data, dict):
        raise InventoryError(_("ansible-inventory printed no inventory for {path}").format(path=path))
    return data


def host_names(data: dict[str, Any]) -> list[str]:
    """Every host under ``all``, in the inventory's order (a host in several groups once)."""
    seen: dict[str, None] = {}

    def walk(group: str, trail: tuple[str, ...]) -> None:
        node = data.get(group) or {}
        for host in node.get("hosts", []):
            seen.setdefault(host, None)
        for child in node.get("children", []):
            if child not in trail:  # Ansible refuses cycles; never loop on one anyway
                walk(child, (*trail, child))

    walk("all", ("all",))
    return list(seen)


def _first(variables: dict[str, Any], names: tuple[str, ...]) -> Any:
    return next((variables[n] for n in names if variables.get(n) not in (None, "")), None)


def _text(host: str, name: str, value: Any) -> str:
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise InventoryError(_("inventory host {host}: {name} must be a string (found {found})").format(
            host=host, name=name, found=type(value).__name__))
    text = str(value)
    if "{{" in text or "{%" in text:
        raise InventoryError(_("inventory host {host}: {name} is a Jinja template ({text}), which only Ansible "
                               "evaluates: give the value itself").format(host=host, name=name,
                                                                          text=repr(text[:60])))
    return text


def client_entry(host: str, variables: dict[str, Any], profile_clients: list[ClientProfile]) -> ClientProfile:
    """One inventory host as a [[clients]] entry; a password variable in the inventory is refused."""
    secrets = [name for name in SECRET_VARS if name in variables]
    if secrets:
        raise InventoryError(
            _("inventory host {host}: {variables} holds a password in a file, which regwiz refuses "
              "(secrets stay out of files): remove it, put the password in an environment variable, and name "
              "that variable with password_env (sudo_password_env for become) in the profile's [[clients]] entry "
              "for this host, or with the inventory variable regwiz_password_env (regwiz_sudo_password_env)").format(
                  host=host, variables=", ".join(secrets)))
    connection = variables.get("ansible_connection", "ssh")
    if connection not in ("ssh", "paramiko", "smart", "local"):
        raise InventoryError(_("inventory host {host}: {setting} is not SSH: regwiz reaches clients over SSH (or "
                               "this machine with ansible_connection=local)").format(
                                   host=host, setting=f"ansible_connection={connection}"))
    if connection == "local":
        return ClientProfile(host="", kind="local")
    address = _text(host, "ansible_host", _first(variables, _HOST) or host)
    port_value = _first(variables, _PORT)
    try:
        port = int(_text(host, "ansible_port", port_value)) if port_value is not None else 22
    except ValueError:
        raise InventoryError(_("inventory host {host}: ansible_port must be a number (found {found})").format(
            host=host, found=repr(str(port_value)[:20]))) from None
    user_value = _first(variables, _USER)
    key_value = _first(variables, _KEY)
    entry = ClientProfile(
        host=address, port=port, user=_text(host, "ansible_user", user_value) if user_value else "root",
        identity_file=str(Path(_text(host, "ansible_ssh_private_key_file", key_value)).expanduser())
        if key_value else None,
    )
    # Where the secrets come from: the profile's own entry for this host first, then the inventory's names.
    same = next((c for c in profile_clients if c.host == address and c.port == port), None)
    if same is not None:
        entry = replace(entry, kind=same.kind, password_env=same.password_env,
                        sudo_password_env=same.sudo_password_env, passphrase_env=same.passphrase_env,
                        identity_file=entry.identity_file or same.identity_file)
    for field_name in ("password_env", "sudo_password_env", "passphrase_env"):
        named = variables.get(f"regwiz_{field_name}")
        if named and getattr(entry, field_name) is None:
            setattr(entry, field_name, _text(host, f"regwiz_{field_name}", named))
    kind = variables.get("regwiz_client_kind")
    if kind:
        entry = replace(entry, kind=_text(host, "regwiz_client_kind", kind))
    return entry


def inventory_clients(path: str, limit: str | None, profile_clients: list[ClientProfile]) -> list[ClientProfile]:
    """The clients of an inventory (matching ``limit``, an Ansible host pattern) as [[clients]] entries."""
    data = read_inventory(path, limit)
    names = host_names(data)
    if not names:
        command = f"ansible-inventory -i {path} --graph"
        if limit:
            raise InventoryError(_("the inventory {path} has no hosts matching --limit {limit}: check the file "
                                   "({command} shows what Ansible reads)").format(path=path, limit=repr(limit),
                                                                                   command=command))
        raise InventoryError(_("the inventory {path} has no hosts: check the file ({command} shows what Ansible "
                               "reads)").format(path=path, command=command))
    hostvars = (data.get("_meta") or {}).get("hostvars") or {}
    return [client_entry(name, hostvars.get(name) or {}, profile_clients) for name in names]
