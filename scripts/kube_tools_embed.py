"""Write the provider's generated embeds (versioned schema, compact mapping) before its build."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(cmd_dir: Path, version: str) -> None:
    """Generate schema-embed.json and terraform-mapping-embed.json beside their sources."""
    schema = json.loads((cmd_dir / "schema.json").read_text())
    schema["version"] = version
    (cmd_dir / "schema-embed.json").write_text(json.dumps(schema, separators=(",", ":")))
    mapping = json.loads((cmd_dir / "terraform-mapping.json").read_text())
    (cmd_dir / "terraform-mapping-embed.json").write_text(
        json.dumps(mapping, separators=(",", ":"))
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
