"""Benchmarks: figures for BENCHMARKS.md, each a ratio to a floor measured in the same run.

Run ``python -m bench [name ...]`` (or ``make bench``). Not tests: nothing here asserts a time.
"""
