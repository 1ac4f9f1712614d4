"""The local development tools on a private MiniStack with the stack deployed: a debugger attached to a function
stops a real API request at a breakpoint, and a snapshot brings the saved data back with the stack working."""

from __future__ import annotations

import io
import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devkit.core.http import Reply, call
from devkit.core.project import HANDLERS, stack_name
from devkit.core.waiting import wait_for
from devkit.engines import debugging, snapshots
from devkit.engines.ministack import MiniStack, free_port
from devkit.stack.auth import ADMIN_SCOPE, READ_WRITE_SCOPES, authorization_header
from devkit.stack.notifications import Listener, Received, of_purchase, socket_url
from devkit.stack.outputs import reachable_outputs
from devkit.stack.stacks import function_named
from seed.send import load_samples

from .dap import DapClient
from .private import deployed_engine

STAGE = "dev"
# Every wait is bounded: a request through the API, a write becoming readable or pushed to a client, a debugger
# event.
REQUEST_TIMEOUT = 60.0
READABLE_TIMEOUT = 20.0
PUSHED_TIMEOUT = 20.0
DEBUGGER_TIMEOUT = 20.0
# Changes pushed before a snapshot is saved: enough that a stream mapping left at its saved position after a load
# (MiniStack starts the reloaded stream at 0) would skip the first change made after it.
CHANGES_BEFORE_SAVE = 3


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MiniStack]:
    with deployed_engine(tmp_path_factory.mktemp("tools")) as private:
        yield private


def _api(engine: MiniStack, scopes: tuple[str, ...] = READ_WRITE_SCOPES) -> tuple[str, dict[str, str]]:
    values = reachable_outputs(engine, STAGE)
    return values["ProductPurchaseApi"], authorization_header(engine, values, scopes)


def _create(engine: MiniStack) -> str:
    api, headers = _api(engine)
    purchase = {**load_samples()[0], "CustomerName": f"Snapshot {uuid.uuid4().hex[:8]}"}
    reply = call("POST", api.rstrip("/"), purchase, headers=headers, timeout=REQUEST_TIMEOUT)
    assert reply.status == 202, reply.body
    purchase_id: str = reply.json()["ProductPurchaseId"]
    return purchase_id


def _status(engine: MiniStack, purchase_id: str, scopes: tuple[str, ...] = READ_WRITE_SCOPES) -> int:
    api, headers = _api(engine, scopes)
    return call("GET", f"{api}{purchase_id}", headers=headers, timeout=REQUEST_TIMEOUT).status


def _readable(engine: MiniStack, purchase_id: str, scopes: tuple[str, ...] = READ_WRITE_SCOPES) -> None:
    wait_for(
        lambda: _status(engine, purchase_id, scopes) == 200,
        timeout=READABLE_TIMEOUT,
        interval=0.1,
        what=f"purchase {purchase_id} to be readable",
    )


def _created(listener: Listener, purchase_id: str) -> list[Received]:
    return listener.wait_for(
        lambda got: any(message["type"] == "purchase.created" for message in of_purchase(got, purchase_id)),
        timeout=PUSHED_TIMEOUT,
        what=f"purchase.created of {purchase_id}",
    )


