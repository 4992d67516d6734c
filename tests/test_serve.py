"""`mtts serve`: the HTTP API through a real client against a real uvicorn server on loopback,
its limits (text length, queue, timeout, parameters), and the page in headless Chromium."""

from __future__ import annotations

import io
import re
import socket
import struct
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from mtts.cli import app as cli

from conftest import make_model_package, requires_espeak

httpx = pytest.importorskip("httpx", reason="the serve extra is not installed (pip install -e '.[serve]')")
uvicorn = pytest.importorskip("uvicorn", reason="the serve extra is not installed (pip install -e '.[serve]')")
from mtts.serve import Limits, create_app, load_synthesizers  # noqa: E402

pytestmark = requires_espeak
TEXT = "The birch canoe slid. Glue the sheet."
WAIT = 600   # seconds a test client waits: the test machine may be busy with other work


@contextmanager
def running(app):
    """A uvicorn server for `app` on a free loopback port, in a thread; stopped on exit."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    t0 = time.monotonic()
    while not server.started:
        assert thread.is_alive() and time.monotonic() - t0 < WAIT, "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return make_model_package(tmp_path_factory.mktemp("model") / "tiny.pt", frames_per_token=2)


@pytest.fixture(scope="module")
def server(model):
    """(base url, app) of a server with small limits: 300 characters, one request waiting."""
    app = create_app(load_synthesizers(model), Limits(max_chars=300, timeout_s=WAIT, queue=1), n_iter=2,
                     name="tiny")
    with running(app) as url:
        yield url, app


@pytest.fixture()
def client(server):
    with httpx.Client(base_url=server[0], timeout=WAIT) as c:
        yield c


def frames(res) -> int:
    assert res.status_code == 200, res.text
    info = sf.info(io.BytesIO(res.content))
    assert info.samplerate == 22050 and info.channels == 1 and info.subtype == "PCM_16"
    return info.frames


def test_health_voices_and_the_wav_of_get_and_post(client, model):
    assert client.get("/api/health").json()["status"] == "ok"
    voices = client.get("/api/voices").json()
    assert voices["voices"] == [{"id": "default", "name": "tiny"}] and voices["vocoders"] == ["griffin-lim"]
    assert voices["sample_rate"] == 22050 and voices["max_chars"] == 300
    got = client.get("/api/tts", params={"text": TEXT})
    assert got.headers["content-type"] == "audio/wav"
    posted = client.post("/api/tts", json={"text": TEXT, "speaker": "default", "vocoder": "griffin-lim"})
    from mtts.synthesize import Synthesizer
    wav, _ = Synthesizer.load(model)(TEXT, n_iter=2)
    assert frames(got) == frames(posted) == len(wav)   # the same sentences as `mtts synthesize` makes
    assert float(got.headers["x-audio-seconds"]) == pytest.approx(len(wav) / 22050, abs=1e-3)
    slow, fast = (frames(client.get("/api/tts", params={"text": TEXT, "rate": r})) for r in (0.5, 2.0))
    assert slow > len(wav) > fast


def test_streams_sentence_by_sentence_as_wav_or_raw_pcm(client):
    whole = frames(client.get("/api/tts", params={"text": TEXT}))
    chunks = []
    with client.stream("GET", "/api/tts/stream", params={"text": TEXT}) as res:
        assert res.status_code == 200 and res.headers["content-type"] == "audio/wav"
        chunks = list(res.iter_raw())
    data = b"".join(chunks)
    riff, _, wave, _, _, fmt, channels, sr, _, _, bits, tag, _ = struct.unpack("<4sI4s4sIHHIIHH4sI", data[:44])
    assert (riff, wave, fmt, channels, sr, bits, tag) == (b"RIFF", b"WAVE", 1, 1, 22050, 16, b"data")
    assert len(data) - 44 == 2 * whole
    raw = client.post("/api/tts/stream", json={"text": TEXT, "format": "raw", "rate": 1.0})
    assert raw.headers["content-type"].startswith("audio/L16;rate=22050") and len(raw.content) == 2 * whole
    samples = np.frombuffer(raw.content, "<i2")
    assert np.abs(samples).max() > 0


def test_the_stream_sends_a_sentence_before_the_next_one_is_made(server, monkeypatch):
    url, app = server
    synth = app.state.synths["griffin-lim"]
    real, gate = synth.vocode, threading.Event()

    def vocode(mel, *args):   # the second sentence waits for the gate, which opens once audio has come
        if mel is not first_mel[0] and not gate.wait(60):
            timed_out.append(True)    # a server that held the first sentence back would end here
        return real(mel, *args)
    timed_out = []
    first_mel = [None]
    real_norm = synth.norm_mel

    def norm_mel(*args):
        mel = real_norm(*args)
        first_mel[0] = mel if first_mel[0] is None else first_mel[0]
        return mel
    monkeypatch.setattr(synth, "vocode", vocode)
    monkeypatch.setattr(synth, "norm_mel", norm_mel)
    try:
        with httpx.Client(base_url=url, timeout=WAIT) as c:
            with c.stream("GET", "/api/tts/stream", params={"text": TEXT, "format": "raw"}) as res:
                chunks = res.iter_raw()
                first = next(chunks)
                assert first and not gate.is_set()   # audio came while the second sentence was held
                gate.set()
                rest = b"".join(chunks)
        assert not timed_out
        monkeypatch.undo()
        with httpx.Client(base_url=url, timeout=WAIT) as c:
            assert len(first) + len(rest) == 2 * frames(c.get("/api/tts", params={"text": TEXT}))
    finally:
        gate.set()


@pytest.mark.parametrize("method,params,status,parameter,needle", [
    ("get", {"text": "x" * 301}, 413, "text", "301 characters long, over the limit of 300"),
    ("post", {"text": "Hi.", "rate": 0}, 422, "rate", "rate: Input should be greater than or equal to 0.25"),
    ("get", {"text": "Hi.", "rate": "fast"}, 422, "rate", "rate: "),
    ("get", {"text": "Hi.", "vocoder": "neural"}, 422, "vocoder", "has no neural vocoder"),
    ("get", {"text": "Hi.", "vocoder": "wavenet"}, 422, "vocoder", "vocoder: "),
    ("get", {"text": "Hi.", "speaker": "bob"}, 422, "speaker", "speaker 'bob' is not one of"),
    ("get", {"text": "Hi.", "model": "/etc/passwd"}, 422, "model", "unknown parameter 'model'"),
    ("post", {"text": "Hi.", "out": "../x.wav"}, 422, "out", "unknown parameter 'out'"),
    ("get", {}, 422, "text", "text: required"),
    ("post", {"text": "  "}, 400, "text", "the text is empty"),
    ("get", {"text": "?! ;;"}, 400, "text", "nothing to say"),
])
@pytest.mark.parametrize("path", ["/api/tts", "/api/tts/stream"])
def test_bad_requests_get_a_json_error_naming_the_parameter(client, path, method, params, status, parameter,
                                                             needle):
    res = client.get(path, params=params) if method == "get" else client.post(path, json=params)
    assert res.status_code == status, res.text
    assert res.headers["content-type"] == "application/json"
    assert res.json()["parameter"] == parameter and needle in res.json()["error"]


def test_a_bad_or_oversized_body_is_refused_and_the_server_lives_on(client):
    res = client.post("/api/tts", content=b"{not json", headers={"Content-Type": "application/json"})
    assert res.status_code == 422 and res.json()["error"] == "body: not valid JSON"
    res = client.post("/api/tts", content=b'{"text": "' + b"a" * 100_000 + b'"}',
                      headers={"Content-Type": "application/json"})
    assert res.status_code == 413 and "--max-chars" in res.json()["error"]
    assert client.get("/api/health").json() == {"status": "ok", "pending": 0, "queue": 1}


def test_a_full_queue_answers_503_and_a_slow_request_504(server):
    url, app = server
    gate = threading.Event()
    app.state.jobs.pool.submit(gate.wait, WAIT)      # hold the worker: requests pile up behind it
    results = []

    def ask():
        with httpx.Client(base_url=url, timeout=WAIT) as c:
            results.append(c.get("/api/tts", params={"text": "Hello there."}).status_code)
    threads = [threading.Thread(target=ask) for _ in range(2)]
    try:
        for t in threads:
            t.start()
        t0 = time.monotonic()
        while app.state.jobs.pending < 2:           # one being synthesised, one waiting: full
            assert time.monotonic() - t0 < WAIT
            time.sleep(0.02)
        with httpx.Client(base_url=url, timeout=WAIT) as c:
            busy = c.get("/api/tts", params={"text": "Hello there."})
            assert busy.status_code == 503 and "busy" in busy.json()["error"]
            assert busy.headers["retry-after"] == "1"
    finally:
        gate.set()
        for t in threads:
            t.join(WAIT)
    assert results == [200, 200]                     # the queued ones were served, nothing lost

    app.state.jobs.pool.submit(gate.clear)
    app.state.jobs.pool.submit(gate.wait, WAIT)
    app.state.limits.timeout_s = 0.5
    try:
        with httpx.Client(base_url=url, timeout=WAIT) as c:
            t0 = time.monotonic()
            res = c.get("/api/tts", params={"text": "Hello there."})
            assert res.status_code == 504 and "--timeout" in res.json()["error"]
            assert time.monotonic() - t0 < 10
    finally:
        app.state.limits.timeout_s = WAIT
        gate.set()
    with httpx.Client(base_url=url, timeout=WAIT) as c:
        frames(c.get("/api/tts", params={"text": "Hello there."}))
        assert c.get("/api/health").json()["pending"] == 0


def test_the_pages_and_the_api_page_load_nothing_from_elsewhere(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'none'" in page.headers["content-security-policy"]
    for path in ["/", "/app.js", "/style.css", "/docs", "/docs.js"]:
        body = client.get(path).text
        assert "://" not in body and not re.search(r"(src|href)=\"?//", body), path   # no address elsewhere
    spec = client.get("/openapi.json").json()
    assert {"/api/tts", "/api/tts/stream", "/api/voices", "/api/health"} <= set(spec["paths"])
    assert "format" in str(spec["paths"]["/api/tts/stream"]["get"]["parameters"])
    assert client.get("/redoc").status_code == 404      # FastAPI's own pages fetch from a CDN: off


def test_cli_serve_defaults_to_loopback_and_checks_its_options(tmp_path):
    runner = CliRunner()
    res = runner.invoke(cli, ["serve", "--help"], terminal_width=200)
    assert res.exit_code == 0 and "127.0.0.1" in res.output
    import inspect

    from mtts.serve import HOST, serve
    assert HOST == "127.0.0.1" and inspect.signature(serve).parameters["host"].default == "127.0.0.1"
    for args, needle in [(["-m", str(tmp_path / "none.pt")], "does not exist"),
                         (["-m", "x.pt", "--max-chars", "0"], "--max-chars must be >= 1"),
                         (["-m", "x.pt", "--queue", "-1"], "--queue must be >= 0")]:
        res = runner.invoke(cli, ["serve", *args])
        assert res.exit_code == 1 and res.output.startswith("error:") and needle in res.output, res.output


CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
requires_chromium = pytest.mark.skipif(not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()),
                                       reason="headless Chromium is absent (apt-get install chromium chromium-driver)")


@requires_chromium
def test_the_page_in_a_browser_speaks_typed_text_and_offers_it(server, monkeypatch):
    webdriver = pytest.importorskip("selenium.webdriver", reason="the serve extra is not installed")
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    monkeypatch.setenv("SE_OFFLINE", "true")       # Selenium Manager must fetch nothing
    monkeypatch.setenv("SE_AVOID_STATS", "true")
    url, _ = server
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--autoplay-policy=no-user-gesture-required", "--no-first-run", "--disable-extensions"]:
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=opts)
    sentence = "Rice is often served in round bowls."
    try:
        driver.set_page_load_timeout(WAIT)
        driver.get(url + "/")
        wait = WebDriverWait(driver, WAIT)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#speaker option"))   # /api/voices was read
        driver.find_element(By.ID, "text").send_keys(sentence)
        driver.find_element(By.ID, "play").click()
        status = driver.find_element(By.ID, "status")
        wait.until(lambda d: status.get_attribute("class") in ("done", "error"))
        assert status.get_attribute("class") == "done", status.text
        with httpx.Client(base_url=url, timeout=WAIT) as c:
            expected = frames(c.get("/api/tts", params={"text": sentence}))
        assert int(status.get_attribute("data-samples")) == expected
        # the browser's own decoder agrees on the length, and the player was started
        wait.until(lambda d: d.execute_script("return document.getElementById('audio').readyState >= 1"))
        duration = driver.execute_script("return document.getElementById('audio').duration")
        assert duration == pytest.approx(expected / 22050, abs=0.01)
        assert driver.find_element(By.ID, "download").get_attribute("href").startswith("blob:")
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors       # e.g. a Content-Security-Policy refusal
    finally:
        driver.quit()
