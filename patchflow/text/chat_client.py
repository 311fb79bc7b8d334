"""A client for any OpenAI-compatible chat-completions server (OpenAI, vLLM, llama.cpp, Ollama, TGI ...).

One POST to `{base_url}/chat/completions` per conversation. Transient
failures (HTTP 429 and 5xx, timeouts, refused or dropped connections) are
retried with exponential backoff; anything else, and a reply without
choices or text, is a `ChatBackendError` naming the server and the problem.

The API key is read from the environment variable the endpoint names, sent
only in the Authorization header, and scrubbed from every log line and error
message: a server that echoes the request back cannot leak it through us.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

log = logging.getLogger(__name__)
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
BODY_QUOTE_CHARS = 200  # how much of a bad reply an error message quotes


class ChatBackendError(RuntimeError):
    """A chat server that could not be reached, refused the request, or answered something unreadable."""


@dataclass(frozen=True)
class ChatEndpoint:
    """Where and how to ask. `api_key_env` names the environment variable holding the key (None: no key)."""

    base_url: str  # e.g. "https://api.openai.com/v1" or "http://127.0.0.1:8000/v1"
    model: str
    api_key_env: str | None = None
    timeout_s: float = 60.0  # per request
    max_retries: int = 4  # retries after the first try
    backoff_s: float = 1.0  # the first wait; it doubles on every retry
    max_backoff_s: float = 30.0
    max_concurrency: int = 4  # requests in flight at once, over every thread of this client
    max_tokens: int = 300
    temperature: float = 0.0

    def __post_init__(self):
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"chat base_url must start with http:// or https://, got {self.base_url!r}")
        if self.max_concurrency < 1 or self.max_retries < 0 or self.timeout_s <= 0:
            raise ValueError("chat endpoint needs max_concurrency >= 1, max_retries >= 0 and timeout_s > 0")


class ChatClient:
    """`complete(messages)` -> the reply's text; `complete_many(conversations)` runs them concurrently."""

    def __init__(self, endpoint: ChatEndpoint):
        self.endpoint = endpoint
        self.url = endpoint.base_url.rstrip("/") + "/chat/completions"
        self._key = self._read_key(endpoint.api_key_env)
        self._slots = threading.Semaphore(endpoint.max_concurrency)
        self._http = httpx.Client(timeout=endpoint.timeout_s)

    @staticmethod
    def _read_key(env: str | None) -> str | None:
        if env is None:
            return None
        key = os.environ.get(env)
        if not key:
            raise ChatBackendError(f"the environment variable {env} (the chat endpoint's api_key_env) is not set; "
                                   f"export it, or set api_key_env to None for a server without a key")
        return key

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    def _fail(self, problem: str) -> ChatBackendError:
        return ChatBackendError(self._scrub(f"chat server {self.url} (model {self.endpoint.model}): {problem}"))

    def complete(self, messages: list[dict], seed: int | None = None) -> str:
        """The assistant's text for one conversation (OpenAI message dicts)."""
        body = {"model": self.endpoint.model, "messages": messages, "max_tokens": self.endpoint.max_tokens,
                "temperature": self.endpoint.temperature}
        if seed is not None:
            body["seed"] = seed
        with self._slots:
            reply = self._post_with_retries(body)
        return self._text_of(reply)

    def complete_many(self, conversations: list[list[dict]], seeds: list[int] | None = None) -> list[str]:
        """Texts in the order of `conversations`; at most `max_concurrency` requests in flight."""
        seeds = seeds if seeds is not None else [None] * len(conversations)
        if len(seeds) != len(conversations):
            raise ValueError(f"{len(conversations)} conversations but {len(seeds)} seeds")
        with ThreadPoolExecutor(max_workers=self.endpoint.max_concurrency) as pool:
            return list(pool.map(self.complete, conversations, seeds))

    def _post_with_retries(self, body: dict) -> dict:
        headers = {"Content-Type": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        tries = self.endpoint.max_retries + 1
        for attempt in range(tries):
            wait = min(self.endpoint.backoff_s * 2 ** attempt, self.endpoint.max_backoff_s)
            try:
                response = self._http.post(self.url, json=body, headers=headers)
            except httpx.TimeoutException:
                problem = f"no reply within {self.endpoint.timeout_s} s"
            except httpx.TransportError as e:  # refused, reset, DNS: the server may come back
                problem = f"connection failed ({type(e).__name__})"
            else:
                if response.status_code == 200:
                    return self._json_of(response)
                problem = f"HTTP {response.status_code}: {response.text[:BODY_QUOTE_CHARS]!r}"
                if response.status_code not in RETRY_STATUSES:
                    raise self._fail(f"{problem}; check the model name, the key and the request")
                wait = max(wait, self._retry_after(response))
            if attempt + 1 == tries:
                raise self._fail(f"{problem}, after {tries} tries; is the server up and not overloaded?")
            log.warning(self._scrub(f"chat server {self.url}: {problem}; retry {attempt + 1}/{tries - 1} "
                                    f"in {wait:.2f} s"))
            time.sleep(wait)
        raise AssertionError("unreachable")

    def _retry_after(self, response: httpx.Response) -> float:
        """The server's Retry-After in seconds (capped), or 0 when it gives none we can read."""
        try:
            return min(float(response.headers["retry-after"]), self.endpoint.max_backoff_s)
        except (KeyError, ValueError):
            return 0.0

    def _json_of(self, response: httpx.Response) -> dict:
        try:
            reply = response.json()
        except json.JSONDecodeError:
            raise self._fail(f"the reply is not JSON: {response.text[:BODY_QUOTE_CHARS]!r}; is base_url the "
                             "OpenAI-compatible API root (ending in /v1)?") from None
        if not isinstance(reply, dict):
            raise self._fail(f"the reply is JSON but not an object: {response.text[:BODY_QUOTE_CHARS]!r}")
        return reply

    def _text_of(self, reply: dict) -> str:
        choices = reply.get("choices")  # a reply is checked, not defaulted: a missing key is an error below
        if not isinstance(choices, list) or not choices:
            raise self._fail(f"the reply has no choices (keys: {sorted(reply)}); "
                             f"the server said: {json.dumps(reply)[:BODY_QUOTE_CHARS]}")
        message = choices[0].get("message") if isinstance(choices[0], dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):  # some servers answer in content parts
            content = "".join(p.get("text") or "" for p in content if isinstance(p, dict))
        if not isinstance(content, str) or not content.strip():
            finish = choices[0].get("finish_reason") if isinstance(choices[0], dict) else None
            raise self._fail(f"the first choice has no text content (finish_reason {finish!r}); "
                             "raise max_tokens or check that the model can answer this request")
        return content.strip()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ["ChatClient", "ChatEndpoint", "ChatBackendError", "RETRY_STATUSES"]
