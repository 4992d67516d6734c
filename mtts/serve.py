"""Stage `serve`: a model file behind an HTTP API (FastAPI on uvicorn) and a web page.

Reads the model file named on the command line, never a path or file name from a request,
and writes nothing. Endpoints (docs/serving.md):

  GET|POST /api/tts          text -> audio/wav
  GET|POST /api/tts/stream   text -> audio sentence by sentence as it is made (wav or raw PCM)
  GET /api/voices            the model's voices, vocoders and limits
  GET /api/health            ok, and how busy
  GET /openapi.json, /docs   the API's schema and a page reading it (no CDN)
  GET /                      the page: text box, voice and rate controls, play and download

One synthesis runs at a time (torch already spreads one over every core); at most `queue`
requests wait behind it and any more get 503. Each request has `timeout_s` in all, checked
before every sentence; a stream that runs past it ends at a sentence boundary.
"""

from __future__ import annotations

import asyncio
import io
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import soundfile as sf
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from mtts import checkpoint
from mtts.errors import MttsError
from mtts.synthesize import POSTFILTER, Synthesizer, pcm16, split_sentences, wav_header

log = logging.getLogger("mtts.serve")
HOST, PORT = "127.0.0.1", 5002     # loopback unless --host says otherwise
VOICE = "default"                 # the voice of a single-speaker model; a multi-speaker one's are its speakers
PAGES = {"/": ("index.html", "text/html"), "/app.js": ("app.js", "text/javascript"),
         "/style.css": ("style.css", "text/css"), "/docs": ("docs.html", "text/html"),
         "/docs.js": ("docs.js", "text/javascript")}
# the pages load nothing but themselves and the audio they are sent
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
       "media-src 'self' blob:; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


@dataclass
class Limits:
    max_chars: int = 5000      # longest text accepted (413 beyond)
    timeout_s: float = 60.0    # a request's time in all, waiting included (504 beyond)
    queue: int = 8             # requests waiting behind the one being synthesised (503 beyond)

    def check(self) -> None:
        if self.max_chars < 1:
            raise MttsError(f"--max-chars must be >= 1, got {self.max_chars}")
        if not self.timeout_s > 0:
            raise MttsError(f"--timeout must be > 0, got {self.timeout_s}")
        if self.queue < 0:
            raise MttsError(f"--queue must be >= 0, got {self.queue}")


class TTSParams(BaseModel):
    """What a request may set: its text and how to speak it. Nothing names a file."""
    model_config = ConfigDict(extra="forbid")
    text: str = Field(description="The text to speak; long text is split into sentences.")
    speaker: str | None = Field(None, description="A voice id from /api/voices (the model's first when left out).")
    rate: float = Field(1.0, ge=0.25, le=4.0, description="Speaking rate: 2 twice as fast, 0.5 half as fast.")
    vocoder: Literal["auto", "neural", "griffin-lim"] = Field(
        "auto", description="auto: neural when the model has one, else griffin-lim.")


class StreamParams(TTSParams):
    format: Literal["wav", "raw"] = Field(
        "wav", description="wav: a header of unknown length, then samples; raw: 16-bit little-endian mono PCM.")


