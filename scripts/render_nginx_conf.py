"""Write docker/nginx.conf, the gateway of docker/compose.yaml, from the route table.

`--check` exits 1 when the committed file is stale.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mediavault.nginx import NginxGateway, render  # noqa: E402
from mediavault.routes import FUNCTIONS  # noqa: E402

CONF = ROOT / "docker" / "nginx.conf"
# Compose's services: each function is `fn-<name>` on port 8080, found through Docker's DNS.
COMPOSE = NginxGateway(
    listen="8080",
    upstreams={name: f"fn-{name}:8080" for name in FUNCTIONS},
    resolver="127.0.0.11",
)


def rendered() -> str:
    """docker/nginx.conf as the route table makes it now."""
    return render(COMPOSE)


def main() -> int:
    """Write the file, or with --check say whether it is current."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail when the file is stale")
    args = parser.parse_args()
    if args.check:
        if not CONF.exists() or CONF.read_text() != rendered():
            print(f"{CONF.relative_to(ROOT)} is stale: run {Path(__file__).name}", file=sys.stderr)  # noqa: T201
            return 1
        return 0
    CONF.write_text(rendered())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
