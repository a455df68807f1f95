"""Benchmarks of runeq-fn against runeq 0.15.0: ``make bench`` (``python -m bench [NAME ...]``).

``benchmarks`` holds the work, ``harness`` the processes (``worker`` runs one client library,
``serve`` the emulator) and ``report`` the table and bench/RESULTS.md.
"""
