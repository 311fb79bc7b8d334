"""The local Hugging Face expander, on a tiny causal LM built and saved by the test (nothing downloaded).

The LM's final layer norm is rigged so that every position predicts one chosen word: greedy decoding must then
return exactly that word, max_new_tokens times, and none of the prompt.
"""

import re

import pytest
import torch

from patchflow.text.caption_style import EXPAND_SYSTEM_PROMPT
from patchflow.text.hf_backends import HFCaptioner, HFExpander
from patchflow.text.interfaces import Expander

WORD = "ball"


def build_tiny_lm(folder, chat_template: str | None = None):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    words = sorted(set(re.findall(r"[a-z]+|[^\sa-z]", (EXPAND_SYSTEM_PROMPT + " short prompt detailed caption "
                                                      "system user assistant").lower())))
    vocab = {w: i for i, w in enumerate(["[unk]", "[pad]", "[eos]", *words])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="[unk]"))
    core.normalizer = None
    core.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace()])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="[unk]", pad_token="[pad]",
                                        eos_token="[eos]")
    if chat_template:
        tokenizer.chat_template = chat_template
    tokenizer.save_pretrained(folder)

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(vocab), n_positions=512, n_embd=32, n_layer=1, n_head=2,
                        eos_token_id=vocab["[eos]"], bos_token_id=vocab["[eos]"], pad_token_id=vocab["[pad]"])
    model = GPT2LMHeadModel(config)
    with torch.no_grad():  # logits = wte @ ln_f(h): a zero-gain norm with bias e makes them wte @ e everywhere
        direction = torch.zeros(32)
        direction[0] = 1.0
        model.transformer.ln_f.weight.zero_()
        model.transformer.ln_f.bias.copy_(direction)
        model.transformer.wte.weight[vocab[WORD], 0] = 10.0
    model.save_pretrained(folder)
    return vocab


def test_expander_decodes_only_new_tokens_greedily(tmp_path):
    build_tiny_lm(tmp_path)
    expander = HFExpander(tmp_path, max_new_tokens=6)
    assert isinstance(expander, Expander)
    assert not expander.tokenizer.chat_template
    assert expander.prompt_text("a red ball").endswith("Short prompt: a red ball\nDetailed caption:")
    text = expander.expand("a red ball", seed=0)
    assert text.split() == [WORD] * 6  # the rigged word, six times; not the prompt's words
    assert expander.expand("a red ball", seed=5) == text


def test_expander_uses_the_tokenizers_chat_template(tmp_path):
    template = ("{% for m in messages %}{{ m['role'] }} : {{ m['content'] }} . {% endfor %}"
                "{% if add_generation_prompt %}assistant :{% endif %}")
    build_tiny_lm(tmp_path, chat_template=template)
    expander = HFExpander(tmp_path, max_new_tokens=3)
    seen = expander.prompt_text("a red ball")
    assert seen.startswith("system : You turn") and seen.endswith("user : a red ball . assistant :")
    assert expander.expand("a red ball", seed=0).split() == [WORD] * 3


def test_a_folder_that_is_no_model_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no config.json.*nothing is downloaded"):
        HFExpander(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="captioner vision-language model"):
        HFCaptioner(tmp_path)


def build_tiny_vlm(folder):
    """A randomly initialised LLaVA (1-layer CLIP vision tower on 28x28 images, 1-layer Llama) with a word-level
    tokenizer and a chat template that writes one <image> per image part."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )

    from patchflow.text.caption_style import CAPTION_INSTRUCTION

    words = sorted(set(re.findall(r"[a-z]+|[^\sa-z]", (CAPTION_INSTRUCTION + " user assistant").lower())))
    vocab = {w: i for i, w in enumerate(["[unk]", "[pad]", "[eos]", "<image>", *words])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="[unk]"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="[unk]", pad_token="[pad]",
                                        eos_token="[eos]", extra_special_tokens={"image_token": "<image>"})
    template = ("{% for m in messages %}{{ m['role'] }} : {% for c in m['content'] %}{% if c['type'] == 'image' %}"
                "<image> {% else %}{{ c['text'] }} {% endif %}{% endfor %}{% endfor %}"
                "{% if add_generation_prompt %}assistant :{% endif %}")
    images = CLIPImageProcessor(size={"shortest_edge": 28}, crop_size={"height": 28, "width": 28})
    LlavaProcessor(image_processor=images, tokenizer=tokenizer, patch_size=14, vision_feature_select_strategy="default",
                   chat_template=template, num_additional_image_tokens=1, image_token="<image>").save_pretrained(folder)
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(image_size=28, patch_size=14, hidden_size=32, intermediate_size=64,
                                       num_hidden_layers=1, num_attention_heads=2, projection_dim=32),
        text_config=LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=1024,
                                eos_token_id=vocab["[eos]"], pad_token_id=vocab["[pad]"], bos_token_id=vocab["[eos]"]),
        image_token_index=vocab["<image>"], vision_feature_layer=-1, vision_feature_select_strategy="default")
    torch.manual_seed(0)
    LlavaForConditionalGeneration(config).save_pretrained(folder)
    return vocab


def test_captioner_shows_evenly_sampled_frames_and_returns_only_new_text(tmp_path):
    import numpy as np

    from patchflow.text.interfaces import Captioner

    vocab = build_tiny_vlm(tmp_path)
    captioner = HFCaptioner(tmp_path, num_frames=3, max_new_tokens=5)
    assert isinstance(captioner, Captioner)
    clip = np.zeros((9, 24, 40, 3), np.uint8)
    for t in range(9):
        clip[t] = 20 * t  # a brighter frame each step: the images shown must be frames 0, 4, 8
    calls = []
    generate = captioner.model.generate

    def spy(**inputs):
        out = generate(**inputs)
        calls.append((inputs, out))
        return out

    captioner.model.generate = spy
    text = captioner.caption(clip)
    assert captioner.caption(clip) == text  # greedy: the same clip, the same caption

    inputs, out = calls[0]
    pixels = inputs["pixel_values"]  # (3, 3, 28, 28)
    assert pixels.shape == (3, 3, 28, 28)
    brightness = pixels.mean(dim=(1, 2, 3))
    assert brightness[0] < brightness[1] < brightness[2]
    ids = inputs["input_ids"][0]
    assert (ids == vocab["<image>"]).sum() == 3 * 4  # 2x2 patches an image, CLS dropped ("default" strategy)
    new = out[0, ids.shape[0]:]
    assert 1 <= new.shape[0] <= 5
    assert text == captioner.processor.decode(new, skip_special_tokens=True).strip()
    assert not text.startswith("user")  # the prompt is not echoed back
