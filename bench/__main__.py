"""``make bench``: runs every benchmark and writes bench/results.json (see bench/README.md)."""

from bench.runner import main

main()
