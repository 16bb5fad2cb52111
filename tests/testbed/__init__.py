"""The testbed: real OpenSSH servers and real dockerd in containers on this machine.

Every container, network, volume and image it makes carries the
``io.regwiz.testbed`` label or the ``regwiz-testbed/`` name prefix, and it
removes only those. See README.md beside this file.
"""
