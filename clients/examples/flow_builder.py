"""A contact-center flow asks Tierline over plain HTTP and JSON, as a flow builder's "make HTTP
request" block or a data action does: no gRPC, no generated code, only the standard library.

One POST of JSON with a timeout; on any failure (timeout, refused, shed, draining, an error
answer) the flow goes on with the baseline it was configured with, never with nothing. Start
the service with ``make run`` (its HTTP listener is on 127.0.0.1:8080), then::

    python3 clients/examples/flow_builder.py c000042 --channel phone --intent cancel
    python3 clients/examples/flow_builder.py c000042 --url http://127.0.0.1:9 # nothing there

It prints the flow variables a flow would branch on (queue, priority, what the agent may
offer) and where they came from: ``tierline`` or ``baseline``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from typing import Any

DECIDE = "/tierline.v1.EntitlementService/Decide"
TIMEOUT_SECONDS = 0.5
"""A flow waits this long, then routes with the baseline: a caller must never wait on us."""

BASELINE: dict[str, Any] = {
    "serviceLevel": {
        "name": "standard",
        "sla": {"maxWaitSeconds": 600, "callbackOffered": True, "humanAgentGuaranteed": True},
    },
    "routing": {"queue": "general", "priority": 10},
    "perks": [],
}
"""The default policy's baseline (rules/policy.yaml), what every customer gets: configured in the
flow, so that it holds when Tierline cannot be asked (GetPolicy returns the current one)."""


def decide(
    url: str,
    customer_id: str,
    channel: str,
    intent: str,
    *,
    token: str | None = None,
    timeout: float = TIMEOUT_SECONDS,
) -> tuple[dict[str, Any], str]:
    """The decision for one contact and where it came from ("tierline"), or the baseline and
    why it had to be used."""
    body = json.dumps(
        {
            "customerId": customer_id,
            "context": {"channel": f"CHANNEL_{channel.upper()}", "intent": intent},
        }
    ).encode()
    headers = {
        "content-type": "application/json",
        # The server stops working on the call when the caller has stopped waiting.
        "connect-timeout-ms": str(int(timeout * 1000)),
    }
    if token:
        headers["authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url.rstrip("/") + DECIDE, body, headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.load(response)["decision"], "tierline"
    except urllib.error.HTTPError as error:
        # Connect errors are JSON: {"code": "invalid_argument", "message": "..."}
        answer = _error(error)
        return BASELINE, f"baseline ({answer.get('code', error.code)}: {answer.get('message')})"
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        reason = getattr(error, "reason", error)
        return BASELINE, f"baseline (Tierline not reachable: {reason})"


def _error(error: urllib.error.HTTPError) -> dict[str, Any]:
    try:
        answer: dict[str, Any] = json.load(error)
    except (ValueError, OSError):
        return {}
    return answer


def flow_variables(decision: dict[str, Any]) -> dict[str, Any]:
    """What a flow branches on, with protobuf JSON's defaults filled in (fields at their default
    value, such as a priority of 0, are left out of the answer)."""
    routing = decision.get("routing", {})
    level = decision.get("serviceLevel", {})
    sla = level.get("sla", {})
    return {
        "queue": routing.get("queue", ""),
        "priority": routing.get("priority", 0),
        "skills": routing.get("skills", []),
        "service_level": level.get("name", ""),
        "max_wait_seconds": sla.get("maxWaitSeconds", 0),
        "callback_offered": sla.get("callbackOffered", False),
        "perks": [perk["code"] for perk in decision.get("perks", [])],
        "degraded": decision.get("degraded", False),
    }


def main() -> int:
    """Decide one contact and print the flow's variables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("customer_id")
    parser.add_argument("--channel", default="phone", help="phone, chat, email, social, ...")
    parser.add_argument("--intent", default="support", help="support, billing, cancel, ...")
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="Tierline's HTTP listener")
    parser.add_argument("--token", help="bearer token, when the service requires one")
    parser.add_argument("--timeout", type=float, default=TIMEOUT_SECONDS, help="seconds")
    args = parser.parse_args()

    started = time.perf_counter()
    decision, source = decide(
        args.url,
        args.customer_id,
        args.channel,
        args.intent,
        token=args.token,
        timeout=args.timeout,
    )
    elapsed_ms = (time.perf_counter() - started) * 1000
    print(json.dumps({"source": source, **flow_variables(decision)}, indent=2))
    print(f"answered in {elapsed_ms:.1f} ms", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
