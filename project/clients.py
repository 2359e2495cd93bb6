"""Who is asking: the client address every throttle, cap and idempotency scope uses.

It is REMOTE_ADDR, unless NUM_PROXIES says how many trusted reverse proxies
append to X-Forwarded-For: then it is the address the outermost trusted proxy
saw (that many hops from the right). Anything a client writes into the header
itself lies further left and is never believed.
"""

from django.conf import settings


def client_address(request) -> str:
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.NUM_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if not proxies or not forwarded:
        return remote
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    return hops[-min(proxies, len(hops))] if hops else remote
