"""Each handler's cold start as its own figure: a fresh interpreter of this environment (the one MiniStack runs
the workers on), given the function's deployed environment variables, imports the handler module and runs its
init phase (configuration, AWS clients), timed inside."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from devkit.bench.stats import percentile
from devkit.core.project import EMULATOR_ACCESS_KEY, EMULATOR_REGION, HANDLERS, ToolingError
from devkit.engines import Engine

HANDLER_MODULES = ("sender", "reader", "writer")
# Credentials and an endpoint nothing listens on: building a client makes no call.
_PLACEHOLDERS = {
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


def function_environments(engine: Engine, outputs: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Each handler module's environment variables as deployed (what its init phase reads)."""
    lambda_client = engine.client("lambda")
    environments = {}
    for module in HANDLER_MODULES:
        name = outputs[f"{module.capitalize()}FunctionName"]
        configuration = lambda_client.get_function_configuration(FunctionName=name)
        environments[module] = dict(configuration.get("Environment", {}).get("Variables", {}))
    return environments


def measure_cold_starts(environments: Mapping[str, Mapping[str, str]], runs: int = 3) -> list[ColdStart]:
    """Time each handler module's import + init `runs` times, each in a fresh interpreter with its environment."""
    results = []
    for module, variables in environments.items():
        timings = []
        for _ in range(runs):
            environment = {
                **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
                **variables,
                **_PLACEHOLDERS,
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
                raise ToolingError(f"Importing {module} failed: {probe.stderr.strip()[-500:]}")
            timings.append(1000 * float(json.loads(probe.stdout.strip().splitlines()[-1])))
        results.append(ColdStart(module, tuple(timings)))
    return results
