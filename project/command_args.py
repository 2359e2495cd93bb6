"""Argument types the operators' management commands share."""

import argparse


def positive_int(value: str) -> int:
    """A whole number above zero; anything else is a clear usage error."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, not {value!r}")
    return number