class ApiError(Exception):
    def __init__(self, status: int, message: str, parameter: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.parameter, self.headers = status, message, parameter, headers


class Stopped(Exception):
    """Raised in the worker before a sentence once the request is cancelled or out of time."""


class Jobs:
    """The synthesis worker and its bounded queue. `pending` counts requests holding a slot
    and changes only on the event loop's thread."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="mtts-synth")
        self.pending = 0

    def slot(self) -> "Job":
        if self.pending > self.limits.queue:
            raise ApiError(503, f"the server is busy: one request is being synthesised and {self.limits.queue} "
                                "are waiting (--queue); try again shortly", headers={"Retry-After": "1"})
        self.pending += 1
        return Job(self, time.monotonic() + self.limits.timeout_s)


class Job:
    """One request's claim on the worker: its deadline, its cancel flag, its slot."""

    def __init__(self, jobs: Jobs, deadline: float):
        self.jobs, self.deadline, self.cancelled, self.open = jobs, deadline, threading.Event(), True

    def check(self) -> None:     # in the worker, before each sentence
        if self.cancelled.is_set() or time.monotonic() > self.deadline:
            raise Stopped

    async def call(self, fn, *args):
        """fn(*args) on the worker; ApiError 504 once the deadline passes (the worker then
        stops at its next check)."""
        fut = asyncio.get_running_loop().run_in_executor(self.jobs.pool, fn, *args)
        fut.add_done_callback(lambda f: f.cancelled() or f.exception())   # an abandoned call's error is dropped
        try:
            return await asyncio.wait_for(asyncio.shield(fut), max(0.0, self.deadline - time.monotonic()))
        except (TimeoutError, Stopped):
            self.cancelled.set()
            raise ApiError(504, f"synthesis took longer than the {self.jobs.limits.timeout_s:g} s limit "
                                "(--timeout); send shorter text") from None
        except asyncio.CancelledError:    # the client went away
            self.cancelled.set()
            raise

    def close(self) -> None:
        if self.open:
            self.open = False
            self.cancelled.set()
            self.jobs.pending -= 1


def wav_bytes(wav: np.ndarray, sr: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, wav, sr, subtype="PCM_16", format="WAV")
    return buf.getvalue()


def _next(gen):
    """next() that returns None at the end (StopIteration cannot cross an executor)."""
    return next(gen, None)


def load_synthesizers(model: Path, n_iter: int = 32, postfilter: float = POSTFILTER) -> dict[str, Synthesizer]:
    """One Synthesizer per vocoder the package offers, all sharing one acoustic model."""
    if not model.is_file():
        raise MttsError(f"model {model} does not exist: run select-best first or pass a checkpoint")
    pkg = checkpoint.Package.load(model)
    net = pkg.build_model(model)
    synths = {"griffin-lim": Synthesizer.from_package(pkg, model, model=net, vocoder="griffin-lim",
                                                      postfilter=postfilter)}
    if pkg.vocoder is not None:
        synths["neural"] = Synthesizer.from_package(pkg, model, model=net, vocoder="neural", postfilter=postfilter)
    return synths


def create_app(synths: dict[str, Synthesizer], limits: Limits | None = None, n_iter: int = 32,
               name: str = "mtts") -> FastAPI:
    """The FastAPI app over loaded synthesizers (load_synthesizers). Docs are the app's own
    page at /docs, not FastAPI's, which fetches its scripts from a CDN."""
    limits = limits or Limits()
    limits.check()
    jobs = Jobs(limits)
    sr = next(iter(synths.values())).params.sample_rate
    default_vocoder = "neural" if "neural" in synths else "griffin-lim"
    speakers = sorted(next(iter(synths.values())).speakers or {})   # [] for a single-speaker model
    app = FastAPI(title="mtts", version="1", docs_url=None, redoc_url=None,
                  description="Text to speech from one mtts model file. Errors are JSON: "
                              "{\"error\": message, \"parameter\": the one at fault, if any}.")
    app.state.jobs, app.state.limits, app.state.synths = jobs, limits, synths
    pages = {route: (resources.files("mtts").joinpath("web", file).read_bytes(), kind)
             for route, (file, kind) in PAGES.items()}

    def error(status: int, message: str, parameter: str | None = None, headers: dict | None = None) -> JSONResponse:
        body = {"error": message} | ({"parameter": parameter} if parameter else {})
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, e: ApiError):
        return error(e.status, e.message, e.parameter, e.headers)

    @app.exception_handler(MttsError)
    async def _mtts_error(request: Request, e: MttsError):
        return error(400, str(e), "text")

    @app.exception_handler(RequestValidationError)
    async def _bad_parameter(request: Request, e: RequestValidationError):
        first = e.errors()[0]
        where = [str(p) for p in first.get("loc", ()) if p not in ("body", "query")]
        name = ".".join(where) or "body"
        known = StreamParams if request.url.path.endswith("/stream") else TTSParams
        if first.get("type") == "json_invalid":
            name, message = "body", "body: not valid JSON"
        elif first.get("type") == "extra_forbidden":
            message = f"unknown parameter {name!r} (known: {', '.join(known.model_fields)})"
        elif first.get("type") == "missing":
            message = f"{name}: required"
        else:
            message = f"{name}: {first.get('msg', 'invalid')}"
        return error(422, message, name)

    @app.middleware("http")
    async def _limit_body(request: Request, call_next):
        """Refuse a body far longer than the longest text before reading it (a UTF-8
        character is at most 4 bytes, and JSON escapes at most 6)."""
        size = request.headers.get("content-length")
        if size is not None and size.isdigit() and int(size) > 6 * limits.max_chars + 4096:
            return error(413, f"request body of {size} bytes is over the limit for {limits.max_chars} "
                              "characters of text (--max-chars)", "text")
        return await call_next(request)

    def prepare(p: TTSParams) -> Synthesizer:
        if len(p.text) > limits.max_chars:
            raise ApiError(413, f"text is {len(p.text)} characters long, over the limit of {limits.max_chars} "
                                "(--max-chars)", "text")
        if p.speaker is not None and p.speaker not in (speakers or [VOICE]):
            raise ApiError(422, f"speaker {p.speaker!r} is not one of this model's voices "
                                f"({', '.join(speakers or [VOICE])})", "speaker")
        vocoder = default_vocoder if p.vocoder == "auto" else p.vocoder
        if vocoder not in synths:
            raise ApiError(422, "vocoder 'neural': this model has no neural vocoder (use griffin-lim)", "vocoder")
        if not split_sentences(p.text):
            raise ApiError(400, "the text is empty", "text")
        return synths[vocoder]

    async def speak(p: TTSParams) -> Response:
        synth = prepare(p)
        job = jobs.slot()
        try:
            def whole(check):
                return np.concatenate(list(synth.stream(p.text, 1.0 / p.rate, n_iter, check=check,
                                                        speaker=p.speaker if speakers else None)))
            wav = await job.call(whole, job.check)
        finally:
            job.close()
        return Response(wav_bytes(wav, sr), media_type="audio/wav",
                        headers={"X-Audio-Seconds": f"{len(wav) / sr:.3f}"})

    async def speak_stream(p: StreamParams) -> StreamingResponse:
        synth = prepare(p)
        job = jobs.slot()
        gen = synth.stream(p.text, 1.0 / p.rate, n_iter, check=job.check, speaker=p.speaker if speakers else None)
        try:
            first = await job.call(_next, gen)    # an error in the first sentence is still a status code
        except BaseException:
            job.close()
            raise

        async def body():
            try:
                yield (wav_header(sr) if p.format == "wav" else b"") + pcm16(first)
                while True:
                    try:
                        piece = await job.call(_next, gen)
                    except ApiError as e:     # too late for a status: log it and end the stream
                        log.warning("stream cut short: %s", e.message)
                        return
                    if piece is None:
                        return
                    yield pcm16(piece)
            finally:
                job.close()
                jobs.pool.submit(gen.close)   # on the worker, after any step still running there
        kind = "audio/wav" if p.format == "wav" else f"audio/L16;rate={sr};channels=1"
        return StreamingResponse(body(), media_type=kind, headers={"X-Sample-Rate": str(sr)})

    @app.get("/api/tts", response_class=Response, summary="Speak text: a 16-bit mono wav",
             responses={200: {"content": {"audio/wav": {}}}})
    async def tts_get(p: Annotated[TTSParams, Query()]):
        return await speak(p)

    @app.post("/api/tts", response_class=Response, summary="Speak text (JSON body): a 16-bit mono wav",
              responses={200: {"content": {"audio/wav": {}}}})
    async def tts_post(p: TTSParams):
        return await speak(p)

    @app.get("/api/tts/stream", response_class=StreamingResponse,
             summary="Speak text sentence by sentence, each sent as soon as it is made",
             responses={200: {"content": {"audio/wav": {}, "audio/L16": {}}}})
    async def stream_get(p: Annotated[StreamParams, Query()]):
        return await speak_stream(p)

    @app.post("/api/tts/stream", response_class=StreamingResponse,
              summary="Speak text (JSON body) sentence by sentence, each sent as soon as it is made",
              responses={200: {"content": {"audio/wav": {}, "audio/L16": {}}}})
    async def stream_post(p: StreamParams):
        return await speak_stream(p)

    @app.get("/api/voices", summary="The model's voices, vocoders and limits")
    async def voices():
        voices = [{"id": s, "name": s} for s in speakers] or [{"id": VOICE, "name": name}]
        return {"voices": voices, "vocoders": sorted(synths), "default_vocoder": default_vocoder,
                "sample_rate": sr, "max_chars": limits.max_chars, "rate": {"min": 0.25, "max": 4.0}}

    @app.get("/api/health", summary="Whether the server is up, and how busy")
    async def health():
        return {"status": "ok", "pending": jobs.pending, "queue": limits.queue}

    def page(route: str):
        data, kind = pages[route]

        async def get():
            return Response(data, media_type=kind, headers={"Content-Security-Policy": CSP,
                                                            "X-Content-Type-Options": "nosniff"})
        return get

    for route in PAGES:
        app.add_api_route(route, page(route), methods=["GET"], include_in_schema=False)

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon():     # browsers ask; there is none
        return Response(status_code=204)
    return app


def serve(model: Path, host: str = HOST, port: int = PORT, limits: Limits | None = None, n_iter: int = 32,
          postfilter: float = POSTFILTER) -> None:
    """Load the model and serve it until interrupted."""
    import uvicorn
    limits = limits or Limits()
    limits.check()
    if not 0 <= port <= 65535:
        raise MttsError(f"--port must be 0 to 65535, got {port}")
    app = create_app(load_synthesizers(model, n_iter, postfilter), limits, n_iter, model.stem)
    config = uvicorn.Config(app, host=host, port=port, log_level="info", timeout_keep_alive=5,
                            timeout_graceful_shutdown=5)
    try:
        uvicorn.Server(config).run()
    except SystemExit:    # uvicorn exits when it cannot bind
        raise MttsError(f"cannot listen on {host}:{port} (in use, or not an address of this machine)") from None
