"""Incremental reading of JSON array files: one record at a time, in memory bounded by the largest record.

The file is decoded block by block; each element of the top-level array (or of the ``samples`` array
of a top-level object) is parsed with the C JSON decoder straight from the buffer. When an element
does not parse, a small bracket/string scanner decides whether it is merely cut by the end of the
buffer (read more and retry) or complete but malformed (it becomes a RawItem with an error, i.e. a
reject, and reading goes on after it). Structural damage that leaves no way to find the next
element (an unclosed array or string at the end of the file, garbage between elements) raises
InputError naming the file and the character offset.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from pixelis_data.readers.base import RawItem

BLOCK_BYTES = 1 << 20
SAMPLES_KEY = "samples"
_WS = re.compile(r"[ \t\n\r]*")
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]|"', re.S)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_SCALAR_END = re.compile(r"[,\]}]")
_DECODER = json.JSONDecoder()
_SCALAR_MARGIN = 64


class JsonStreamError(ValueError):
    """The file is not a JSON list of records / ``{"samples": [...]}`` (message without the path)."""


def _element_end(buf: str, start: int) -> int | None:
    """End of the JSON element starting at ``start`` if it is complete in ``buf`` (None: need more)."""
    if start >= len(buf):
        return None
    first = buf[start]
    if first == '"':
        match = _STRING.match(buf, start)
        return match.end() if match else None
    if first not in "[{":
        match = _SCALAR_END.search(buf, start)
        return match.start() if match else None
    depth = 0
    for match in _TOKEN.finditer(buf, start):
        token = match.group()
        if token == '"':
            return None  # a string not closed in this buffer
        if len(token) > 1:
            continue
        depth += 1 if token in "[{" else -1
        if depth == 0:
            return match.end()
    return None


class JsonItems:
    """Iterates the records of a JSON file as RawItems (``index`` = position in the array).

    Each RawItem holds the parsed value, or with ``keep_text`` only the element's text as it is in the
    file (what the JSONL fast path and rejects use). ``bytes_read`` tells how far reading has got.
    """

    def __init__(self, path: Path, block_bytes: int = BLOCK_BYTES, keep_text: bool = False) -> None:
        self.path = path
        self.block_bytes = block_bytes
        self.keep_text = keep_text
        self.bytes_read = 0
        self._fh: BinaryIO | None = None
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._buf = ""
        self._pos = 0
        self._base = 0  # characters dropped from the front of the buffer so far
        self._eof = False

    # -- buffer -------------------------------------------------------------------------------
    def _fill(self) -> bool:
        """Append more text (at least as much as is buffered, so big records take few retries)."""
        if self._eof or self._fh is None:
            return False
        size = max(self.block_bytes, len(self._buf) - self._pos)
        data = self._fh.read(size)
        self.bytes_read += len(data)
        try:
            text = self._decoder.decode(data, final=not data)
        except UnicodeDecodeError as err:
            raise JsonStreamError(
                f"not UTF-8 text ({err.reason} near byte {self.bytes_read - len(data) + err.start})"
            ) from None
        if not data:
            self._eof = True
            if not text:
                return False  # nothing new: leave the buffer (and positions into it) as they are
        if self._base == 0 and self._pos == 0 and not self._buf and text.startswith("\ufeff"):
            text = text[1:]  # a UTF-8 byte order mark
        self._base += self._pos
        self._buf = self._buf[self._pos :] + text
        self._pos = 0
        return True

    def _peek(self) -> str:
        while True:
            self._pos = _WS.match(self._buf, self._pos).end()
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if not self._fill():
                return ""

    def _where(self) -> str:
        return f"at character {self._base + self._pos}"

    def _value(self) -> tuple[Any, str | None, str | None]:
        """(value, its text if keep_text, None), or (None, raw text, error) for a complete but malformed one."""
        self._peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self._buf, self._pos)
                # a number (or a literal) near the end of the block may go on in the next one
                near_end = len(self._buf) - end < _SCALAR_MARGIN and not isinstance(value, (dict, list, str))
                if near_end and not self._eof and self._fill():
                    continue
                text = self._buf[self._pos : end] if self.keep_text else None
                self._pos = end
                return value, text, None
            except (json.JSONDecodeError, RecursionError) as err:
                end = _element_end(self._buf, self._pos)
                if end is None or (end == len(self._buf) and not self._eof):
                    if self._fill():
                        continue
                    if end is None:
                        raise JsonStreamError(
                            f"not valid JSON (the file ends inside a value starting {self._where()})"
                        ) from None
                raw = self._buf[self._pos : end]
                start, self._pos = self._pos, end
                if isinstance(err, RecursionError):
                    return None, raw, "malformed JSON: nested too deeply"
                return None, raw, f"malformed JSON: {err.msg} (column {err.pos - start + 1})"

    # -- structure ----------------------------------------------------------------------------
    def _array(self) -> Iterator[RawItem]:
        self._pos += 1
        if self._peek() == "]":
            self._pos += 1
            return
        index = 0
        while True:
            value, text, error = self._value()
            # with keep_text the value is not kept: the text is parsed again where it is used
            yield RawItem(value=None if self.keep_text else value, index=index, text=text, error=error)
            index += 1
            sep = self._peek()
            self._pos += 1
            if sep == "]":
                return
            if sep != ",":
                self._pos -= 1
                found = repr(sep) if sep else "the end of the file"
                raise JsonStreamError(
                    f"not valid JSON (expected ',' or ']' after record {index - 1}, found {found} {self._where()})"
                )
            if self._peek() == "]":  # a trailing comma: an empty element
                yield RawItem(value=None, index=index, text="", error="malformed JSON: empty element")
                self._pos += 1
                return

    def _object(self) -> Iterator[RawItem]:
        self._pos += 1
        found = False
        while True:
            token = self._peek()
            if token == "}" and not found:
                break
            if token == "}":
                self._pos += 1
                return
            key, _, error = self._value()
            if error is not None or not isinstance(key, str) or self._peek() != ":":
                raise JsonStreamError(f'not valid JSON (expected a "key": value pair {self._where()})')
            self._pos += 1
            if key == SAMPLES_KEY and not found and self._peek() == "[":
                found = True
                yield from self._array()
            else:
                _, _, error = self._value()
                if error is not None:
                    raise JsonStreamError(
                        f"not valid JSON ({error.removeprefix('malformed JSON: ')} in the "
                        f"value of {key!r} {self._where()})"
                    )
            sep = self._peek()
            if sep == ",":
                self._pos += 1
            elif sep != "}":
                raise JsonStreamError(f"not valid JSON (expected ',' or '}}' {self._where()})")
        raise JsonStreamError(
            'expected a JSON list of records or {"samples": [...]}, got an object without a '
            '"samples" list (put a single record in a list: [{...}])'
        )

    def __iter__(self) -> Iterator[RawItem]:
        with open(self.path, "rb") as self._fh:
            start = self._peek()
            if start == "[":
                yield from self._array()
            elif start == "{":
                yield from self._object()
            elif not start:
                raise JsonStreamError("not valid JSON (the file holds no JSON value)")
            else:
                raise JsonStreamError(
                    f'expected a JSON list of records or {{"samples": [...]}}, found {start!r} at the start'
                )
            rest = self._peek()
            if rest:
                raise JsonStreamError(f"not valid JSON (extra data after the top-level value {self._where()})")
