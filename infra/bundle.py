"""Build the source bundle that `eb deploy` uploads, to look at it before it is uploaded.

The EB CLI zips every file under the project root except: what `.ebignore` matches (pathspec
"gitwildmatch" rules, like .gitignore), `.ebignore` itself, anything under `.elasticbeanstalk/`,
and editor backups ending in `~` (ebcli/core/fileoperations.py, `get_ebignore_list`, `_zipdir`).
This does the same with the same pathspec version, keeping file modes so executable files stay
executable. `make bundle` runs it; tests/deploy/test_bundle.py checks what the zip holds.

    python -m infra.bundle [OUTPUT]      (default: dist/aula.zip)
"""
from __future__ import annotations

import os
import sys
import zipfile
from pathlib import Path

from pathspec import PathSpec

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = Path("dist", "aula.zip")


def ebignore_spec(root: Path) -> PathSpec:
    ebignore = root / ".ebignore"
    if not ebignore.is_file():
        raise FileNotFoundError(f"{ebignore} is missing: without it the EB CLI would bundle what git tracks")
    with ebignore.open(encoding="utf-8") as lines:
        return PathSpec.from_lines("gitwildmatch", lines)


def bundle_files(root: Path = ROOT) -> list[str]:
    """The files the bundle holds, relative to `root` (POSIX), in the order they are zipped."""
    spec = ebignore_spec(root)
    # The EB CLI matches every file of the tree; a directory the rules match has all its files
    # matched too, so without negated rules (none here) its walk can stop there: same result,
    # without reading .venv's twenty thousand files.
    prune = not any(pattern.include is False for pattern in spec.patterns)
    files: list[str] = []
    for directory, dirs, names in os.walk(root):
        relative_dir = Path(directory).relative_to(root)
        dirs[:] = sorted(
            d for d in dirs
            if d != ".elasticbeanstalk" and not (prune and spec.match_file((relative_dir / d).as_posix() + "/"))
        )
        for name in sorted(names):
            relative = (relative_dir / name).as_posix()
            if relative == ".ebignore" or name.endswith("~") or spec.match_file(relative):
                continue
            if (Path(directory) / name).is_file():
                files.append(relative)
    return files


def build(output: Path, root: Path = ROOT) -> list[str]:
    """Write the zip to `output` (relative paths are under `root`); return the files it holds."""
    output = output if output.is_absolute() else root / output
    output.parent.mkdir(parents=True, exist_ok=True)
    files = bundle_files(root)
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as bundle:
        for relative in files:
            # ZipFile.write keeps the file's mode bits (hooks must stay executable on the instance).
            bundle.write(root / relative, arcname=relative)
    return files


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    output = Path(args[0]) if args else DEFAULT_OUTPUT
    files = build(output)
    path = output if output.is_absolute() else ROOT / output
    print(f"{path}: {len(files)} files, {path.stat().st_size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
