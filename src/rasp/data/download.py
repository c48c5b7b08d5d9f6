"""Verified, resumable HTTP downloads.

:func:`download` fetches a URL to a file with

- verification of the size (bytes) and MD5 digest when they are known; a mismatch
  deletes everything downloaded and raises :class:`ChecksumError`, so no unverified
  file is ever left under the destination name;
- resumption of an interrupted transfer from ``<dest>.part`` with an HTTP ``Range``
  request (servers that ignore ``Range`` restart from the beginning);
- retries with exponential backoff on network errors, truncated transfers and server
  errors (HTTP 5xx, 408, 429); other HTTP errors fail at once;
- a tqdm progress bar (to any text stream, e.g. a Snakemake log file);
- an atomic rename of the verified ``.part`` file to the destination.

Failures raise :class:`DownloadError` whose message names the URL, the cause and, when
given, how to run without the network (``offline_hint``).
"""

from __future__ import annotations

import http.client
import logging
import re
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from rasp.data.provenance import md5_file

log = logging.getLogger(__name__)

USER_AGENT = "rasp-data/0.1 (+https://arxiv.org/abs/2308.05170)"
RETRYABLE_HTTP = frozenset({408, 429, 500, 502, 503, 504})


class DownloadError(RuntimeError):
    """A download failed (network, server or verification)."""


class ChecksumError(DownloadError):
    """The downloaded bytes do not match the expected size or MD5 digest."""


class _Truncated(Exception):
    """The server closed the connection before sending all announced bytes."""


def _with_hint(msg: str, offline_hint: str | None) -> str:
    return f"{msg}\n{offline_hint}" if offline_hint else msg


def partial_path(dest: str | Path) -> Path:
    """Where the bytes of an unfinished download of ``dest`` are kept (``<dest>.part``)."""
    dest = Path(dest)
    return dest.with_name(dest.name + ".part")


def verify_file(path: str | Path, md5: str | None = None, size: int | None = None) -> None:
    """Raise :class:`ChecksumError` unless ``path`` has ``size`` bytes and MD5 ``md5``."""
    path = Path(path)
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        raise ChecksumError(f"{path} has {actual_size} bytes, expected {size}")
    if md5 is not None:
        actual = md5_file(path)
        if actual.lower() != md5.lower():
            raise ChecksumError(f"{path} has MD5 {actual}, expected {md5.lower()}")


