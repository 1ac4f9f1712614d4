"""Notifications survive an engine restart (`invoke down` / `invoke up` with saved state).

MiniStack restarts a table's stream at zero but keeps each stream mapping's old read position, so without the
tooling's work-around (devkit.engines.ministack.gaps.forget_stream_positions) the first N changes after a restart
are silently never delivered. Needs an engine this project started: on AWS (or an engine someone else runs) it is
skipped, saying why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devkit.core.http import call
from devkit.core.waiting import wait_for
from devkit.engines import Engine
from devkit.engines.ministack import MiniStack
from devkit.stack.notifications import Listener, of_purchase, socket_url

from .support import make_purchase
from .test_notifications import NOTIFICATION_DEADLINE, AuthorizedApi

RESTART_TIMEOUT = 60.0


@pytest.fixture(scope="module")
def local_engine(outputs: dict[str, Any]) -> MiniStack:
    if outputs["Engine"] != "ministack":
        pytest.skip(
            f"Restarting the engine needs a local MiniStack this project runs, not {outputs['Engine']}."
        )
    folder = outputs.get("EngineStateDir")
    engine = MiniStack.create(
        port=int(outputs["EndpointUrl"].rsplit(":", 1)[1]), state_dir=Path(folder) if folder else None
    )
    if engine.pid() is None:
        pytest.skip(f"The MiniStack on port {engine.port} was not started by this checkout's `invoke up`.")
    return engine


def _created(listener: Listener, purchase_id: str) -> None:
    listener.wait_for(
        lambda got: any(m["type"] == "purchase.created" for m in of_purchase(got, purchase_id)),
        timeout=NOTIFICATION_DEADLINE,
        what=f"purchase.created of {purchase_id}",
    )


def test_notifications_keep_flowing_after_an_engine_restart(
    outputs: dict[str, Any], engine: Engine, local_engine: MiniStack
) -> None:
    from devkit.stack.auth import READ_WRITE_SCOPES, access_token, forget_tokens

    api = AuthorizedApi(
        outputs["ProductPurchaseApi"], lambda: access_token(engine, outputs, READ_WRITE_SCOPES)
    )
    # Given changes already delivered before the restart (the stream mapping has moved past them)
    with Listener(socket_url(engine, outputs)) as before:
        for _ in range(3):
            _created(before, api.create(make_purchase()))

    # When the engine stops (saving its state) and starts again
    local_engine.stop()
    local_engine.start()
    forget_tokens()
    wait_for(
        lambda: call("GET", outputs["ProductPurchaseApi"]).status in {200, 401},
        timeout=RESTART_TIMEOUT,
        what="the API after the restart",
    )

    # Then the very first change after the restart reaches a newly connected client
    with Listener(socket_url(engine, outputs)) as after:
        _created(after, api.create(make_purchase()))
