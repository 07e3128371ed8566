"""What the emulator's R repositories serve: a CRAN-like `src/contrib` with two tiny source
packages (one imports the other), built in memory with fixed timestamps so every start serves
the same bytes.

`R`'s `install.packages()`, pak and renv read, under a repository URL `.../latest`:
`src/contrib/PACKAGES.rds` (R tries it first: CRAN has none either, so a 404 sends R on to the
next), `PACKAGES.gz`, `PACKAGES`, the tarballs `<name>_<version>.tar.gz`, and
`src/contrib/Meta/archive.rds` (renv and pak, looking for older versions: an empty named list,
as CRAN's would be if nothing had ever been archived). Everything else is a 404, as on a
repository without binaries or archived versions.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import struct
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

_MTIME = 1_704_067_200  # 2024-01-01T00:00:00Z: fixed, so the tarballs are reproducible
_MAINTAINER = "Package Manager Emulator <emulator@example.com>"


@dataclass(frozen=True)
class RPackage:
    name: str
    version: str
    title: str
    imports: tuple[str, ...]
    namespace: str
    code: str

    @property
    def filename(self) -> str:
        return f"{self.name}_{self.version}.tar.gz"

    def description(self) -> str:
        fields = [
            ("Package", self.name),
            ("Version", self.version),
            ("Title", self.title),
            ("Description", f"{self.title}. Served by the ppm-tokens emulator."),
            ("Author", "Package Manager Emulator"),
            ("Maintainer", _MAINTAINER),
            ("Depends", "R (>= 3.5.0)"),
            ("Imports", ", ".join(self.imports)),
            ("License", "CC0"),
            ("Encoding", "UTF-8"),
            ("NeedsCompilation", "no"),
        ]
        return _dcf(fields)


def _dcf(fields: list[tuple[str, str]]) -> str:
    """One stanza of R's Debian control file format, leaving out empty fields."""
    return "".join(f"{key}: {value}\n" for key, value in fields if value)


PACKAGES = (
    RPackage(
        name="ppmdemo",
        version="1.0.0",
        title="Greets Through Its Dependency",
        imports=("ppmhello",),
        namespace="export(greet)\nimportFrom(ppmhello, hello)\n",
        code='greet <- function() hello("Package Manager")\n',
    ),
    RPackage(
        name="ppmhello",
        version="0.2.1",
        title="Says Hello",
        imports=(),
        namespace="export(hello)\n",
        code='hello <- function(name = "world") paste0("Hello, ", name, "!")\n',
    ),
)
# What `ppmdemo::greet()` returns once both are installed: proof that the dependency came too.
GREETING = "Hello, Package Manager!"


def _tar_entry(name: str, data: bytes | None) -> tuple[tarfile.TarInfo, io.BytesIO | None]:
    info = tarfile.TarInfo(name)
    info.mtime = _MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if data is None:
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        return info, None
    info.mode = 0o644
    info.size = len(data)
    return info, io.BytesIO(data)


def source_tarball(package: RPackage) -> bytes:
    """The package as `R CMD build` would lay it out: `<name>/DESCRIPTION`, `NAMESPACE`, `R/`."""
    root = package.name
    entries: list[tuple[str, bytes | None]] = [
        (f"{root}/", None),
        (f"{root}/DESCRIPTION", package.description().encode()),
        (f"{root}/NAMESPACE", package.namespace.encode()),
        (f"{root}/R/", None),
        (f"{root}/R/{root}.R", package.code.encode()),
    ]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name, data in entries:
            archive.addfile(*_tar_entry(name, data))
    return gzip.compress(buffer.getvalue(), mtime=0)


def packages_index(tarballs: Mapping[str, bytes]) -> str:
    """`PACKAGES` as `tools::write_PACKAGES()` writes it: one stanza per package, by name."""
    stanzas = []
    for package in sorted(PACKAGES, key=lambda p: p.name):
        fields = [
            ("Package", package.name),
            ("Version", package.version),
            ("Depends", "R (>= 3.5.0)"),
            ("Imports", ", ".join(package.imports)),
            ("License", "CC0"),
            ("MD5sum", hashlib.md5(tarballs[package.filename]).hexdigest()),
            ("NeedsCompilation", "no"),
        ]
        stanzas.append(_dcf(fields))
    return "\n".join(stanzas)


def _xdr_int(value: int) -> bytes:
    return struct.pack(">i", value)


def empty_named_list_rds() -> bytes:
    """`saveRDS(structure(list(), names = character(0)))`: R's serialization format 3, XDR,
    gzip-compressed, the bytes R 4.2 writes. Looking a name up in it gives NULL, which is how
    renv and pak read "no archived versions of this package"."""
    names = b"names"
    body = b"".join(
        [
            b"X\n",
            _xdr_int(3),  # serialization format
            _xdr_int(0x040202),  # written by R 4.2.2
            _xdr_int(0x030500),  # readable from R 3.5.0
            _xdr_int(5),
            b"UTF-8",
            _xdr_int(19 | 1 << 9),  # a list (VECSXP) with attributes
            _xdr_int(0),  # of length 0
            _xdr_int(2 | 1 << 10),  # attributes: a pairlist node with a tag
            _xdr_int(1),  # the tag is a symbol
            _xdr_int(9 | 64 << 12),  # whose name is an ASCII string
            _xdr_int(len(names)),
            names,
            _xdr_int(16),  # the value: a character vector
            _xdr_int(0),  # of length 0
            _xdr_int(254),  # end of the pairlist
        ]
    )
    return gzip.compress(body, mtime=0)


@dataclass(frozen=True)
class RFile:
    content: bytes
    media_type: str


@cache
def r_repository() -> Mapping[str, RFile]:
    """Every file of the repository, by its path below `src/contrib/`."""
    tarballs = {package.filename: source_tarball(package) for package in PACKAGES}
    index = packages_index(tarballs).encode()
    files = {name: RFile(data, "application/x-gzip") for name, data in tarballs.items()}
    files["PACKAGES"] = RFile(index, "text/plain; charset=utf-8")
    files["PACKAGES.gz"] = RFile(gzip.compress(index, mtime=0), "application/x-gzip")
    files["Meta/archive.rds"] = RFile(empty_named_list_rds(), "application/octet-stream")
    return files


def r_file(path: str) -> RFile | None:
    """The file at `path` below the repository URL (`src/contrib/...`); None for a 404."""
    prefix = "src/contrib/"
    if not path.startswith(prefix):
        return None
    return r_repository().get(path.removeprefix(prefix))
