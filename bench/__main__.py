"""``make bench`` / ``python -m bench``: runs every benchmark (see bench/runner.py)."""

from bench.runner import main

main()
