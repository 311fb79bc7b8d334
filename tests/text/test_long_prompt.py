"""A prompt longer than the text encoder's max_length says so, once per distinct prompt."""

import pytest

from patchflow.config import TextConfig
from patchflow.text import TextEncoder


def squash(text: str) -> str:
    return "".join(text.split())  # rich wraps long lines at the terminal's width


@pytest.fixture(scope="module")
def enc():
    return TextEncoder(TextConfig(max_length=16))


def test_a_cut_prompt_is_named_with_its_token_count_once(enc, capsys):
    long = "a small red ball bounces around while a large blue box rests on the navy background"
    count = len(enc.tokenizer(long)["input_ids"])
    assert count > 16
    for _ in range(3):  # three training steps over the same prompt
        enc([long, "a red ball"])
    err = capsys.readouterr().err
    assert squash(f"warning: a prompt of {count} tokens is cut to the text encoder's 16 (text.max_length)") in \
        squash(err)
    assert squash(err).count(squash("is cut to")) == 1
    assert squash(repr(long[:57] + "...")) in squash(err)
    enc(["another prompt that is long enough to be cut by a sixteen token limit for sure, yes"])
    assert squash(capsys.readouterr().err).count(squash("is cut to")) == 1  # a new prompt: said once more


def test_prompts_that_fit_say_nothing(enc, capsys):
    enc(["a red ball bouncing on navy", "", "two boxes on gray"])
    assert capsys.readouterr().err == ""
    # exactly at the limit: 14 words + [CLS] + [SEP] = 16 tokens
    exact = " ".join(["ball"] * 14)
    assert len(enc.tokenizer(exact)["input_ids"]) == 16
    enc([exact])
    assert capsys.readouterr().err == ""
