"""What a submitted file may be, for both tiers: the web tier's presigned POST limits an upload
by these rules, and the worker's check (worker/handlers/submissions.py) reads what arrived and
judges it by the same rules again, from its bytes, because a policy's Content-Type is only what
the browser said."""
from __future__ import annotations

import codecs
import re
import unicodedata
import uuid
from dataclasses import dataclass

# Files per submission and characters of its text.
MAX_FILES = 10
BODY_MAX = 50_000
FILENAME_MAX = 120
KEY_PREFIX = "submissions"


@dataclass(frozen=True)
class FileType:
    content_type: str
    label: str
    # Signatures the content must start with; none for plain text (checked as UTF-8 instead).
    magic: tuple[bytes, ...]


_ZIP = (b"PK\x03\x04", b"PK\x05\x06")
# By extension: the type an upload is given follows from its name, so what the browser claims
# (often empty, or application/octet-stream) decides nothing.
ALLOWED: dict[str, FileType] = {
    "pdf": FileType("application/pdf", "PDF", (b"%PDF-",)),
    "png": FileType("image/png", "PNG image", (b"\x89PNG\r\n\x1a\n",)),
    "jpg": FileType("image/jpeg", "JPEG image", (b"\xff\xd8\xff",)),
    "jpeg": FileType("image/jpeg", "JPEG image", (b"\xff\xd8\xff",)),
    "txt": FileType("text/plain", "text", ()),
    "zip": FileType("application/zip", "ZIP archive", _ZIP),
    "docx": FileType("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "Word document", _ZIP),
    "xlsx": FileType("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "Excel workbook", _ZIP),
    "pptx": FileType("application/vnd.openxmlformats-officedocument.presentationml.presentation",
                     "PowerPoint presentation", _ZIP),
    "odt": FileType("application/vnd.oasis.opendocument.text", "OpenDocument text", _ZIP),
    "ods": FileType("application/vnd.oasis.opendocument.spreadsheet", "OpenDocument spreadsheet", _ZIP),
    "odp": FileType("application/vnd.oasis.opendocument.presentation", "OpenDocument presentation", _ZIP),
}
ALLOWED_EXTENSIONS = tuple(ALLOWED)
MAGIC_BYTES = max(len(m) for t in ALLOWED.values() for m in t.magic)

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class FileRefused(ValueError):
    """An upload that cannot be asked for: `field` names the input at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def safe_filename(raw: str) -> str:
    """The file's name as stored in its key and in the ZIP: ASCII letters, digits, dot, dash and
    underscore (accents dropped, anything else a dash), no leading dot, at most FILENAME_MAX,
    the extension (after the last dot) kept. Nothing of it can climb out of a folder or break a
    header."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""

    def clean(part: str) -> str:
        part = unicodedata.normalize("NFKD", part).encode("ascii", "ignore").decode()
        return _UNSAFE.sub("-", part).strip(".-_")

    stem, ext = clean(stem) or "file", clean(ext).lower()[:16]
    room = FILENAME_MAX - (len(ext) + 1 if ext else 0)
    return f"{stem[:room]}.{ext}" if ext else stem[:FILENAME_MAX]


def file_type(filename: str) -> FileType:
    """The allowed type of a file by its (safe) name's extension, or FileRefused."""
    _, dot, ext = filename.rpartition(".")
    found = ALLOWED.get(ext.lower()) if dot else None
    if found is None:
        raise FileRefused("filename", f"{filename!r} is not a type you can submit; allowed: "
                          + ", ".join(f".{e}" for e in ALLOWED_EXTENSIONS))
    return found


def student_prefix(activity_id: int, student_id: int) -> str:
    """Every key of a student's uploads for an activity starts with this: the web tier accepts
    a key in a submission only under the caller's own prefix."""
    return f"{KEY_PREFIX}/{activity_id}/{student_id}/"


def upload_key(activity_id: int, student_id: int, filename: str, token: uuid.UUID | None = None) -> str:
    """submissions/<activity>/<student>/<uuid>/<safe filename>: a fresh folder per upload, so
    two files of one name never overwrite each other and a key is unguessable."""
    return f"{student_prefix(activity_id, student_id)}{(token or uuid.uuid4()).hex}/{filename}"


_KEY = re.compile(r"^submissions/([0-9]{1,10})/([0-9]{1,10})/([0-9a-f]{32})/([A-Za-z0-9._-]{1,120})$")


def parse_key(key: str) -> tuple[int, int, str] | None:
    """(activity id, student id, filename) of a key upload_key made; None for anything else."""
    match = _KEY.match(key) if isinstance(key, str) else None
    if match is None or match.group(4).startswith("."):
        return None
    return int(match.group(1)), int(match.group(2)), match.group(4)


class ContentCheck:
    """Fed a file's bytes in order: its size, and whether they are what its type says (the
    signature of a binary type; valid UTF-8 without NUL for text). `problem()` after the last
    chunk says what is wrong, or None."""

    def __init__(self, kind: FileType):
        self.kind = kind
        self.size = 0
        self._head = b""
        self._decoder = codecs.getincrementaldecoder("utf-8")() if not kind.magic else None
        self._text_problem: str | None = None

    def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if len(self._head) < MAGIC_BYTES:
            self._head += chunk[:MAGIC_BYTES - len(self._head)]
        if self._decoder is not None and self._text_problem is None:
            if b"\x00" in chunk:
                self._text_problem = "it is not plain text (it holds NUL bytes)"
                return
            try:
                self._decoder.decode(chunk)
            except UnicodeDecodeError:
                self._text_problem = "it is not plain text (not valid UTF-8)"

    def problem(self) -> str | None:
        if self.size == 0:
            return "the file is empty"
        if self._decoder is not None:
            if self._text_problem is None:
                try:
                    self._decoder.decode(b"", final=True)
                except UnicodeDecodeError:
                    self._text_problem = "it is not plain text (not valid UTF-8)"
            return self._text_problem
        if not any(self._head.startswith(m) for m in self.kind.magic):
            return f"its content is not a {self.kind.label}"
        return None
