"""Whether a listener stays on this machine: our rule is that nothing beyond loopback listens
without credentials, so every command that binds asks this first."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address, ``localhost`` or ZeroMQ's ``lo``) is this machine alone."""
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host in ("localhost", "lo")


def endpoint_is_local(endpoint: str) -> bool:
    """A ZeroMQ endpoint that only this machine can reach: ``ipc://``, ``inproc://`` or loopback."""
    transport, _, address = endpoint.partition("://")
    if transport != "tcp":
        return transport in ("ipc", "inproc")
    return is_loopback(address.rpartition(":")[0])
