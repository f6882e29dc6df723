"""The network guard behind :func:`llmswitch.testing.block_network` (see there)."""

from __future__ import annotations

import functools
import inspect
import ipaddress
import socket
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

__all__ = ["NetworkAccessError", "block_network"]


class NetworkAccessError(AssertionError):
    """Code under :class:`block_network` tried to reach a non-loopback address."""

    def __init__(self, target: str, via: str) -> None:
        self.target = target
        self.via = via
        super().__init__(
            f"network access to {target} blocked ({via}): tests must not leave the machine; "
            "use llmswitch.testing.FakeProvider or a loopback server"
        )


_F = TypeVar("_F", bound=Callable[..., Any])
_SOCKET_METHODS = ("connect", "connect_ex", "sendto")
_MODULE_FUNCTIONS = ("create_connection", "getaddrinfo", "gethostbyname", "gethostbyname_ex")
_INET = (socket.AF_INET, socket.AF_INET6)
_MISSING = object()


class block_network:  # lower case: used like contextlib.suppress
    """Refuse connections, datagrams and name lookups beyond loopback.

    ``allow`` adds host names or IP networks (``"10.0.0.0/8"``) to loopback,
    ``localhost`` and unix sockets. ``blocked`` lists each refused target.
    Everything patched is restored on exit.
    """

    def __init__(self, allow: Iterable[str] = ()) -> None:
        self._allow = tuple(allow)
        self._names: set[str] = set()
        self._nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in self._allow:
            try:
                self._nets.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self._names.add(entry.rstrip(".").lower())
        self.blocked: list[str] = []
        self._saved: list[tuple[Any, str, Any]] = []

    # ---- policy

    def host_allowed(self, host: Any) -> bool:
        if host is None:
            return True  # getaddrinfo(None, port): the local wildcard/loopback address
        if isinstance(host, bytes):
            host = host.decode("ascii", "replace")
        if not isinstance(host, str):
            return False
        name = host.strip("[]").rstrip(".").lower()
        if name in ("", "localhost") or name in self._names:
            return True
        try:
            ip = ipaddress.ip_address(name)
        except ValueError:
            return False  # any other name: resolving it is already a lookup on the network
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        # Unspecified (0.0.0.0, ::) reaches this host only, never the network.
        return ip.is_loopback or ip.is_unspecified or any(ip in net for net in self._nets)

    def _refuse(self, target: str, via: str) -> None:
        __tracebackhide__ = True  # pytest: show the caller's line, not the guard's
        self.blocked.append(target)
        raise NetworkAccessError(target, via)

    def _check(self, family: int, address: Any, via: str) -> None:
        __tracebackhide__ = True
        if family not in _INET or not isinstance(address, tuple) or not address:
            return  # unix, netlink, ...: local by nature
        if not self.host_allowed(address[0]):
            host = address[0]
            target = f"[{host}]:{address[1]}" if ":" in str(host) else f"{host}:{address[1]}"
            self._refuse(target if len(address) > 1 else str(host), via)

    def _check_host(self, host: Any, port: Any, via: str) -> None:
        __tracebackhide__ = True
        if not self.host_allowed(host):
            self._refuse(f"{host}:{port}" if port is not None else str(host), via)

    # ---- patching

    def __enter__(self) -> block_network:
        if self._saved:
            raise RuntimeError("this block_network is already active; create a new one")
        guard, cls = self, socket.socket
        orig = {name: getattr(cls, name) for name in _SOCKET_METHODS}
        funcs = {name: getattr(socket, name) for name in _MODULE_FUNCTIONS}

        def connect(sock: socket.socket, address: Any) -> None:
            guard._check(sock.family, address, "socket.connect")
            orig["connect"](sock, address)

        def connect_ex(sock: socket.socket, address: Any) -> int:
            guard._check(sock.family, address, "socket.connect_ex")
            result: int = orig["connect_ex"](sock, address)
            return result

        def sendto(sock: socket.socket, data: Any, *args: Any) -> int:
            guard._check(sock.family, args[-1] if args else None, "socket.sendto")
            result: int = orig["sendto"](sock, data, *args)
            return result

        def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> Any:
            guard._check_host(address[0], address[1], "socket.create_connection")
            return funcs["create_connection"](address, *args, **kwargs)

        def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            guard._check_host(host, port, "socket.getaddrinfo")
            return funcs["getaddrinfo"](host, port, *args, **kwargs)

        def gethostbyname(host: str) -> Any:
            guard._check_host(host, None, "socket.gethostbyname")
            return funcs["gethostbyname"](host)

        def gethostbyname_ex(host: str) -> Any:
            guard._check_host(host, None, "socket.gethostbyname_ex")
            return funcs["gethostbyname_ex"](host)

        patched: dict[str, Any] = {
            "connect": connect, "connect_ex": connect_ex, "sendto": sendto,
            "create_connection": create_connection, "getaddrinfo": getaddrinfo,
            "gethostbyname": gethostbyname, "gethostbyname_ex": gethostbyname_ex,
        }  # fmt: skip
        for name in _SOCKET_METHODS:
            # Methods are inherited from _socket.socket: remember whether the class
            # itself defined one, so exit can delete ours instead of pinning a copy.
            self._saved.append((cls, name, cls.__dict__.get(name, _MISSING)))
            functools.update_wrapper(patched[name], orig[name])
            setattr(cls, name, patched[name])
        for name in _MODULE_FUNCTIONS:
            self._saved.append((socket, name, funcs[name]))
            functools.update_wrapper(patched[name], funcs[name])
            setattr(socket, name, patched[name])
        return self

    def __exit__(self, *exc_info: object) -> None:
        while self._saved:
            owner, name, value = self._saved.pop()
            if value is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, value)

    def __call__(self, func: _F) -> _F:
        """Decorate a function (sync or async): each call runs under a fresh guard."""
        allow = self._allow
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with block_network(allow):
                    return await func(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with block_network(allow):
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]
