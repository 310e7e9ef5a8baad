"""Size breakdown of the packaged app: ``python tools/package_report.py [dist/cxrviewer] [--json OUT]``.

Groups the files of the one-folder build by top-level package under ``_internal/`` (symbolic links count
zero), prints a Markdown table of the largest groups and files, and optionally writes the numbers as JSON.
Used by tests/test_package.py and for docs/packaging.md.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

MB = 1024 * 1024


def group_of(rel: Path) -> str:
    parts = rel.parts
    if parts[0] != "_internal" or len(parts) == 1:
        return parts[0] if len(parts) > 1 else "(launcher and files beside it)"
    inner = parts[1:]
    if len(inner) == 1:
        return "(loose libraries in _internal)"
    if inner[0] in ("torch", "PySide6", "resources", "nvidia") and len(inner) > 2:
        return "/".join(inner[:2])
    return inner[0]


def breakdown(root: Path) -> dict:
    groups: dict[str, int] = defaultdict(int)
    files: list[tuple[int, str]] = []
    total = count = 0
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            if path.is_symlink():
                continue
            size = path.stat().st_size
            rel = path.relative_to(root)
            groups[group_of(rel)] += size
            files.append((size, str(rel)))
            total += size
            count += 1
    files.sort(reverse=True)
    return {
        "root": str(root),
        "total_bytes": total,
        "files": count,
        "groups": dict(sorted(groups.items(), key=lambda kv: -kv[1])),
        "largest_files": [{"path": p, "bytes": s} for s, p in files[:20]],
    }


def markdown(report: dict, top: int = 20) -> str:
    total = report["total_bytes"]
    lines = [f"Total: {total / MB:,.0f} MiB in {report['files']:,} files ({report['root']})", "",
             "| part | MiB | share |", "| --- | ---: | ---: |"]
    for name, size in list(report["groups"].items())[:top]:
        lines.append(f"| {name} | {size / MB:,.1f} | {100 * size / total:.1f} % |")
    rest = sum(list(report["groups"].values())[top:])
    if rest:
        lines.append(f"| everything else | {rest / MB:,.1f} | {100 * rest / total:.1f} % |")
    lines += ["", "| largest files | MiB |", "| --- | ---: |"]
    lines += [f"| {f['path']} | {f['bytes'] / MB:,.1f} |" for f in report["largest_files"][:12]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("root", nargs="?", default="dist/cxrviewer")
    p.add_argument("--json", metavar="OUT")
    args = p.parse_args(argv)
    root = Path(args.root)
    if not root.is_dir():
        print(f"{root}: no such folder (run `make package` first)", file=sys.stderr)
        return 2
    report = breakdown(root)
    print(markdown(report))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
