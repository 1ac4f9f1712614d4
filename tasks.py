"""Commands for developing, testing and shipping the product-purchase service (`invoke --list`).

Each area's tasks live in a module of `devkit.commands`; this file only gathers them into one flat collection,
so every task keeps its short name (`invoke up`, `invoke deploy --stage prod`).
"""

from __future__ import annotations

import os

from invoke.collection import Collection

from devkit.commands import bench, checks, delivery, develop, insight, local, service, teach_invoke_parser
from devkit.core.project import ROOT

# `invoke` finds this file from any subfolder; the commands it runs expect the project root.
os.chdir(ROOT)

teach_invoke_parser()
ns = Collection()
for area in (local, develop, service, delivery, checks, bench, insight):
    for area_task in Collection.from_module(area).tasks.values():
        ns.add_task(area_task)
