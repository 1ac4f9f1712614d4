"""The load test, soak and benchmark behind `invoke bench`: latency, throughput, accepted-to-readable
lag, lost and duplicated writes, engine memory, and the engine's own SendMessage rate as a floor."""

from devkit.bench.report import Report, default_json_path, format_report, save_json
from devkit.bench.runner import DEFAULT_REQUESTS, DEFAULT_SOAK_WRITES, BenchSettings, run_benchmark, run_soak

__all__ = [
    "DEFAULT_REQUESTS",
    "DEFAULT_SOAK_WRITES",
    "BenchSettings",
    "Report",
    "default_json_path",
    "format_report",
    "run_benchmark",
    "run_soak",
    "save_json",
]
