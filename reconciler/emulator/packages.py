"""What the emulator's Python repositories serve: one small, valid wheel (built in memory,
byte-for-byte reproducible) behind a PEP 503 index. The R repositories are in `rpackages`."""

from __future__ import annotations

import base64
import hashlib
import html
import io
import re
import zipfile
from dataclasses import dataclass
from functools import cache

PROJECT = "ppmdemo"
VERSION = "1.0.0"
WHEEL_NAME = f"{PROJECT}-{VERSION}-py3-none-any.whl"
_DIST_INFO = f"{PROJECT}-{VERSION}.dist-info"
_TIMESTAMP = (2024, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Wheel:
    filename: str
    content: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


@cache
def demo_wheel() -> Wheel:
    files = {
        f"{PROJECT}/__init__.py": b'"""A demo package served by the ppm-tokens emulator."""\n\n'
        b'__version__ = "1.0.0"\n',
        f"{_DIST_INFO}/METADATA": (
            f"Metadata-Version: 2.1\nName: {PROJECT}\nVersion: {VERSION}\n"
            "Summary: A demo package served by the ppm-tokens emulator\nLicense: MIT\n"
        ).encode(),
        f"{_DIST_INFO}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: ppm-emulator\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n"
        ),
    }
    record = "\n".join(
        [*(_record_line(path, data) for path, data in files.items()), f"{_DIST_INFO}/RECORD,,"]
    )
    files[f"{_DIST_INFO}/RECORD"] = (record + "\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in files.items():
            info = zipfile.ZipInfo(path, date_time=_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return Wheel(WHEEL_NAME, buffer.getvalue())


def normalize(name: str) -> str:
    """PEP 503 name normalization."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _page(title: str, links: list[tuple[str, str]]) -> str:
    body = "\n".join(f'    <a href="{html.escape(h)}">{html.escape(t)}</a><br/>' for h, t in links)
    return (
        '<!DOCTYPE html>\n<html>\n  <head><meta name="pypi:repository-version" content="1.0">'
        f"<title>{html.escape(title)}</title></head>\n  <body>\n{body}\n  </body>\n</html>\n"
    )


def simple_root(repo: str) -> str:
    return _page(f"{repo}: simple index", [(f"/{repo}/latest/simple/{PROJECT}/", PROJECT)])


def simple_project(repo: str) -> str:
    wheel = demo_wheel()
    href = f"/{repo}/latest/files/{wheel.filename}#sha256={wheel.sha256}"
    return _page(f"Links for {PROJECT}", [(href, wheel.filename)])
