"""The real jet-tagging table from OpenML (data id 42468, ``hls4ml_lhc_jets_hlf``).

:func:`fetch_openml_table` reads the dataset description JSON
(``{api_url}/{data_id}``), downloads the ARFF file it names (field ``url``), verifies
the MD5 digest it states (field ``md5_checksum``), checks the columns, and saves the
description next to the table for provenance.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

from rasp.data.arff import ArffError, read_header
from rasp.data.download import USER_AGENT, DownloadError, _with_hint, download
from rasp.data.jet_features import FEATURE_NAMES, JET_CLASSES
from rasp.data.provenance import write_json_atomic

OPENML_API_URL = "https://www.openml.org/api/v1/json/data"
JETS_DATA_ID = 42468
TARGET_COLUMN = "class"

OFFLINE_HINT_JETS = (
    "No internet? Use the offline stand-in instead: set `datasets: {jets: {source: pythia}}` "
    "in your config file (the default config/config.yaml does), which simulates the jets "
    "with Pythia 8 + FastJet."
)


def fetch_description(
    data_id: int = JETS_DATA_ID,
    api_url: str = OPENML_API_URL,
    timeout_s: float = 60.0,
    offline_hint: str | None = OFFLINE_HINT_JETS,
) -> dict[str, Any]:
    """The ``data_set_description`` object of an OpenML dataset."""
    url = f"{api_url.rstrip('/')}/{data_id}"
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT,
                                               "Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            payload = json.loads(resp.read().decode("utf-8"))
    except urllib.error.HTTPError as err:
        msg = f"OpenML description {url} failed: HTTP {err.code} {err.reason}"
        raise DownloadError(_with_hint(msg, offline_hint)) from err
    except (urllib.error.URLError, OSError) as err:
        msg = f"cannot reach OpenML at {url}: {err}"
        raise DownloadError(_with_hint(msg, offline_hint)) from err
    except json.JSONDecodeError as err:
        raise DownloadError(f"OpenML description {url} is not JSON: {err}") from err
    desc = payload.get("data_set_description") if isinstance(payload, dict) else None
    if not isinstance(desc, dict) or "url" not in desc or "md5_checksum" not in desc:
        raise DownloadError(f"OpenML description {url} lacks data_set_description.url / "
                            "md5_checksum")
    return desc


def check_jet_columns(path: str | Path) -> None:
    """Raise ``ValueError`` unless the ARFF file has the 16 jet features then ``class``."""
    try:
        header = read_header(path)
    except ArffError as err:
        raise ValueError(f"{path} is not a readable ARFF table: {err}") from err
    expected = [*FEATURE_NAMES, TARGET_COLUMN]
    if header.names != expected:
        raise ValueError(f"{path}: columns {header.names} differ from the expected {expected}")
    target = header.attributes[-1]
    if target.kind == "nominal" and not set(target.values) <= set(JET_CLASSES):
        raise ValueError(f"{path}: class values {target.values} not within {JET_CLASSES}")


def fetch_openml_table(
    dest: str | Path,
    description_dest: str | Path,
    data_id: int = JETS_DATA_ID,
    api_url: str = OPENML_API_URL,
    retries: int = 3,
    timeout_s: float = 60.0,
    progress: IO[str] | bool | None = None,
) -> dict[str, Any]:
    """Download the jets ARFF table to ``dest``; write the description JSON; return it.

    The table's MD5 is verified against the description; on mismatch nothing is left
    at ``dest`` and :class:`~rasp.data.download.ChecksumError` is raised.
    """
    desc = fetch_description(data_id, api_url, timeout_s)
    fmt = str(desc.get("format", "ARFF")).lower()
    if "arff" not in fmt:
        raise DownloadError(f"OpenML data {data_id} is in format {fmt!r}, expected ARFF")
    dest = download(
        desc["url"],
        dest,
        md5=desc["md5_checksum"],
        retries=retries,
        timeout_s=timeout_s,
        progress=progress,
        offline_hint=OFFLINE_HINT_JETS,
    )
    try:
        check_jet_columns(dest)
    except ValueError:
        dest.unlink(missing_ok=True)
        raise
    write_json_atomic(description_dest, desc)
    return desc
