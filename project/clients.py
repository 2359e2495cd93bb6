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
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if not forwarded or not from_trusted_proxy(request):
        return remote
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    if not hops:
        return remote
    reported = hops[-min(settings.NUM_PROXIES, len(hops))]
    return reported if _is_address(reported) else remote


def from_trusted_proxy(request) -> bool:
    """Whether the request comes from one of TRUSTED_PROXIES, with NUM_PROXIES
    saying proxies stand in front: only then is a header a proxy sets
    (X-Forwarded-For, X-Request-ID) believed."""
    return bool(settings.NUM_PROXIES) and _trusted(
        request.META.get("REMOTE_ADDR", ""), tuple(settings.TRUSTED_PROXIES)
    )


@lru_cache(maxsize=8)
def trusted_networks(proxies: tuple[str, ...]) -> tuple:
    """TRUSTED_PROXIES as networks; a value that is neither an address nor a
    network raises ValueError (settings check them at start-up)."""
    return tuple(ipaddress.ip_network(proxy.strip(), strict=False) for proxy in proxies)


# A pure answer, asked on every request a proxy forwards (X-Forwarded-For,
# X-Request-ID): the few proxies' addresses are parsed once, not each time.
@lru_cache(maxsize=256)
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
