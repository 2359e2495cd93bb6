"""`make bench`: the flash-sale benchmark (see bench/README.md)."""
