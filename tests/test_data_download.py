"""Verified, resumable downloads against a loopback HTTP server serving real-format files.

The server (127.0.0.1, a thread) serves the tiny fixtures in tests/fixtures/data: an ARFF
table with the 16 OpenML jet columns and ``class``, an SVHN-layout ``.mat`` file, and an
OpenML-style description JSON. Each path can be told to fail in a specific way.
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from rasp.data import openml, svhn
from rasp.data.download import ChecksumError, DownloadError, download, partial_path

FIXTURES = Path(__file__).parent / "fixtures" / "data"
ARFF = FIXTURES / "hls4ml_lhc_jets_hlf_tiny.arff"
MAT = FIXTURES / "svhn_tiny_32x32.mat"


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


class Server:
    """Loopback server: ``files`` maps URL path -> bytes; ``mode`` maps path -> behaviour.

    Behaviours: ``ok`` (honours Range), ``ignore_range`` (always 200 + full body),
    ``error500``, ``error404``, ``truncate`` (announces the full length, sends half, closes),
    ``truncate_once`` (truncates the first request only, then honours Range).
    """

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.mode: dict[str, str] = {}
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):  # noqa: N802 (http.server API)
                rng = self.headers.get("Range")
                server.requests.append((self.path, rng))
                mode = server.mode.get(self.path, "ok")
                if mode == "error500":
                    self.send_error(500, "Internal Server Error")
                    return
                body = server.files.get(self.path)
                if body is None or mode == "error404":
                    self.send_error(404, "Not Found")
                    return
                if mode == "truncate_once":
                    n_seen = sum(1 for p, _ in server.requests if p == self.path)
                    mode = "truncate" if n_seen == 1 else "ok"
                start = 0
                if rng and mode == "ok":
                    start = int(rng.split("=")[1].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                if mode == "truncate":
                    self.wfile.write(body[start : start + (len(body) - start) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body[start:])

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    with Server() as s:
        s.files["/data/jets.arff"] = ARFF.read_bytes()
        s.files["/housenumbers/train_32x32.mat"] = MAT.read_bytes()
        yield s


def _fast(**kw):
    return {"retries": 2, "backoff_s": 0.0, "timeout_s": 5.0, **kw}


def test_download_success_verifies_and_leaves_no_partial(server, tmp_path):
    body = server.files["/housenumbers/train_32x32.mat"]
    dest = tmp_path / "train_32x32.mat"
    download(f"{server.url}/housenumbers/train_32x32.mat", dest, md5=_md5(body), size=len(body),
             **_fast())
    assert dest.read_bytes() == body
    assert not partial_path(dest).exists()
    x, y = svhn.load_svhn_mat(dest)
    assert x.shape == (12, 3, 32, 32) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    # the fixture has labels 10, 1, ..., 9: SVHN's 10 is the digit 0
    assert y.tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    # a second call finds the verified file and does not touch the network
    n = len(server.requests)
    download(f"{server.url}/housenumbers/train_32x32.mat", dest, md5=_md5(body), **_fast())
    assert len(server.requests) == n


def test_checksum_mismatch_is_clear_and_leaves_nothing(server, tmp_path):
    dest = tmp_path / "jets.arff"
    with pytest.raises(ChecksumError, match="MD5 .* expected 0123456789abcdef"):
        download(f"{server.url}/data/jets.arff", dest, md5="0123456789abcdef0123456789abcdef",
                 **_fast())
    assert not dest.exists()
    assert not partial_path(dest).exists()
    assert list(tmp_path.iterdir()) == []


def test_size_mismatch_is_a_checksum_error(server, tmp_path):
    body = server.files["/data/jets.arff"]
    dest = tmp_path / "jets.arff"
    with pytest.raises(ChecksumError, match=f"expected {len(body) + 1}"):
        download(f"{server.url}/data/jets.arff", dest, size=len(body) + 1, **_fast())
    assert list(tmp_path.iterdir()) == []


def test_server_error_is_retried_then_fails_with_offline_hint(server, tmp_path):
    server.mode["/data/jets.arff"] = "error500"
    dest = tmp_path / "jets.arff"
    with pytest.raises(DownloadError, match="after 3 attempts.*500") as err:
        download(f"{server.url}/data/jets.arff", dest, offline_hint="set source: pythia",
                 **_fast())
    assert "set source: pythia" in str(err.value)
    assert len(server.requests) == 3
    assert not dest.exists()


def test_not_found_fails_at_once(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(f"{server.url}/data/missing.arff", tmp_path / "x.arff", **_fast())
    assert len(server.requests) == 1


def test_truncated_transfer_fails_and_keeps_partial_for_resume(server, tmp_path):
    server.mode["/data/jets.arff"] = "truncate"
    body = server.files["/data/jets.arff"]
    dest = tmp_path / "jets.arff"
    with pytest.raises(DownloadError, match="truncated"):
        download(f"{server.url}/data/jets.arff", dest, md5=_md5(body), **_fast(retries=0))
    assert not dest.exists()
    part = partial_path(dest)
    assert 0 < part.stat().st_size < len(body)
    assert body.startswith(part.read_bytes())


def test_interrupted_transfer_resumes_with_range(server, tmp_path):
    server.mode["/data/jets.arff"] = "truncate_once"
    body = server.files["/data/jets.arff"]
    dest = tmp_path / "jets.arff"
    download(f"{server.url}/data/jets.arff", dest, md5=_md5(body), size=len(body), **_fast())
    assert dest.read_bytes() == body
    (first, r1), (second, r2) = server.requests
    assert r1 is None and r2 == f"bytes={len(body) // 2}-"


def test_partial_file_from_an_earlier_run_is_resumed(server, tmp_path):
    body = server.files["/housenumbers/train_32x32.mat"]
    dest = tmp_path / "train_32x32.mat"
    partial_path(dest).write_bytes(body[:1000])
    download(f"{server.url}/housenumbers/train_32x32.mat", dest, md5=_md5(body), **_fast())
    assert dest.read_bytes() == body
    assert server.requests == [("/housenumbers/train_32x32.mat", "bytes=1000-")]


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    server.mode["/data/jets.arff"] = "ignore_range"
    body = server.files["/data/jets.arff"]
    dest = tmp_path / "jets.arff"
    partial_path(dest).write_bytes(b"garbage that is not the file")
    download(f"{server.url}/data/jets.arff", dest, md5=_md5(body), **_fast())
    assert dest.read_bytes() == body


def test_unreachable_host_fails_with_offline_hint(tmp_path):
    with Server() as s:
        url = f"{s.url}/data/jets.arff"
    # the server is shut down: connection refused
    with pytest.raises(DownloadError, match="source: pythia"):
        download(url, tmp_path / "jets.arff", offline_hint=openml.OFFLINE_HINT_JETS, **_fast())


def _serve_openml(server: Server, md5: str) -> str:
    desc = {
        "data_set_description": {
            "id": "42468",
            "name": "hls4ml_lhc_jets_hlf",
            "version": "1",
            "format": "ARFF",
            "url": f"{server.url}/data/jets.arff",
            "md5_checksum": md5,
        }
    }
    server.files["/api/v1/json/data/42468"] = json.dumps(desc).encode()
    return f"{server.url}/api/v1/json/data"


def test_fetch_openml_table_via_description(server, tmp_path):
    body = server.files["/data/jets.arff"]
    api = _serve_openml(server, _md5(body))
    dest, desc_path = tmp_path / "jets.arff", tmp_path / "description.json"
    desc = openml.fetch_openml_table(dest, desc_path, api_url=api, retries=0)
    assert dest.read_bytes() == body
    assert json.loads(desc_path.read_text())["md5_checksum"] == desc["md5_checksum"]


def test_fetch_openml_table_rejects_bad_md5(server, tmp_path):
    api = _serve_openml(server, "f" * 32)
    dest, desc_path = tmp_path / "jets.arff", tmp_path / "description.json"
    with pytest.raises(ChecksumError):
        openml.fetch_openml_table(dest, desc_path, api_url=api, retries=0)
    assert list(tmp_path.iterdir()) == []


def test_fetch_openml_table_rejects_wrong_columns(server, tmp_path):
    bad = ARFF.read_text().replace("'zlogz'", "'zlogz_renamed'").encode()
    server.files["/data/jets.arff"] = bad
    api = _serve_openml(server, _md5(bad))
    with pytest.raises(ValueError, match="differ from the expected"):
        openml.fetch_openml_table(tmp_path / "j.arff", tmp_path / "d.json", api_url=api,
                                  retries=0)
    assert list(tmp_path.iterdir()) == []


def test_openml_unreachable_says_how_to_run_offline(tmp_path):
    with Server() as s:
        api = f"{s.url}/api/v1/json/data"
    with pytest.raises(DownloadError, match=r"source: pythia"):
        openml.fetch_openml_table(tmp_path / "j.arff", tmp_path / "d.json", api_url=api)


def test_fetch_svhn_checks_published_size_and_md5(server, tmp_path, monkeypatch):
    body = server.files["/housenumbers/train_32x32.mat"]
    base = f"{server.url}/housenumbers"
    # the published checksums do not match the tiny fixture: a clear checksum error
    with pytest.raises(ChecksumError, match="182040794"):
        svhn.fetch_svhn("train", tmp_path / "train.mat", base_url=base, retries=0)
    assert list(tmp_path.iterdir()) == []
    # with the fixture's own size and MD5 registered, the same call succeeds
    monkeypatch.setitem(svhn.SVHN_FILES, "train",
                        svhn.SvhnFile("train_32x32.mat", _md5(body), len(body), 12))
    out = svhn.fetch_svhn("train", tmp_path / "train.mat", base_url=base, retries=0)
    assert out.read_bytes() == body
