"""Each handler's cold start as its own figure: a fresh interpreter of this environment (the one MiniStack runs
the workers on) imports the handler module and runs its init phase (configuration, AWS clients), timed inside."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass

from devkit.bench.stats import percentile
from devkit.project import EMULATOR_ACCESS_KEY, EMULATOR_REGION, HANDLERS

HANDLER_MODULES = ("sender", "reader", "writer")
# What the init phase reads (placeholders: building a client makes no call) and what makes it build its clients.
_ENVIRONMENT = {
    "QUEUE_URL": "http://127.0.0.1:1/000000000000/cold-start",
    "TABLE_NAME": "cold-start",
    "STAGE": "dev",
    "POWERTOOLS_SERVICE_NAME": "product-purchase",
    "POWERTOOLS_METRICS_NAMESPACE": "ProductPurchase",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "AWS_ACCESS_KEY_ID": EMULATOR_ACCESS_KEY,
    "AWS_SECRET_ACCESS_KEY": EMULATOR_ACCESS_KEY,
    "AWS_DEFAULT_REGION": EMULATOR_REGION,
    "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
}
_PROBE = (
    "import importlib, json, sys, time; started = time.perf_counter(); importlib.import_module(sys.argv[1]); "
    "print(json.dumps(time.perf_counter() - started))"
)


@dataclass(frozen=True)
class ColdStart:
    handler: str
    runs_ms: tuple[float, ...]

    @property
    def median_ms(self) -> float | None:
        return percentile(self.runs_ms, 50)


def measure_cold_starts(runs: int = 3) -> list[ColdStart]:
    results = []
    for module in HANDLER_MODULES:
        timings = []
        for _ in range(runs):
            environment = {
                **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
                **_ENVIRONMENT,
                "AWS_LAMBDA_FUNCTION_NAME": f"cold-start-{module}",
            }
            probe = subprocess.run(
                [sys.executable, "-c", _PROBE, module],
                cwd=HANDLERS,
                env=environment,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            if probe.returncode != 0:
                raise RuntimeError(f"importing {module} failed: {probe.stderr.strip()[-500:]}")
            timings.append(1000 * float(json.loads(probe.stdout.strip().splitlines()[-1])))
        results.append(ColdStart(module, tuple(timings)))
    return results
