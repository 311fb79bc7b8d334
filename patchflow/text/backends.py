"""Captioners and expanders by name: "world" | "openai" | "hf", with the options each one needs.

One place turns a command line (`patchflow data caption --backend ...`, `patchflow generate --expander ...`)
into a backend, so both commands accept the same names and say the same thing when an option is missing.
Backends are imported only when chosen: the world captioner is trained by another part of patchflow
(`patchflow/text/world_captioner.py`) and a checkout without it still captions with the other two.
"""

from __future__ import annotations

from pathlib import Path

from patchflow.text.interfaces import Captioner, Expander

BACKEND_NAMES = ("world", "openai", "hf")


def check_name(name: str, what: str) -> None:
    if name not in BACKEND_NAMES:
        raise ValueError(f"unknown {what} backend {name!r}: choose one of {', '.join(BACKEND_NAMES)}")


def chat_client(base_url: str | None, model_name: str | None, api_key_env: str | None, timeout_s: float,
                concurrency: int, max_retries: int):
    """A ChatClient for the openai backend; a missing URL or model name is an error saying what to give."""
    from patchflow.text.chat_client import ChatClient, ChatEndpoint

    if not base_url:
        raise ValueError("the openai backend needs base_url: the chat server's API root, e.g. "
                         "http://127.0.0.1:8000/v1 (vLLM, SGLang, Ollama, llama.cpp server) or https://api.openai.com/v1")
    if not model_name:
        raise ValueError("the openai backend needs model_name: the model as the chat server names it "
                         "(GET {base_url}/models lists them)")
    return ChatClient(ChatEndpoint(base_url=base_url, model=model_name, api_key_env=api_key_env, timeout_s=timeout_s,
                                   max_concurrency=concurrency, max_retries=max_retries))


def need_folder(model: str | Path | None, name: str, holds: str) -> Path:
    if not model:
        raise ValueError(f"the {name} backend needs model: a local folder holding {holds}")
    path = Path(model)
    if not path.is_dir():
        raise FileNotFoundError(f"no such model folder for the {name} backend: {path}")
    return path


def load_world(model: str | Path | None) -> Captioner:
    """The trained world captioner of a model folder (its `captioner/` subfolder) or a captioner folder itself;
    its module is imported only now."""
    folder = need_folder(model, "world", "a trained world captioner, or a model folder with it in captioner/ "
                                          "(e.g. models/world-tiny)")
    try:
        from patchflow.text.world_captioner import load_world_captioner
    except ModuleNotFoundError as e:
        if e.name != "patchflow.text.world_captioner":
            raise  # the module exists but something it imports does not: say so, do not hide it
        raise ValueError("the world captioner (patchflow/text/world_captioner.py) is not part of this install; "
                         "use --backend openai or hf") from None
    return load_world_captioner(folder)  # a folder without a captioner: MissingModelFile, naming what is missing


def get_captioner(name: str, *, model: str | Path | None = None, base_url: str | None = None,
                  model_name: str | None = None, api_key_env: str | None = None, num_frames: int = 8,
                  timeout_s: float = 120.0, concurrency: int = 4, max_retries: int = 4,
                  device: str = "cpu") -> Captioner:
    """world: `model` is a model folder with a trained captioner; openai: `base_url` and `model_name` of a chat
    server (the key in the environment variable `api_key_env`); hf: `model` is a local vision-language folder.
    `num_frames` (frames shown per clip), `timeout_s`, `concurrency` and `max_retries` apply where they mean
    something (the chat server; hf takes `num_frames` and `device` too)."""
    check_name(name, "captioner")
    if name == "world":
        return load_world(model)
    if name == "openai":
        from patchflow.text.chat_backends import OpenAICaptioner

        return OpenAICaptioner(chat_client(base_url, model_name, api_key_env, timeout_s, concurrency, max_retries),
                               num_frames=num_frames)
    from patchflow.text.hf_backends import HFCaptioner

    return HFCaptioner(need_folder(model, "hf", "a Hugging Face vision-language model (config.json, processor)"),
                       num_frames=num_frames, device=device)


def get_expander(name: str, *, model: str | Path | None = None, base_url: str | None = None,
                 model_name: str | None = None, api_key_env: str | None = None, timeout_s: float = 60.0,
                 concurrency: int = 4, max_retries: int = 4, device: str = "cpu") -> Expander:
    """world: no options (the world's parser and caption writer); openai: `base_url` and `model_name` of a chat
    server; hf: `model` is a local causal LM folder."""
    check_name(name, "prompt expander")
    if name == "world":
        from patchflow.text.world_expander import WorldExpander

        return WorldExpander()
    if name == "openai":
        from patchflow.text.chat_backends import OpenAIExpander

        return OpenAIExpander(chat_client(base_url, model_name, api_key_env, timeout_s, concurrency, max_retries))
    from patchflow.text.hf_backends import HFExpander

    return HFExpander(need_folder(model, "hf", "a Hugging Face causal language model (config.json, tokenizer)"),
                      device=device)


def close_backend(backend: object) -> None:
    """Close what a backend holds open (the chat backends' HTTP connections); nothing for the others."""
    client = getattr(backend, "client", None)
    if client is not None and hasattr(client, "close"):
        client.close()


__all__ = ["BACKEND_NAMES", "close_backend", "get_captioner", "get_expander"]
