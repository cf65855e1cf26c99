"""Members of a zip container (.docx, .epub) read with caps, and their XML parsed safely.

A zip bomb declares small sizes and inflates to gigabytes: each member is read as a stream and
stopped one byte past its cap, whatever its header claims, and a whole document may inflate to
`MAX_TOTAL_BYTES` at most. XML goes through defusedxml, which refuses entity declarations (the
"billion laughs") and external references outright.
"""

from __future__ import annotations

import importlib.util
import io
import zipfile
from typing import Any

MAX_MEMBERS = 20_000
MAX_MEMBER_BYTES = 32 * 2**20
MAX_TOTAL_BYTES = 128 * 2**20
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # a compound file: an encrypted Office file
EXTRA_MISSING = "needs the documents extra (pip install 'longread[documents]')"


class ContainerError(Exception):
    """The container cannot be read; the message is the skip reason."""


def xml_available() -> bool:
    """defusedxml installed (found without importing it: the reader key names it)."""
    return importlib.util.find_spec("defusedxml") is not None


class Container:
    """An open zip whose members are read under the caps, in total too."""

    def __init__(self, data: bytes, what: str) -> None:
        if data.startswith(_OLE_MAGIC):
            raise ContainerError(f"encrypted (password required) or not a {what} zip "
                                 "(an old binary Office file?)")
        try:
            self._zip = zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, ValueError, OSError) as exc:
            raise ContainerError(f"unreadable {what} (not a zip: {exc})") from exc
        if len(self._zip.infolist()) > MAX_MEMBERS:
            raise ContainerError(f"unreadable {what} (more than {MAX_MEMBERS:,} members)")
        self._what = what
        self._read = 0

    def names(self) -> set[str]:
        return set(self._zip.namelist())

    def read(self, name: str) -> bytes:
        """The member `name`, or ContainerError when it is missing, broken or over a cap."""
        try:
            with self._zip.open(name) as member:
                data = member.read(MAX_MEMBER_BYTES + 1)
        except KeyError as exc:
            raise ContainerError(f"unreadable {self._what} (no {name})") from exc
        except RuntimeError as exc:  # zipfile: "File ... is encrypted, password required"
            raise ContainerError("encrypted (password required)") from exc
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
            raise ContainerError(f"unreadable {self._what} ({name}: {exc})") from exc
        self._read += len(data)
        if len(data) > MAX_MEMBER_BYTES or self._read > MAX_TOTAL_BYTES:
            raise ContainerError(f"unreadable {self._what} (inflates past the "
                                 f"{MAX_MEMBER_BYTES // 2**20} MiB member or "
                                 f"{MAX_TOTAL_BYTES // 2**20} MiB total cap: a zip bomb?)")
        return data

    def xml(self, name: str) -> Any:
        """The member parsed as XML (an ElementTree element)."""
        return parse_xml(self.read(name), f"{self._what} {name}")


def parse_xml(data: bytes, what: str) -> Any:
    """`data` as an ElementTree element; ContainerError for bad or hostile XML."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, fromstring

    try:
        return fromstring(data)
    except DefusedXmlException as exc:
        raise ContainerError(f"unreadable {what} (refused XML: {type(exc).__name__})") from exc
    except (ParseError, ValueError) as exc:
        raise ContainerError(f"unreadable {what} (bad XML: {exc})") from exc
