"""Cost of the alert rules on one queue ``zone_state`` (the most frequent message).

    .venv/bin/python -m bench.zone_signals [--calls 100000]

Prints microseconds per call of ``zone_signals`` for the telecom example hall.
"""

from __future__ import annotations

import argparse
import timeit
from pathlib import Path

from lobbywatch.config import load_site_config
from lobbywatch.protocol.codec import decode_obj
from lobbywatch.protocol.examples import EXAMPLES
from lobbywatch.protocol.messages import ZoneState
from server.alerts.rules import zone_signals

HALL = Path(__file__).resolve().parents[1] / "deploy" / "examples" / "telecom-hall.yaml"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--calls", type=int, default=100_000)
    n = ap.parse_args().calls
    cfg = load_site_config(HALL)
    z = decode_obj({**EXAMPLES["zone_state"], "site": cfg.site})
    assert isinstance(z, ZoneState)
    seconds = timeit.timeit(lambda: list(zone_signals(cfg, z)), number=n)
    print(f"zone_signals (queue zone): {seconds / n * 1e6:.2f} us per call")


if __name__ == "__main__":
    main()
