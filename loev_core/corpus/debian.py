"""Fetch and unpack Debian packages without installing them: `apt-get download` into a cache folder,
`dpkg-deb -x` into a scratch folder, and the audio members of zip archives (Quake-style `.pk3`) read out.

Every problem a user can fix (no apt-get, no registry, no dpkg-deb, a broken .deb) is a `DebianError`
whose message says what to do; the command line turns it into exit status 2.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

ARCHIVES = (".pk3", ".zip")
OFFLINE_HINT = ("the generated corpus needs no network: `loev corpus --out DIR --clips N`; or copy the .deb files "
                "into the cache folder (--cache) on a machine that has them")


class DebianError(RuntimeError):
    """A .deb cannot be fetched or unpacked; the message says why and what to do."""


@dataclass(frozen=True)
class DebPackage:
    """One downloaded package: its name and version (from its control file), the file and its sha256."""

    name: str
    version: str
    path: Path
    sha256: str


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise DebianError(f"`{name}` not found: building the real-music corpus needs Debian's package tools "
                          f"(apt-get, dpkg-deb); {OFFLINE_HINT}")
    return path


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cached_deb(name: str, cache: Path) -> Path | None:
    """The .deb of package `name` in `cache` (the last by file name when there are several), or None."""
    found = sorted(p for p in cache.glob(f"{name}_*.deb") if p.name.split("_", 1)[0] == name)
    return found[-1] if found else None


def download(names: Sequence[str], cache: Path, progress: bool = True) -> dict[str, Path]:
    """{name: .deb} for every package, fetched with `apt-get download` only when not already cached."""
    cache.mkdir(parents=True, exist_ok=True)
    debs = {n: p for n in names if (p := cached_deb(n, cache)) is not None}
    missing = [n for n in names if n not in debs]
    if missing:
        apt = _tool("apt-get")
        for name in tqdm(missing, desc="download .debs", unit="pkg", disable=not progress):
            try:
                done = subprocess.run([apt, "download", name], cwd=cache, capture_output=True, text=True,
                                      timeout=1800)
            except subprocess.TimeoutExpired:
                raise DebianError(f"apt-get download {name} took over 30 min; {OFFLINE_HINT}") from None
            deb = cached_deb(name, cache)
            if done.returncode or deb is None:
                why = (done.stderr or done.stdout).strip().splitlines()[-3:]
                raise DebianError(f"cannot download {name} from the Debian package registry (apt-get download: "
                                  f"{' / '.join(why) or 'no .deb written'}). Check the network and the apt "
                                  f"sources (`apt-get update`); {OFFLINE_HINT}")
            debs[name] = deb
    return {n: debs[n] for n in names}


def describe(deb: Path) -> DebPackage:
    """Name, version and sha256 of a .deb (read with `dpkg-deb -f`)."""
    done = subprocess.run([_tool("dpkg-deb"), "-f", str(deb), "Package", "Version"], capture_output=True, text=True)
    fields = dict(re.findall(r"^(\w+): (.*)$", done.stdout, flags=re.M))
    if done.returncode or "Package" not in fields:
        raise DebianError(f"{deb}: not a readable .deb ({done.stderr.strip() or 'no control fields'}); delete it "
                          "and run again to download it afresh")
    return DebPackage(fields["Package"], fields.get("Version", "?"), deb, sha256_of(deb))


def unpack(deb: Path, dest: Path) -> Path:
    """`dpkg-deb -x deb dest` (what `dpkg -x` does): the package's files under `dest`, nothing installed."""
    dest.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([_tool("dpkg-deb"), "-x", str(deb), str(dest)], capture_output=True, text=True)
    if done.returncode:
        raise DebianError(f"{deb}: dpkg-deb -x failed ({done.stderr.strip()}); delete it and run again")
    return dest


def archive_members(archive: Path, suffixes: Sequence[str]) -> list[str]:
    """Names of the files in a zip archive that end in one of `suffixes` (case-insensitive), sorted."""
    try:
        with zipfile.ZipFile(archive) as z:
            return sorted(n for n in z.namelist() if not n.endswith("/") and n.lower().endswith(tuple(suffixes)))
    except zipfile.BadZipFile:
        return []


def extract_member(archive: Path, member: str, dest: Path) -> Path:
    """Copy one archive member to `dest` (a file path) and return it."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive) as z, z.open(member) as src, dest.open("wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)
    return dest


def package_files(root: Path) -> Iterator[Path]:
    """Every regular file an unpacked package holds, in a stable order (its docs left out)."""
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.is_symlink() and "/usr/share/doc/" not in f"/{p.relative_to(root).as_posix()}":
            yield p
