"""Send the sample purchases through the API and wait until each one can be read back."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

from devkit.core.http import call
from devkit.core.project import ToolingError
from devkit.core.waiting import wait_for

SAMPLES = Path(__file__).with_name("purchases.json")


def load_samples() -> list[dict[str, Any]]:
    samples: list[dict[str, Any]] = json.loads(SAMPLES.read_text())
    return samples


def send_samples(api_url: str, *, headers: dict[str, str] | None = None, timeout: float = 30.0) -> list[str]:
    """POST each sample to `api_url` (ending in /product-purchase/) with `headers` (the bearer token); returns the
    ids once all are readable."""
    ids = []
    for sample in load_samples():
        reply = call("POST", api_url.rstrip("/"), sample, headers=headers)
        if reply.status != 202:
            raise ToolingError(
                f"The API refused a sample ({reply.status}): {reply.body.decode(errors='replace')}"
            )
        ids.append(reply.json()["ProductPurchaseId"])
    for purchase_id in ids:
        url = f"{api_url}{purchase_id}"
        wait_for(
            partial(_is_readable, url, headers), timeout=timeout, interval=0.1, what=f"{url} to be readable"
        )
    return ids


def _is_readable(url: str, headers: dict[str, str] | None) -> bool:
    return call("GET", url, headers=headers).status == 200
