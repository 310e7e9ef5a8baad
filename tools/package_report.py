"""Size breakdown of the packaged app: ``python tools/package_report.py [dist/cxrviewer] [--json OUT]``.

Groups the files of the one-folder build by top-level package under ``_internal/`` (symbolic links count
zero; Qt is split into its libraries, plugins and translations, the models by bundle), prints a Markdown
table of the largest groups and files, lists the libraries at the top of ``_internal/`` that did not come
from a wheel (libpython and the system libraries Python's own extension modules link: the only ones the
spec lets in from the build machine), and optionally writes the numbers as JSON.
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


# How deep to split a top-level folder of _internal/ (PySide6/Qt/lib, PySide6/Qt/plugins, resources/models/<bundle>)
SPLIT_DEPTH = {"PySide6": 3, "resources": 3}


def is_extension_module(name: str) -> bool:
    return ".cpython-" in name or name.endswith((".pyd", ".abi3.so"))


def group_of(rel: Path) -> str:
    parts = rel.parts
    if parts[0] != "_internal" or len(parts) == 1:
        return parts[0] if len(parts) > 1 else "(launcher and files beside it)"
    inner = parts[1:]
    if len(inner) == 1:
        name = inner[0]
        if name.startswith("libpython"):
            return "(libpython)"
        if is_extension_module(name):
            return "(extension modules in _internal)"
        if ".so" in name or name.endswith((".dll", ".dylib")):
            return "(system libraries Python links)"
        return "(other files in _internal)"
    depth = SPLIT_DEPTH.get(inner[0], 1)
    return "/".join(inner[: min(depth, len(inner) - 1)])


def breakdown(root: Path) -> dict:
    groups: dict[str, int] = defaultdict(int)
    files: list[tuple[int, str]] = []
    loose: dict[str, int] = {}
    total = count = 0
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            if path.is_symlink():
                continue
            size = path.stat().st_size
            rel = path.relative_to(root)
            group = group_of(rel)
            groups[group] += size
            files.append((size, str(rel)))
            if group in ("(libpython)", "(system libraries Python links)"):
                loose[name] = size
            total += size
            count += 1
    files.sort(reverse=True)
    return {
        "root": str(root),
        "total_bytes": total,
        "files": count,
        "groups": dict(sorted(groups.items(), key=lambda kv: -kv[1])),
        "largest_files": [{"path": p, "bytes": s} for s, p in files[:20]],
        "non_wheel_libraries": dict(sorted(loose.items())),
    }


def markdown(report: dict, top: int = 20) -> str:
    total = report["total_bytes"]
    lines = [
        f"Total: {total / MB:,.0f} MiB in {report['files']:,} files ({report['root']})",
        "",
        "| part | MiB | share |",
        "| --- | ---: | ---: |",
    ]
    for name, size in list(report["groups"].items())[:top]:
        lines.append(f"| {name} | {size / MB:,.1f} | {100 * size / total:.1f} % |")
    rest = sum(list(report["groups"].values())[top:])
    if rest:
        lines.append(f"| everything else | {rest / MB:,.1f} | {100 * rest / total:.1f} % |")
    lines += ["", "| largest files | MiB |", "| --- | ---: |"]
    lines += [f"| {f['path']} | {f['bytes'] / MB:,.1f} |" for f in report["largest_files"][:12]]
    loose = report.get("non_wheel_libraries", {})
    if loose:
        lines += [
            "",
            f"Libraries not from a wheel (top of _internal): {len(loose)}, "
            f"{sum(loose.values()) / MB:,.1f} MiB: " + ", ".join(loose),
        ]
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
