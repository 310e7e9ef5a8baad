"""Command line: ``python -m cxrviewer [FILES or FOLDERS]`` opens the viewer;
``python -m cxrviewer --batch FOLDER --csv OUT.csv [--model NAME]`` scores a folder without any GUI;
``python -m cxrviewer --self-test --out DIR`` proves the installation works (see cxrviewer/ui/selftest.py).

The batch path imports only the Qt-free core (PySide6 is never imported there).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

EXIT_MISUSE = 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cxrviewer",
        description="Offline chest X-ray viewer with a pneumonia classifier and Grad-CAM. "
        "Not a medical device; not for diagnosis.",
    )
    p.add_argument("paths", nargs="*", help="files or folders to open (default: the demo studies)")
    p.add_argument("--batch", metavar="FOLDER", help="score every file under FOLDER without a GUI")
    p.add_argument("--csv", metavar="OUT.csv", help="where --batch writes its results")
    p.add_argument(
        "--resume",
        action="store_true",
        help="with --batch: keep the rows already in OUT.csv for files unchanged since (by path, size and "
        "mtime, from OUT.csv.state.jsonl) and score only the rest, appending",
    )
    p.add_argument(
        "--shard",
        metavar="I/N",
        help="with --batch: take only the files whose relative path hashes to shard I of N (0 <= I < N), "
        "so N jobs (a Slurm array, a Kubernetes indexed Job) split a folder exactly once",
    )
    p.add_argument(
        "--heatmaps",
        metavar="MAPDIR",
        help="with --batch: also write each scored (not withheld) study's Grad-CAM map in the study's own pixel "
        "grid as MAPDIR/<subfolder>/<file stem>.png (16-bit grayscale, 0..65535 = map 0..1)",
    )
    p.add_argument("--model", metavar="NAME", help="model bundle to use (default: the first one)")
    p.add_argument("--models-dir", metavar="DIR", help="folder holding model bundles (default: resources/models)")
    p.add_argument(
        "--self-test",
        action="store_true",
        help="open the demo studies offscreen, run the model and Grad-CAM, check every step, write a "
        "JSON report and a screenshot to --out; exit 0 only if all passed (no network allowed)",
    )
    p.add_argument("--out", metavar="DIR", help="where --self-test writes its report (default: a new temporary folder)")
    return p


def run_self_test_cli(args) -> int:
    # The network guard goes in before onnxruntime, Qt or pydicom are imported, and no bytecode is written.
    sys.dont_write_bytecode = True
    from cxrviewer.guards import NetworkGuard

    guard = NetworkGuard().start()
    from cxrviewer.ui.selftest import run_self_test

    return run_self_test(args.out, models_dir=args.models_dir, model=args.model, guard=guard)


def run_batch_cli(args) -> int:
    from cxrviewer.core.batch import run_batch
    from cxrviewer.core.batch_resume import parse_shard
    from cxrviewer.core.bundle import default_models_dir, load_bundle
    from cxrviewer.core.catalog import find_bundle
    from cxrviewer.core.errors import BundleError
    from cxrviewer.core.input_checks import load_reference
    from cxrviewer.core.predictor import Predictor

    folder = Path(args.batch)
    if not folder.is_dir():
        print(f"cxrviewer: --batch {folder}: no such folder", file=sys.stderr)
        return EXIT_MISUSE
    if not args.csv:
        print("cxrviewer: --batch needs --csv OUT.csv", file=sys.stderr)
        return EXIT_MISUSE
    shard = None
    if getattr(args, "shard", None):
        try:
            shard = parse_shard(args.shard)
        except ValueError as exc:
            print(f"cxrviewer: {exc}", file=sys.stderr)
            return EXIT_MISUSE
    models_dir = Path(args.models_dir) if args.models_dir else default_models_dir()
    try:
        bundle_dir = find_bundle(models_dir, args.model)
    except BundleError as exc:
        print(f"cxrviewer: --model: {exc}", file=sys.stderr)
        return EXIT_MISUSE
    predictor = None
    if bundle_dir is None:
        print(f"cxrviewer: no model bundle in {models_dir}: files are checked but not scored", file=sys.stderr)
    else:
        try:
            predictor = Predictor(load_bundle(bundle_dir))
        except BundleError as exc:
            print(f"cxrviewer: {exc}", file=sys.stderr)
            if args.model:
                return EXIT_MISUSE
    tally = {"rows": 0, "scored": 0}

    def progress(i, n, r):
        tally["rows"] += 1
        tally["scored"] += bool(r.scored)
        print(f"[{i}/{n}] {r.path.name}: {r.status}", file=sys.stderr)

    try:
        run_batch(
            folder,
            args.csv,
            predictor,
            load_reference(),
            progress=progress,
            resume=getattr(args, "resume", False),
            shard=shard,
            keep_results=False,  # memory stays flat over any number of files
            heatmaps_dir=args.heatmaps,
        )
    except OSError as exc:  # the CSV, or a --heatmaps map
        print(f"cxrviewer: cannot write {exc.filename or args.csv}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_MISUSE
    except ValueError as exc:  # --resume into a CSV that is not a batch CSV
        print(f"cxrviewer: {exc}", file=sys.stderr)
        return EXIT_MISUSE
    except KeyboardInterrupt:
        print(
            f"cxrviewer: interrupted after {tally['rows']} files; {args.csv} holds every row written so far. "
            "Run the same command with --resume to continue.",
            file=sys.stderr,
        )
        return 130
    done = "" if not getattr(args, "resume", False) else " newly"
    print(f"{tally['scored']} of {tally['rows']} files{done} scored; results in {args.csv}", file=sys.stderr)
    return 0


def build_calibrate_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cxrviewer calibrate",
        description="Fit this site's operating point (threshold, temperature, indeterminate band) on labelled films "
        "of the site's own, stored in the user's settings for the bundle's exact graph; the bundle never changes.",
    )
    p.add_argument("--data", metavar="DIR", help="folder with NORMAL/ and PNEUMONIA/ subfolders of the site's films")
    p.add_argument("--target-sensitivity", type=float, default=0.97, help="sensitivity the threshold must keep")
    p.add_argument("--model", metavar="NAME", help="model bundle (default: the first one)")
    p.add_argument("--models-dir", metavar="DIR", help="folder holding model bundles (default: resources/models)")
    p.add_argument("--reset", action="store_true", help="remove this bundle's site calibration instead")
    return p


def run_calibrate_cli(argv: list[str]) -> int:
    from cxrviewer.core.bundle import default_models_dir, load_bundle
    from cxrviewer.core.catalog import find_bundle
    from cxrviewer.core.errors import BundleError
    from cxrviewer.core.site_calibration import CalibrationError, calibrate, describe, reset_profile, save_profile

    args = build_calibrate_parser().parse_args(argv)
    try:
        bundle_dir = find_bundle(Path(args.models_dir) if args.models_dir else default_models_dir(), args.model)
        if bundle_dir is None:
            raise BundleError("no model bundle installed")
        bundle = load_bundle(bundle_dir)
    except BundleError as exc:
        print(f"cxrviewer calibrate: {exc}", file=sys.stderr)
        return EXIT_MISUSE
    if args.reset:
        removed = reset_profile(bundle.card)
        print(
            f"{bundle.name}: site calibration {'removed' if removed else 'was not set'}; the shipped threshold applies"
        )
        return 0
    if not args.data or not Path(args.data).is_dir():
        print("cxrviewer calibrate: --data DIR (with NORMAL/ and PNEUMONIA/) is required", file=sys.stderr)
        return EXIT_MISUSE
    try:
        profile = calibrate(bundle, args.data, args.target_sensitivity)
    except CalibrationError as exc:
        print(f"cxrviewer calibrate: {exc}", file=sys.stderr)
        return EXIT_MISUSE
    path = save_profile(profile)
    print(describe(profile))
    print(f"stored in {path} for {bundle.name} (graph sha256 {profile.bundle_sha256[:12]}…)")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["calibrate"]:  # a subcommand; a file literally named "calibrate" can be opened as ./calibrate
        return run_calibrate_cli(argv[1:])
    args = build_parser().parse_args(argv)
    # ONNX Runtime's Linux wheels start Microsoft's 1DS telemetry on import: a device id and an event store
    # under ~/.cache/Microsoft and a file in $TMPDIR, with an HTTP uploader. Off for every run of the app.
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    if args.self_test or getattr(sys, "frozen", False):
        from cxrviewer.guards import use_private_caches

        use_private_caches()  # library import-time caches go to a temp folder removed at exit
    if args.self_test:
        if args.batch is not None or args.csv is not None or args.paths:
            print("cxrviewer: --self-test takes no paths, --batch or --csv", file=sys.stderr)
            return EXIT_MISUSE
        return run_self_test_cli(args)
    if args.out is not None:
        print("cxrviewer: --out is only used with --self-test", file=sys.stderr)
        return EXIT_MISUSE
    batch_only = [
        flag
        for flag, given in (("--resume", args.resume), ("--shard", args.shard), ("--heatmaps", args.heatmaps))
        if given
    ]
    if args.batch is None and batch_only:
        print(f"cxrviewer: {' and '.join(batch_only)} only apply to --batch FOLDER", file=sys.stderr)
        return EXIT_MISUSE
    if args.batch is not None or args.csv is not None:
        if args.batch is None:
            print("cxrviewer: --csv is only used with --batch FOLDER", file=sys.stderr)
            return EXIT_MISUSE
        return run_batch_cli(args)
    from cxrviewer.ui.app import run_gui  # Qt is imported only for the GUI

    return run_gui(args.paths, models_dir=args.models_dir, model=args.model)


if __name__ == "__main__":
    sys.exit(main())