def _line_of(path: Path, text: str) -> int:
    return next(number for number, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_a_debugger_attached_to_the_reader_stops_a_real_request_at_its_breakpoint(engine: MiniStack) -> None:
    # Given the reader under the debugger, on a free port
    port = free_port()
    reader = function_named(engine, stack_name(STAGE), "reader")
    debugging.start(engine, "reader", reader, port=port, wait=False)
    api, headers = _api(engine)
    client: DapClient | None = None
    try:
        assert call("GET", api, headers=headers, timeout=REQUEST_TIMEOUT).status == 200  # starts its worker

        # When a DAP client attaches, sets a breakpoint in the list route and a GET arrives
        client = DapClient(port)
        client.request(
            "initialize", adapterID="debugpy", clientID="pytest", linesStartAt1=True, pathFormat="path"
        )
        attach = client.send(
            "attach",
            justMyCode=True,
            pathMappings=[{"localRoot": str(HANDLERS), "remoteRoot": str(HANDLERS)}],
        )
        client.wait_for("event", "initialized", DEBUGGER_TIMEOUT)
        reader_file = HANDLERS / "reader.py"
        line = _line_of(reader_file, "limit = _page_size(")
        breakpoints = client.request(
            "setBreakpoints", source={"path": str(reader_file)}, breakpoints=[{"line": line}]
        )
        assert breakpoints["body"]["breakpoints"][0]["verified"]
        client.request("configurationDone")
        client.wait_for("response", "attach", DEBUGGER_TIMEOUT, attach)
        answered: dict[str, Reply] = {}
        request = threading.Thread(
            target=lambda: answered.update(reply=call("GET", api, headers=headers, timeout=REQUEST_TIMEOUT))
        )
        request.start()

        # Then the request stops there, and answers once continued
        stopped = client.wait_for("event", "stopped", DEBUGGER_TIMEOUT)
        assert stopped["body"]["reason"] == "breakpoint"
        frames = client.request("stackTrace", threadId=stopped["body"]["threadId"])["body"]["stackFrames"]
        assert (frames[0]["source"]["path"], frames[0]["line"]) == (str(reader_file), line)
        assert "reply" not in answered
        client.request("continue", threadId=stopped["body"]["threadId"])
        request.join(REQUEST_TIMEOUT)
        assert answered["reply"].status == 200
    finally:
        if client is not None:
            client.close()
        debugging.stop(engine, "reader", reader)

    # And once the debugger is off, the function answers as before
    assert call("GET", api, headers=headers, timeout=REQUEST_TIMEOUT).status == 200


def test_a_loaded_snapshot_brings_the_saved_data_back_and_the_stack_keeps_working(engine: MiniStack) -> None:
    # Given purchases whose changes were each pushed to a client before a snapshot was saved, so the stream
    # mapping's saved position is past them, and a purchase written after the snapshot
    with Listener(socket_url(engine, reachable_outputs(engine, STAGE))) as before:
        saved = []
        for _ in range(CHANGES_BEFORE_SAVE):
            # One at a time: each change is read only once the one before it has moved the mapping on
            saved.append(_create(engine))
            _created(before, saved[-1])
    snapshots.save(engine, "before")
    later = _create(engine)
    _readable(engine, later)

    # When the snapshot is loaded into the running engine
    loaded, kept, running = snapshots.load(engine, "before")

    # Then the saved purchases are there and the later one is not, and the replaced state was kept
    assert running and loaded.name == "before"
    assert all(_status(engine, purchase_id) == 200 for purchase_id in saved)
    assert _status(engine, later) == 404
    assert kept is not None and kept.automatic
    assert {item.name for item in snapshots.list_snapshots(engine)} == {"before", kept.name}

    # And the stack works: the very first change after the load is consumed by the writer, becomes readable and
    # is pushed to a client (the reloaded stream starts again at 0: a mapping left at its saved position would
    # skip it), and no change from before the snapshot is pushed again
    with Listener(socket_url(engine, reachable_outputs(engine, STAGE))) as after_load:
        first = _create(engine)
        _readable(engine, first)
        received = _created(after_load, first)
    assert not [message for purchase_id in saved for message in of_purchase(received, purchase_id)]

    # And loading the automatic snapshot brings the later purchase back (nothing was lost)
    snapshots.load(engine, kept.name)
    assert _status(engine, later) == 200


def test_an_exported_snapshot_imported_again_brings_its_data_back(engine: MiniStack, tmp_path: Path) -> None:
    # Given a purchase saved in a snapshot that is exported to a file, and then the snapshot removed
    kept = _create(engine)
    _readable(engine, kept)
    snapshots.save(engine, "travels")
    file = snapshots.export(engine, "travels", tmp_path / "travels.tar.gz")
    snapshots.remove(engine, "travels")
    later = _create(engine)
    _readable(engine, later)

    # When the file is imported and loaded into the running engine
    imported = snapshots.import_snapshot(engine, file)
    loaded, _, running = snapshots.load(engine, imported.snapshot.name)

    # Then it was made by this MiniStack, and the engine holds the exported data, not what came after it
    assert imported.other_version is None and loaded.name == "travels" and running
    assert _status(engine, kept) == 200
    assert _status(engine, later) == 404


def test_snapshot_mistakes_are_refused_without_touching_anything(engine: MiniStack) -> None:
    from devkit.core.project import ToolingError

    before: Any = sorted(item.name for item in snapshots.list_snapshots(engine))
    with pytest.raises(ToolingError, match="Invalid snapshot name"):
        snapshots.save(engine, "../escape")
    with pytest.raises(ToolingError, match="No snapshot named"):
        snapshots.load(engine, "never-saved")
    snapshots.save(engine, "twice")
    with pytest.raises(ToolingError, match="exists already"):
        snapshots.save(engine, "twice")
    snapshots.remove(engine, "twice")
    assert sorted(item.name for item in snapshots.list_snapshots(engine)) == before


def test_a_sample_post_event_invoked_on_the_senders_live_alias_is_accepted_and_applied(
    engine: MiniStack,
) -> None:
    from devkit.stack.events import sample_event
    from devkit.stack.invoking import invoke, read_event

    # Given `invoke event api-post`, read back as `invoke call --event -` reads it
    event = read_event("-", io.StringIO(json.dumps(sample_event("api-post"))))

    # When it is invoked on the sender's live alias
    result = invoke(engine, function_named(engine, stack_name(STAGE), "sender"), event)

    # Then the sender accepts it, says so in its log, and the writer applies it
    assert result.function_error is None
    assert result.payload["statusCode"] == 202
    assert any("Purchase write accepted" in line for line in result.log_lines)
    # (the sample event's caller is a client of its own, so the purchase is read with the admin scope)
    _readable(
        engine, json.loads(result.payload["body"])["ProductPurchaseId"], (*READ_WRITE_SCOPES, ADMIN_SCOPE)
    )
