"""What a first visit to the library downloads: its JavaScript and CSS, gzipped (aim ≤ 150 KB).

Reads the build's Vite manifest (web/.svelte-kit/output/client/.vite/manifest.json, written by
`npm run build`): the entry (start, app), the root layout and the library page with their static
imports and stylesheets. Dynamic imports (Uppy, loaded on the first upload; other pages) are
listed apart. Each file is gzipped at level 9, as the web function sends it.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "web"
MANIFEST = WEB / ".svelte-kit" / "output" / "client" / ".vite" / "manifest.json"
BUILD = WEB / "build"
ENTRIES = ("entry.js", "generated/client-optimized/app.js", "nodes/0.js", "nodes/2.js")
AIM = 150 * 1024


def closure(manifest: dict[str, Any], keys: list[str]) -> tuple[set[str], set[str]]:
    """Files reached by static imports from the keys, and the keys only dynamic imports reach."""
    files: set[str] = set()
    dynamic: set[str] = set()
    seen: set[str] = set()
    stack = list(keys)
    while stack:
        key = stack.pop()
        if key in seen:
            continue
        seen.add(key)
        chunk = manifest[key]
        files.add(chunk["file"])
        files.update(chunk.get("css", []))
        stack.extend(chunk.get("imports", []))
        dynamic.update(chunk.get("dynamicImports", []))
    return files, dynamic - seen


def gz(path: Path) -> int:
    return len(gzip.compress(path.read_bytes(), compresslevel=9, mtime=0))


def main() -> int:
    """Print the sizes; exit 1 above the aim."""
    manifest: dict[str, Any] = json.loads(MANIFEST.read_text())
    keys = [k for k in manifest if k.endswith(ENTRIES) and manifest[k].get("isEntry")]
    keys += [k for k in manifest if k.endswith(ENTRIES[2:])]
    files, dynamic = closure(manifest, sorted(set(keys)))
    files.add("index.html")
    js = sum(gz(BUILD / f) for f in files if f.endswith(".js"))
    css = sum(gz(BUILD / f) for f in files if f.endswith(".css"))
    html = gz(BUILD / "index.html")
    lazy_files, _ = closure(manifest, sorted(dynamic))
    lazy = sum(gz(BUILD / f) for f in lazy_files - files if f.endswith((".js", ".css")))
    total = js + css
    print(f"library page, first visit: {len(files)} files")
    print(f"  JavaScript {js / 1024:7.1f} KB gzipped")
    print(f"  CSS        {css / 1024:7.1f} KB gzipped")
    print(f"  index.html {html / 1024:7.1f} KB gzipped")
    print(f"  JS + CSS   {total / 1024:7.1f} KB gzipped, {total / AIM:.2f}x the aim of 150 KB")
    print(f"loaded later (uploads' Uppy, other pages): {lazy / 1024:.1f} KB gzipped")
    return 0 if total <= AIM else 1


if __name__ == "__main__":
    sys.exit(main())
