"""keras_bnn.downloads against a local HTTP server: a good file, a corrupted one, a
truncated one, a dropped connection, no server at all; the cache never holds a bad file."""

import hashlib
import http.server
import socket
import threading

import pytest

from keras_bnn import downloads

pytestmark = pytest.mark.unit

GOOD = bytes(range(256)) * 4096  # 1 MiB, several chunks
GOOD_SHA256 = hashlib.sha256(GOOD).hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    requests = []

    def do_GET(self):  # noqa: N802  (the name http.server calls)
        Handler.requests.append(self.path)
        if self.path == "/dropped.h5":  # the connection closes before any response
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        body = {"/good.h5": GOOD, "/corrupted.h5": GOOD[:-1] + b"x",
                "/truncated.h5": GOOD[: len(GOOD) // 2]}.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(GOOD)))  # truncated: promises more
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv(downloads.CACHE_ENVIRONMENT_VARIABLE, str(folder))
    return folder


def cache_contents(cache):
    return sorted(path.name for path in cache.iterdir()) if cache.exists() else []


def test_a_good_file_is_cached_once_and_reused(server, cache):
    before = len(Handler.requests)
    path = downloads.fetch(f"{server}/good.h5", GOOD_SHA256)
    assert path == cache / "good.h5" and path.read_bytes() == GOOD
    assert cache_contents(cache) == ["good.h5"]  # no temporary file left
    assert downloads.fetch(f"{server}/good.h5", GOOD_SHA256.upper()) == path
    assert len(Handler.requests) == before + 1  # the second call used the cache


@pytest.mark.parametrize("name,message", [
    ("corrupted.h5", "corrupted or not the one registered"),
    ("truncated.h5", "Nothing was cached"),
    ("dropped.h5", "Nothing was cached"),
    ("missing.h5", "HTTP 404"),
])
def test_a_bad_download_raises_and_leaves_nothing_in_the_cache(server, cache, name, message):
    with pytest.raises(downloads.DownloadError, match=message):
        downloads.fetch(f"{server}/{name}", GOOD_SHA256)
    assert cache_contents(cache) == []


def test_a_corrupted_cached_file_is_fetched_again(server, cache):
    cache.mkdir()
    (cache / "good.h5").write_bytes(b"bit rot")
    before = len(Handler.requests)
    assert downloads.fetch(f"{server}/good.h5", GOOD_SHA256).read_bytes() == GOOD
    assert len(Handler.requests) == before + 1


def test_offline_with_nothing_cached_says_where_to_put_the_file(cache):
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(downloads.DownloadError) as error:
        downloads.fetch(f"http://127.0.0.1:{port}/good.h5", GOOD_SHA256)
    assert str(cache / "good.h5") in str(error.value)
    assert downloads.CACHE_ENVIRONMENT_VARIABLE in str(error.value)
    assert cache_contents(cache) == []


def test_offline_with_the_file_placed_by_hand_needs_no_network(cache):
    cache.mkdir()
    (cache / "good.h5").write_bytes(GOOD)
    assert downloads.fetch("http://127.0.0.1:9/good.h5", GOOD_SHA256) == cache / "good.h5"


@pytest.mark.parametrize("bad_hash", ["", "abc", "z" * 64, None])
def test_a_malformed_hash_is_refused_before_downloading(bad_hash, cache):
    with pytest.raises(ValueError, match="64 hex digits"):
        downloads.fetch("http://127.0.0.1:9/good.h5", bad_hash)


def test_default_cache_is_under_keras_home(monkeypatch, tmp_path):
    monkeypatch.delenv(downloads.CACHE_ENVIRONMENT_VARIABLE, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert downloads.cache_dir() == tmp_path / ".keras" / "keras_bnn"
