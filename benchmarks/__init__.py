"""The performance benchmark of gjj-exchange (issue #7): ``python -m benchmarks.run``.

It generates its own data (:mod:`benchmarks.data`), measures every figure in a fresh
subprocess so peak RSS and caches of one measurement never leak into another, and writes
``benchmarks/results.json``. See the README section "Benchmark".
"""
