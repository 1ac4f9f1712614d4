"""The handlers' cold-start figure of `invoke bench`: each handler imported and initialised in a fresh interpreter
with the environment it is deployed with (here: the unit tests' own, set up by conftest)."""

from __future__ import annotations

import pytest

from devkit.bench.cold_start import HANDLER_MODULES, measure_cold_starts
from devkit.core.project import ToolingError


def test_each_handler_is_timed_in_its_own_interpreter() -> None:
    results = measure_cold_starts({module: {} for module in HANDLER_MODULES}, runs=1)
    assert [result.handler for result in results] == list(HANDLER_MODULES)
    assert all(len(result.runs_ms) == 1 and result.runs_ms[0] > 0 for result in results)


def test_a_handler_that_cannot_start_is_reported_not_timed() -> None:
    with pytest.raises(ToolingError, match="Importing reader failed"):
        measure_cold_starts({"reader": {"TABLE_NAME": ""}}, runs=1)
