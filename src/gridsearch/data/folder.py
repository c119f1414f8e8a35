"""An image folder (one sub-folder per class) as a checked file list: nothing is decoded here.

Every file is looked at once, cheaply, before anything trains: PIL reads only its header (format and
colour mode: about 0.1 ms a file, 2 s for 20,000), and a JPEG or PNG must end with its end marker (a
truncated download would otherwise fail in the middle of an epoch). What is found is said with the file
names: non-images and broken images are skipped with a warning, grayscale and alpha images are
converted to the run's colour mode, an empty class folder is refused.
"""
from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gridsearch.errors import SpaceError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
IMAGE_SIZE = (64, 64)  # an image folder's images are resized to this unless data_options says otherwise
END_MARKERS = {"JPEG": b"\xff\xd9", "PNG": b"IEND\xaeB`\x82"}  # what a complete file of the format ends with
TAIL_BYTES = 32  # JPEG writers may pad after the end marker; the marker sits within the last few bytes
NAMES_SHOWN = 5  # file names a message lists before "and N more"
PROGRESS_EVERY = 500  # files between two progress calls while listing (about 0.1 s of header reads)

Progress = Callable[[str, int, int], None]  # (step, done, total): a reporter's `data_progress`


@dataclass
class ImageFiles:
    """The usable images of a folder: paths relative to `root`, class index per file, class names."""

    root: Path
    paths: list[str]
    labels: np.ndarray
    classes: list[str]
    sizes: np.ndarray  # bytes per file
    mtimes: np.ndarray  # ns
    notes: list[str] = field(default_factory=list)  # what was skipped or converted, for the run's output

    def identity(self, indices: np.ndarray) -> bytes:
        """What these files are, without reading them: path, size and modification time."""
        return "\n".join(f"{self.paths[i]}\t{self.sizes[i]}\t{self.mtimes[i]}" for i in indices).encode()

    def content_keys(self, indices: np.ndarray, other: np.ndarray) -> tuple[list[bytes], list[bytes]]:
        """Digests of the files' bytes for the duplicate check of two parts; only files whose size occurs in
        both parts are read (the others cannot be duplicates), so it costs a few reads, not the folder."""
        shared = set(self.sizes[indices].tolist()) & set(self.sizes[other].tolist())

        def keys(part: np.ndarray) -> list[bytes]:
            return [_digest(self.root / self.paths[i]) if self.sizes[i] in shared else f"size:{i}".encode()
                    for i in part]

        return keys(indices), keys(other)


def _digest(path: Path) -> bytes:
    return hashlib.sha1(path.read_bytes()).digest()


def list_image_folder(path: Path, color_mode: str, where: str, progress: Progress | None = None) -> ImageFiles:
    """List and check every file once; SpaceError for a folder that cannot train, warnings for what is skipped.
    `progress` hears how many files of how many were checked."""
    if color_mode not in ("rgb", "grayscale", "rgba"):
        raise SpaceError(f"data_options['color_mode']={color_mode!r} in {where} is not allowed "
                         f"(allowed: 'rgb', 'grayscale', 'rgba')")
    class_dirs = sorted(d for d in path.iterdir() if d.is_dir())
    if len(class_dirs) < 2:
        raise SpaceError(f"image folder {path} named in {where} needs one sub-folder per class (at least 2), "
                         f"found {len(class_dirs)}")
    paths, labels, sizes, mtimes = [], [], [], []
    skipped: dict[str, list[str]] = {"not an image": [], "broken or truncated": []}
    converted: dict[str, list[str]] = {}  # PIL colour mode -> files
    empty = []
    listed = [sorted(f for f in class_dir.rglob("*") if f.is_file()) for class_dir in class_dirs]
    total, done = sum(map(len, listed)), 0
    for label, (class_dir, class_files) in enumerate(zip(class_dirs, listed)):
        found = 0
        for file in class_files:
            done += 1
            if progress is not None and (done % PROGRESS_EVERY == 0 or done == total):
                progress(f"checking the files of {path.name}", done, total)
            relative = file.relative_to(path).as_posix()
            problem, mode = _inspect(file)
            if problem:
                skipped[problem].append(relative)
                continue
            converted.setdefault(mode, []).append(relative)
            stat = file.stat()
            paths.append(relative)
            labels.append(label)
            sizes.append(stat.st_size)
            mtimes.append(stat.st_mtime_ns)
            found += 1
        if not found:
            empty.append(class_dir.name)
    if empty:
        raise SpaceError(f"image folder {path} named in {where}: class folder(s) {', '.join(map(repr, empty))} hold "
                         f"no readable image ({', '.join(IMAGE_SUFFIXES)}); add images or remove the folder")
    notes = [f"skipped {len(files)} file(s) of {path} ({problem}): {_names(files)}"
             for problem, files in skipped.items() if files]
    usual = max(converted, key=lambda mode: len(converted[mode]), default=None)  # the folder's own colour mode
    notes += [f"converted {len(files)} {mode} image(s) of {path} to {color_mode}: {_names(files)}"
              for mode, files in converted.items() if mode != usual and _converts(mode, color_mode)]
    for note in notes:
        warnings.warn(note, stacklevel=2)
    return ImageFiles(path, paths, np.array(labels, dtype="int64"), [d.name for d in class_dirs],
                      np.array(sizes, dtype="int64"), np.array(mtimes, dtype="int64"), notes)


def _inspect(file: Path) -> tuple[str, str | None]:
    """('' or the problem, PIL's colour mode): header and end marker only, no pixels decoded."""
    if file.suffix.lower() not in IMAGE_SUFFIXES:
        return "not an image", None
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(file) as image:
            kind, mode = image.format, image.mode
    except (UnidentifiedImageError, OSError, ValueError):
        return "broken or truncated", None
    marker = END_MARKERS.get(kind)
    if marker is not None:
        with open(file, "rb") as handle:
            handle.seek(max(0, os.path.getsize(file) - TAIL_BYTES))
            if marker not in handle.read():
                return "broken or truncated", None
    return "", mode


def _converts(mode: str, color_mode: str) -> bool:
    """Whether TensorFlow's decoder changes this image's channels to reach the run's colour mode."""
    channels = {"1": 1, "L": 1, "I": 1, "I;16": 1, "LA": 2, "P": 3, "RGB": 3, "YCbCr": 3, "CMYK": 4, "RGBA": 4}
    return channels.get(mode, 3) != {"grayscale": 1, "rgb": 3, "rgba": 4}[color_mode]


def _names(files: list[str]) -> str:
    more = f" and {len(files) - NAMES_SHOWN} more" if len(files) > NAMES_SHOWN else ""
    return ", ".join(files[:NAMES_SHOWN]) + more


def folder_options(options: dict[str, Any]) -> tuple[tuple[int, int], str]:
    """(image_size, color_mode) of data_options, with the defaults."""
    return tuple(options.get("image_size", IMAGE_SIZE)), options.get("color_mode", "rgb")
