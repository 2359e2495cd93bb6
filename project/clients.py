"""Who is asking: the client address every throttle, cap and idempotency scope uses.

It is REMOTE_ADDR, unless the request comes from one of TRUSTED_PROXIES
(addresses or networks) and NUM_PROXIES says how many trusted reverse proxies
append to X-Forwarded-For: then it is the address the outermost trusted proxy
saw (that many hops from the right). Anything a client writes into the header
itself lies further left and is never believed; a caller that is not a trusted
proxy is not believed at all; a value that is not an IP address is ignored.
"""

import ipaddress
from functools import lru_cache

from django.conf import settings


def client_address(request) -> str:
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.NUM_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if not proxies or not forwarded or not _trusted(remote, tuple(settings.TRUSTED_PROXIES)):
        return remote
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    if not hops:
        return remote
    reported = hops[-min(proxies, len(hops))]
    return reported if _is_address(reported) else remote


@lru_cache(maxsize=8)
def trusted_networks(proxies: tuple[str, ...]) -> tuple:
    """TRUSTED_PROXIES as networks; a value that is neither an address nor a
    network raises ValueError (settings check them at start-up)."""
    return tuple(ipaddress.ip_network(proxy.strip(), strict=False) for proxy in proxies)


def _trusted(remote: str, proxies: tuple[str, ...]) -> bool:
    if not proxies or not _is_address(remote):
        return False
    address = ipaddress.ip_address(remote)
    return any(address in network for network in trusted_networks(proxies))


def _is_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
