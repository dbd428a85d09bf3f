"""Congestion control for the proxy's connections to a backend on the same host.

Linux's bbr paces a connection's sends: without the fq qdisc, the kernel holds packets back with
a timer per burst, and sends the rest from that timer. That spacing protects a network path from
bursts; over loopback there is no path, and bulk sends to a backend are cut into timer-driven
bursts for nothing. Where bbr is the host's default (as on our bench machines), a backend
connection to a loopback address is switched to reno, which sends as the window allows
(``c.ServerProxy.loopback_congestion_control`` names another, or turns this off).
Uploads and large websocket messages gain from it; downloads and short messages are unchanged:
a download's bulk direction is the backend's own socket, and a short message waits on no pacing
(bench/README.md, "Design measurements"). Client connections are left alone: switching them
changed nothing measurable.

Rules:
- Only connections we open, only to loopback addresses (127.0.0.0/8, ::1, and ::ffff:127.x): a
  backend on another host keeps the host's choice, and so does every client connection.
- Only our sending direction changes: the backend's answers follow its own socket's setting.
- Only a pacing control (bbr) is replaced; reno is always allowed to unprivileged processes
  (``net.ipv4.tcp_allowed_congestion_control`` always holds it). Where the option is missing or
  refused, the connection stays as it was: this is a speed-up, never a condition.
- The replacement is configurable, and an empty name turns the tuning off. A name the kernel
  refuses is reported once, when the setting is read (``refusal``), not per connection.
"""

from __future__ import annotations

import ipaddress
import socket

_OPTION = getattr(socket, "TCP_CONGESTION", None)  # Linux only
#: Congestion controls that pace (their names start so: bbr, and bbr2/bbr3 where patched in).
_PACING = b"bbr"
#: The default replacement: plain window-driven sending, available on every Linux.
DEFAULT = "reno"
_NAME_MAX = 16  # TCP_CA_NAME_MAX, with the terminating NUL


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address as ``getpeername`` gives it) is this host's loopback."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def refusal(name: str) -> str | None:
    """Why ``name`` cannot replace a pacing control here, or None if it can (or is empty: no
    tuning). Tried on a throwaway socket, so the answer is the kernel's, for this process's
    privileges; where the platform has no such option, any name is accepted and does nothing."""
    if not name:
        return None
    encoded = name.encode("ascii", "replace")
    if not name.isascii() or not name.isprintable() or len(encoded) >= _NAME_MAX:
        return f"{name!r} is not a congestion control name (printable ASCII, at most 15 chars)"
    if _OPTION is None:
        return None
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.setsockopt(socket.IPPROTO_TCP, _OPTION, encoded)
        except OSError as e:
            return (
                f"the kernel refuses congestion control {name!r} ({e.strerror}); see "
                "net.ipv4.tcp_allowed_congestion_control"
            )
    return None


def unpaced_to_loopback(sock: socket.socket | None, replacement: str) -> None:
    """Replace a pacing congestion control on ``sock`` (a connected TCP socket, or asyncio's
    wrapper of one, which has the same methods) with ``replacement`` when its peer is a loopback
    address. An empty ``replacement`` leaves every socket as it is."""
    if not replacement or _OPTION is None or sock is None:
        return
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    try:
        if not is_loopback(sock.getpeername()[0]):
            return
        if sock.getsockopt(socket.IPPROTO_TCP, _OPTION, _NAME_MAX).startswith(_PACING):
            sock.setsockopt(socket.IPPROTO_TCP, _OPTION, replacement.encode("ascii"))
    except OSError:
        pass  # not connected any more, or the kernel refused: the connection works as it is
