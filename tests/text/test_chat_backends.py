"""The OpenAI-compatible backends against a chat-completions server on loopback that records every request."""

import base64
import io
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

from patchflow.text.chat_backends import OpenAICaptioner, OpenAIExpander
from patchflow.text.chat_client import ChatBackendError, ChatClient, ChatEndpoint
from patchflow.text.frames import even_frame_indices
from patchflow.text.interfaces import Captioner, Expander

SECRET = "sk-test-0123456789abcdef"


def ok_reply(text: str) -> tuple[int, bytes]:
    return 200, json.dumps({"choices": [{"message": {"role": "assistant", "content": text},
                                         "finish_reason": "stop"}]}).encode()


class FakeChatServer:
    """Answers POST /v1/chat/completions from a script of replies (then `ok_reply("fine")`); records requests.

    A script entry is (status, body bytes), or ("sleep", seconds) to stall past the client's timeout."""

    def __init__(self):
        self.script: list = []
        self.requests: list[dict] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                    step = server.script.pop(0) if server.script else ok_reply("fine")
                    server.in_flight += 1
                    server.most_in_flight = max(server.most_in_flight, server.in_flight)
                try:
                    if step[0] == "sleep":
                        time.sleep(step[1])
                        step = ok_reply("too late")
                    if step[0] == "hold":  # a slow but timely reply: lets concurrent requests overlap
                        time.sleep(step[1])
                        step = ok_reply(body["messages"][-1]["content"])
                    status, payload = step
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up on a stalled reply
                    pass
                finally:
                    with server.lock:
                        server.in_flight -= 1

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = FakeChatServer()
    yield s
    s.close()


@pytest.fixture
def client(server, monkeypatch):
    monkeypatch.setenv("TEST_CHAT_KEY", SECRET)
    endpoint = ChatEndpoint(base_url=server.base_url, model="tiny-vlm", api_key_env="TEST_CHAT_KEY", timeout_s=0.5,
                            max_retries=2, backoff_s=0.01, max_concurrency=2)
    with ChatClient(endpoint) as c:
        yield c


def decode_png(url: str) -> Image.Image:
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix)
    raw = base64.b64decode(url[len(prefix):])
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    return Image.open(io.BytesIO(raw))