def download(
    url: str,
    dest: str | Path,
    *,
    md5: str | None = None,
    size: int | None = None,
    retries: int = 3,
    backoff_s: float = 2.0,
    timeout_s: float = 60.0,
    chunk_bytes: int = 1 << 20,
    progress: IO[str] | bool | None = None,
    offline_hint: str | None = None,
) -> Path:
    """Download ``url`` to ``dest`` and verify it; return ``dest``.

    ``md5`` (hex digest) and ``size`` (bytes) are checked when given. A verified ``dest``
    that already exists is kept without network access. ``retries`` is the number of
    extra attempts after the first, waiting ``backoff_s * 2**k`` seconds before attempt
    ``k + 1``; ``timeout_s`` is the socket timeout in seconds. ``progress`` is a text
    stream for a tqdm bar, ``True`` for stderr, or ``None``/``False`` for none.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        try:
            verify_file(dest, md5, size)
            log.info("%s already present and verified", dest)
            return dest
        except ChecksumError as err:
            log.warning("existing %s fails verification (%s); downloading again", dest, err)
            dest.unlink()
    part = partial_path(dest)
    for attempt in range(retries + 1):
        if attempt:
            wait = backoff_s * 2 ** (attempt - 1)
            log.warning("retrying %s in %.1f s (attempt %d of %d)", url, wait, attempt + 1,
                        retries + 1)
            time.sleep(wait)
        try:
            _transfer(url, part, size, timeout_s, chunk_bytes, progress)
            break
        except urllib.error.HTTPError as err:
            last_error = err
            if err.code not in RETRYABLE_HTTP:
                msg = f"download of {url} failed: HTTP {err.code} {err.reason}"
                raise DownloadError(_with_hint(msg, offline_hint)) from err
            log.warning("download of %s: HTTP %d %s", url, err.code, err.reason)
        except (_Truncated, urllib.error.URLError, http.client.HTTPException, OSError) as err:
            last_error = err
            if isinstance(getattr(err, "reason", None), socket.gaierror):
                # the host name does not resolve: no network (or a typo), retrying won't help
                msg = f"download of {url} failed: cannot resolve the host ({err.reason})"
                raise DownloadError(_with_hint(msg, offline_hint)) from err
            log.warning("download of %s interrupted: %s", url, err)
    else:  # every attempt failed
        kept = (f" ({part.stat().st_size} bytes kept in {part}; a rerun resumes)"
                if part.exists() else "")
        msg = f"download of {url} failed after {retries + 1} attempts: {last_error}{kept}"
        raise DownloadError(_with_hint(msg, offline_hint)) from last_error
    try:
        verify_file(part, md5, size)
    except ChecksumError as err:
        part.unlink(missing_ok=True)
        raise ChecksumError(
            f"download of {url} is corrupt and was deleted: {err}. If the file changed on "
            "the server, the expected checksum in rasp.data must be updated."
        ) from err
    part.replace(dest)
    log.info("downloaded %s -> %s (%d bytes)", url, dest, dest.stat().st_size)
    return dest


def _transfer(
    url: str,
    part: Path,
    size: int | None,
    timeout_s: float,
    chunk_bytes: int,
    progress: IO[str] | bool | None,
) -> None:
    """One attempt: fetch the missing bytes of ``url`` into ``part``."""
    have = part.stat().st_size if part.exists() else 0
    if size is not None and have > size:
        part.unlink()
        have = 0
    if size is not None and have == size:
        return
    headers = {"User-Agent": USER_AGENT}
    if have:
        headers["Range"] = f"bytes={have}-"
    req = urllib.request.Request(url, headers=headers)
    try:
        resp = urllib.request.urlopen(req, timeout=timeout_s)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:
            # our partial file does not fit the server's file: start over
            part.unlink()
            raise _Truncated(f"server rejected resuming at byte {have}; restarting") from err
        raise
    with resp:
        mode, start = "wb", 0  # a full body (Range ignored) unless the server resumes
        if resp.status == 206:
            mode, start = "ab", _content_range_start(resp.headers.get("Content-Range"))
            if start != have:
                raise _Truncated(f"server resumed at byte {start}, expected {have}")
        length = resp.headers.get("Content-Length")
        expected = start + int(length) if length is not None else size
        total = size if size is not None else expected
        bar = _progress_bar(progress, total, start, url)
        written = start
        try:
            with open(part, mode) as fh:
                while True:
                    try:
                        block = resp.read(chunk_bytes)
                    except (TimeoutError, ConnectionError, http.client.IncompleteRead) as err:
                        raise _Truncated(f"connection lost after {written} bytes: {err}") from err
                    if not block:
                        break
                    fh.write(block)
                    written += len(block)
                    if bar is not None:
                        bar.update(len(block))
        finally:
            if bar is not None:
                bar.close()
    if expected is not None and written != expected:
        raise _Truncated(f"transfer truncated at {written} of {expected} bytes")


def _content_range_start(header: str | None) -> int:
    m = re.match(r"bytes\s+(\d+)-\d+/(\d+|\*)", header or "")
    if not m:
        raise _Truncated(f"partial response without a valid Content-Range ({header!r})")
    return int(m.group(1))


def _progress_bar(progress: IO[str] | bool | None, total: int | None, initial: int, url: str):
    if not progress:
        return None
    from tqdm import tqdm

    stream = None if progress is True else progress
    return tqdm(
        total=total,
        initial=initial,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=url.rsplit("/", 1)[-1],
        file=stream,
        mininterval=1.0,
        ascii=stream is not None,
    )
