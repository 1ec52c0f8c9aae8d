"""benchmarks: performance measurements as ratios within one run; results in BENCHMARKS.md.

:mod:`benchmarks.suite` runs the sections (``projection``, ``optimizer_step``, ``throughput``)
and writes the results after every section; :mod:`benchmarks.progress` is how a section reports
its units of work and partial rows; :mod:`benchmarks.markdown` renders BENCHMARKS.md;
:mod:`benchmarks.timing` is the shared timer and machine description.
"""
