"""Commands for developing, testing and shipping the product-purchase service (`invoke --list`).

Each area's tasks live in a module of `devkit.commands`: single tasks keep their short name at the top
(`invoke up`, `invoke deploy --stage prod`); an area with sub-actions is a namespace (`invoke snapshot.save demo`,
`invoke consumer.create billing`, `invoke debug reader`).
"""

from __future__ import annotations

import os

from invoke.collection import Collection

from devkit.commands import (
    bench,
    checks,
    consumer,
    debug,
    delivery,
    develop,
    local,
    name_tasks,
    service,
    snapshot,
)
from devkit.core.project import ROOT

# `invoke` finds this file from any subfolder; the commands it runs expect the project root.
os.chdir(ROOT)

ns = Collection()
for area in (local, develop, service, delivery, checks, bench):
    for area_task in Collection.from_module(area).tasks.values():
        ns.add_task(area_task)
for namespace in (snapshot, consumer, debug):
    ns.add_collection(Collection.from_module(namespace))
name_tasks(ns)