def test_captioner_sends_evenly_sampled_frames_as_png_parts_and_the_key_in_the_header(server, client):
    clip = np.zeros((17, 24, 40, 3), np.uint8)
    for t in range(17):
        clip[t, :, :, 0] = t * 10  # each frame's red value names its index
    captioner = OpenAICaptioner(client, num_frames=5)
    assert isinstance(captioner, Captioner)
    server.script = [ok_reply("  A small red ball rests. The background is navy.  ")]
    assert captioner.caption(clip) == "A small red ball rests. The background is navy."

    (request,) = server.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == f"Bearer {SECRET}"
    assert request["body"]["model"] == "tiny-vlm"
    parts = request["body"]["messages"][0]["content"]
    images = [p for p in parts if p["type"] == "image_url"]
    texts = [p for p in parts if p["type"] == "text"]
    assert len(images) == 5 and len(texts) == 1 and "background" in texts[0]["text"]
    decoded = [decode_png(p["image_url"]["url"]) for p in images]
    assert all(im.size == (40, 24) for im in decoded)
    assert [np.asarray(im)[0, 0, 0] // 10 for im in decoded] == [0, 4, 8, 12, 16]  # first to last, evenly


def test_a_short_clip_sends_every_frame_once():
    assert even_frame_indices(3, 8) == [0, 1, 2]
    assert even_frame_indices(1, 4) == [0]
    assert even_frame_indices(9, 3) == [0, 4, 8]


def test_expander_sends_the_system_prompt_and_seed(server, client):
    expander = OpenAIExpander(client)
    assert isinstance(expander, Expander)
    server.script = [ok_reply("A large red ball bounces around quickly. The background is gray.")]
    assert expander.expand("a red ball", seed=3).startswith("A large red ball")
    body = server.requests[0]["body"]
    assert body["seed"] == 3
    assert body["messages"][0]["role"] == "system" and "caption" in body["messages"][0]["content"]
    assert body["messages"][1] == {"role": "user", "content": "a red ball"}


def test_500_then_200_is_retried(server, client, caplog):
    server.script = [(500, b'{"error": "busy"}'), (503, b"overloaded"), ok_reply("second time lucky")]
    with caplog.at_level(logging.WARNING):
        assert OpenAIExpander(client).expand("a ball", 0) == "second time lucky"
    assert len(server.requests) == 3
    assert "HTTP 500" in caplog.text and "HTTP 503" in caplog.text


def test_a_timeout_then_success_is_retried(server, client):
    server.script = [("sleep", 1.0), ok_reply("after the stall")]
    assert OpenAIExpander(client).expand("a ball", 0) == "after the stall"
    assert len(server.requests) == 2


def test_too_many_failures_name_the_server_and_stop(server, client):
    server.script = [(429, b"slow down")] * 3
    with pytest.raises(ChatBackendError, match=r"127\.0\.0\.1.*HTTP 429.*after 3 tries"):
        OpenAIExpander(client).expand("a ball", 0)
    assert len(server.requests) == 3


def test_connection_refused_is_retried_then_a_clear_error(monkeypatch):
    s = FakeChatServer()
    url = s.base_url
    s.close()  # nothing listens there any more
    endpoint = ChatEndpoint(base_url=url, model="m", timeout_s=0.5, max_retries=1, backoff_s=0.01)
    with ChatClient(endpoint) as c, pytest.raises(ChatBackendError, match=r"connection failed.*after 2 tries"):
        c.complete([{"role": "user", "content": "hi"}])


@pytest.mark.parametrize("status, payload, problem", [
    (200, b"<html>not an api</html>", "not JSON"),
    (200, b'{"error": {"message": "no such model"}}', "no choices"),
    (200, b'{"choices": []}', "no choices"),
    (200, b'{"choices": [{"message": {"role": "assistant", "content": null}, "finish_reason": "length"}]}',
     "no text content"),
    (401, b'{"error": "bad key"}', "HTTP 401"),
])
def test_a_malformed_or_refused_reply_is_a_clear_error(server, client, status, payload, problem):
    server.script = [(status, payload)]
    with pytest.raises(ChatBackendError, match=problem) as caught:
        OpenAIExpander(client).expand("a ball", 0)
    assert server.base_url in str(caught.value) and "tiny-vlm" in str(caught.value)
    assert len(server.requests) == 1  # not retried: trying again would get the same answer


def test_the_key_never_appears_in_logs_or_errors_even_when_echoed(server, client, caplog):
    echo = json.dumps({"error": f"key Bearer {SECRET} is not allowed"}).encode()
    server.script = [(500, echo), (500, echo), (400, echo)]
    with caplog.at_level(logging.DEBUG), pytest.raises(ChatBackendError) as caught:
        OpenAIExpander(client).expand("a ball", 0)
    assert "HTTP 400" in str(caught.value) and "***" in str(caught.value)
    assert SECRET not in str(caught.value) and SECRET not in caught.value.__repr__()
    assert "HTTP 500" in caplog.text and SECRET not in caplog.text


def test_a_missing_key_variable_is_named(monkeypatch, server):
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    with pytest.raises(ChatBackendError, match="NO_SUCH_KEY_VAR"):
        ChatClient(ChatEndpoint(base_url=server.base_url, model="m", api_key_env="NO_SUCH_KEY_VAR"))


def test_batch_calls_keep_order_and_the_concurrency_limit(server, client):
    server.script = [("hold", 0.15)] * 6
    prompts = [f"prompt {i}" for i in range(6)]
    assert OpenAIExpander(client).expand_many(prompts, seed=0) == prompts  # the server echoes the user text
    assert server.most_in_flight == 2  # max_concurrency, reached and never passed
