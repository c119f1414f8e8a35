"""Load a space module from a path: any failure becomes a SpaceError naming the file."""
from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

from gridsearch.errors import SpaceError
from gridsearch.space.search_space import SearchSpace, validate


@dataclass(frozen=True)
class LoadedSpace:
    space: SearchSpace
    path: Path
    sha256: str  # of the file's bytes: tells a resumed run whether the space changed

    @property
    def folder(self) -> Path:
        """Relative data paths in a space file are read from the file's own folder."""
        return self.path.parent


def load_space(path: str | Path, plan: str | None = None) -> LoadedSpace:
    """`plan` overrides the space's own (`doctor SPACE` is `plan="auto"`), before validation."""
    path = Path(path)
    if path.is_dir():
        spaces = sorted(str(p) for p in path.glob("*.py") if not p.name.startswith("_"))
        listed = ("; its space files: " + ", ".join(spaces)) if spaces else " without any .py file"
        raise SpaceError(f"space file {path} is a folder{listed}. Name one file, e.g. "
                         f"python -m gridsearch run {spaces[0] if spaces else 'path/to/space.py'}")
    if not path.is_file():
        raise SpaceError(f"space file {path} does not exist (expected a Python file defining `space = SearchSpace(...)`)")
    if path.suffix != ".py":
        raise SpaceError(f"space file {path} must be a Python module ending in .py")
    source = path.read_bytes()
    try:
        code = compile(source, str(path), "exec")
    except SyntaxError as exc:
        raise SpaceError(f"syntax error in {path}, line {exc.lineno}: {exc.msg}") from None
    module_name = f"_gridsearch_space_{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    # The space's own folder is importable while it runs, so it can import its helpers;
    # the module stays registered so that its builders can be pickled by joblib workers.
    sys.modules[module_name] = module
    sys.path.insert(0, str(path.parent.resolve()))
    try:
        exec(code, module.__dict__)
    except Exception as exc:  # the user's code: anything can happen, report it with its line
        frame = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(path)]
        where = f", line {frame[-1].lineno}" if frame else ""
        raise SpaceError(f"error while running {path}{where}: {type(exc).__name__}: {exc}") from None
    finally:
        sys.path.remove(str(path.parent.resolve()))
    if not hasattr(module, "space"):
        raise SpaceError(f"{path} defines no `space`; add `space = SearchSpace(name=..., stages=[...])`")
    space = module.space
    if plan is not None and isinstance(space, SearchSpace):
        space = dataclasses.replace(space, plan=plan)
    return LoadedSpace(validate(space, path), path, hashlib.sha256(source).hexdigest())
