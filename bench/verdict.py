"""The run's verdict: what makes `make bench` exit 1 (bench/flash_sale.py).

An oversell, a lost purchase, a broken invariant, a rejected purchase request,
a figure that would not mean what it says, or a bare stack that could not be
measured when asked for.
"""


def verdict(result: dict) -> list[str]:
    failures = []
    if result["oversold"]:
        failures.append(f"{result['oversold']} seats oversold")
    if result["lost"]:
        failures.append(f"{result['lost']} purchases lost (missing or never final)")
    if result["rejected"]:
        failures.append(f"{result['rejected']} purchase requests were not answered")
    if not result["audit_ok"]:
        broken = [
            f"{phase}: {name}"
            for phase, audit in result["audits"].items()
            for name, ok in audit["checks"].items()
            if not ok
        ]
        failures.append("invariants broken: " + ", ".join(broken))
    failures += phase_failures(result)
    failures += calibration_failures(result.get("calibration"))
    return failures


def phase_failures(result: dict) -> list[str]:
    """A figure that would not mean what it says: the worker consumed while paused,
    the drain never ended, a buyer of the opening never knew where it stood."""
    failures = []
    accept_only = result.get("accept_only") or {}
    if accept_only.get("decided_before_drain"):
        failures.append(
            f"accept only: {accept_only['decided_before_drain']} purchases decided while the "
            "pipeline was paused"
        )
    if accept_only.get("pending_left"):
        failures.append(f"accept only: {accept_only['pending_left']} purchases never drained")
    opening = result.get("opening") or {}
    if opening.get("never_knew"):
        failures.append(f"opening: {opening['never_knew']} buyers never knew where they stood")
    return failures


def calibration_failures(calibration: dict | None) -> list[str]:
    if calibration is None:
        return []
    if calibration.get("error"):
        return [f"calibration not measured: {calibration['error']}"]
    failures = []
    if calibration["rejected"]:
        failures.append(f"calibration: {calibration['rejected']} POSTs not accepted")
    if calibration["pending_left"]:
        failures.append(f"calibration: {calibration['pending_left']} purchases never drained")
    return failures
