"""The end-to-end baseline as a pyinfra deploy: the end state regwiz reaches on an ecs_conflict host
(whose dockerd cannot start: routes cover every default Docker pool) and a linux_client.

    pyinfra -y INVENTORY.py deploy.py      (end_to_end.py writes the inventory for each run)

On the group "registry":
1. free address ranges for dockerd in /etc/docker/daemon.json, docker restarted and enabled;
2. registry:2 uploaded from this machine (the host has no Docker Hub): docker save, put, docker load;
3. a CA and a server certificate for the host's address and an htpasswd (bcrypt) user, made here
   (the same small script the Ansible baseline runs), put with modes 0644/0600;
4. the registry container with TLS and htpasswd auth, restart policy always, port 5000.
Then every host waits until the registry answers, and the group "clients" trusts the CA, logs in,
pushes a small test image and pulls it back.

pyinfra runs each host's operations in order and each operation on all of its hosts at once; operations
of different branches are only ordered among themselves by position, so the wait (one operation for
all hosts) is what keeps the client's login after the registry's start.
Values come from the inventory's data (work_dir, registry_image, registry_user) and $REGISTRY_PASSWORD.
"""

import importlib.util
import json
import os
from io import StringIO
from pathlib import Path

from pyinfra import host, inventory, local
from pyinfra.operations import docker, files, server, systemd

WORK = Path(host.data.work_dir)
SECRETS = WORK / "secrets"
USER = host.data.registry_user
PASSWORD = os.environ["REGISTRY_PASSWORD"]
REGISTRY_HOST = inventory.get_group("registry")[0].name
REGISTRY = f"{REGISTRY_HOST}:5000"

# Made here, on the controller, while pyinfra prepares the operations. This file runs once per host:
# the second time, the files are there and nothing is made again.
_spec = importlib.util.spec_from_file_location(
    "make_secrets", Path(__file__).resolve().parent.parent / "ansible" / "files" / "make_secrets.py")
make_secrets = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_secrets)
make_secrets.make(SECRETS, REGISTRY_HOST, USER, PASSWORD)

if "registry" in host.groups:
    tarball = WORK / "registry.tar"
    if not tarball.exists():
        local.shell(f"docker save -o {tarball} {host.data.registry_image}")

    daemon_json = files.put(
        name="Give dockerd address ranges no route of the host covers",
        src=StringIO(json.dumps({"bip": "10.200.0.1/24",
                                 "default-address-pools": [{"base": "10.201.0.0/16", "size": 24}]}, indent=2) + "\n"),
        dest="/etc/docker/daemon.json",
        mode="644",
    )
    systemd.service(
        name="Start docker (restart it when daemon.json changed), also at boot",
        service="docker",
        running=True,
        restarted=daemon_json.did_change,
        enabled=True,
    )
    files.directory(name="Registry files' directory", path="/etc/docker-registry", mode="700")
    for filename, mode in (("server.crt", "644"), ("server.key", "600"), ("htpasswd", "600")):
        files.put(name=f"Registry file {filename}", src=str(SECRETS / filename),
                  dest=f"/etc/docker-registry/{filename}", mode=mode)
    files.put(name="Upload the registry image", src=str(tarball), dest="/var/tmp/registry.tar", mode="600")
    server.shell(
        name="Load it as registry:2",
        commands=[(f"docker image inspect registry:2 >/dev/null 2>&1 || {{ docker load -i /var/tmp/registry.tar"
                   f" && docker tag {host.data.registry_image} registry:2"
                   f" && docker rmi {host.data.registry_image}; }}")],
    )
    docker.container(
        name="Run the registry with TLS and htpasswd auth",
        container="registry",
        image="registry:2",
        ports=["5000:5000"],
        volumes=["/etc/docker-registry:/certs:ro", "/var/lib/registry:/var/lib/registry"],
        env_vars=["REGISTRY_HTTP_TLS_CERTIFICATE=/certs/server.crt", "REGISTRY_HTTP_TLS_KEY=/certs/server.key",
                  "REGISTRY_AUTH=htpasswd", "REGISTRY_AUTH_HTPASSWD_REALM=registry",
                  "REGISTRY_AUTH_HTPASSWD_PATH=/certs/htpasswd"],
        restart_policy="always",
    )

server.shell(
    name="Wait until the registry answers (401 without credentials)",
    commands=[(f'for i in $(seq 40); do code=$(curl -sk -o /dev/null -w "%{{http_code}}" https://{REGISTRY}/v2/);'
               ' [ "$code" = 401 ] && exit 0; sleep 0.25; done; echo "last answer: $code"; exit 1')],
)

if "clients" in host.groups:
    image = f"{REGISTRY}/baseline/hello:latest"
    files.put(name="Trust the registry's CA", src=str(SECRETS / "ca.crt"),
              dest=f"/etc/docker/certs.d/{REGISTRY}/ca.crt", mode="644")
    docker.login(name="Log in", server=REGISTRY, username=USER, password=PASSWORD)
    server.shell(
        name="Push a small test image (one file in one layer)",
        commands=[f"tar -C /etc -cf - hostname | docker import - {image}", f"docker push {image}",
                  f"docker rmi {image}"],
    )
    server.shell(name="Pull it back", commands=[f"docker pull {image}"])
