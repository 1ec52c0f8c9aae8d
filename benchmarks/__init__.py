"""benchmarks: performance measurements as ratios within one run; results in BENCHMARKS.md."""
