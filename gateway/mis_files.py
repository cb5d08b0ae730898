"""Sending an MIS file (CTF, CSV) to mis_import: in chunks of at most 3 MB, because gRPC
messages stop at 4 MB. The gateway holds at most two chunks of a file at a time (the file
itself is spooled to disk by the form parser). Used by Admin > Imports and /api/v1/mis."""

from __future__ import annotations

from typing import BinaryIO

from gateway.backends import call
from haven.mis_import.v1 import mis_import_pb2 as pb

CHUNK_BYTES = 3 * 1024 * 1024
CHUNK_TIMEOUT = 20.0  # seconds to store one chunk
LAST_CHUNK_TIMEOUT = 50.0  # the last chunk: the service checks the start of the whole file
MULTIPART_SLACK = 64 * 1024  # form fields and boundaries around the file in a request body
CSV_ENTITIES = ("students", "staff")


def stream_size(stream: BinaryIO) -> int | None:
    """The size of a received file (the form parser spooled it: it can seek), else None."""
    try:
        here = stream.tell()
        size = stream.seek(0, 2)
        stream.seek(here)
    except (AttributeError, OSError, ValueError):
        return None
    return size - here


def clean_filename(name: str) -> str:
    return (name or "").strip().replace("\\", "/").rsplit("/", 1)[-1][:255]


def send_file(stream: BinaryIO, *, filename: str, csv_entity: str = "students", kind: str = "",
              chunk_bytes: int | None = None) -> pb.UploadImportFileResponse:
    """Stream a file to mis_import; the reply to the last chunk says what the file is.
    One chunk is read ahead to know whether more follow."""
    chunk_bytes = chunk_bytes or CHUNK_BYTES
    upload_id, offset = "", 0
    current = stream.read(chunk_bytes)
    while True:
        following = stream.read(chunk_bytes) if current else b""
        more = bool(following)
        reply = call("mis_import", "UploadImportFile", pb.UploadImportFileRequest(
            filename=filename, content=current, upload_id=upload_id, offset=offset,
            more_to_follow=more, kind=kind, csv_entity=csv_entity),
            timeout=CHUNK_TIMEOUT if more else LAST_CHUNK_TIMEOUT)
        upload_id = reply.upload_id
        offset += len(current)
        if not more:
            return reply
        current = following
