"""world_tiny: the bundled world model (VAE + DiT), trained on the built-in world on a CPU."""

from patchflow.config import (
    BucketConfig,
    Config,
    DataConfig,
    SampleConfig,
    ServeConfig,
    TextConfig,
    TrainConfig,
    VAEConfig,
    VAETrainConfig,
    WorldConfig,
)
from patchflow.models.dit.presets import dit_config


def world_tiny() -> Config:
    return Config(
        name="world_tiny",
        # 112x64 and 64x112 (7:4, the nearest multiple-of-16 size to 16:9 at this scale) are the bench's framing sizes
        world=WorldConfig(n=4000, sizes=["64x64", "96x54", "54x96", "80x48", "48x80", "112x64", "64x112"],
                          frames=[1, 9, 17, 33], fps=8),
        data=DataConfig(
            cache_dir="runs/world_tiny/data",
            fps=8.0,
            prompt_ratio=0.4,  # 40 % short prompts ("a red ball bouncing"), the rest detailed captions
            # 5:3 and 3:5 grids hold the world's 80x48 and 48x80 exactly; 16:9 takes 96x54 with a slight crop;
            # class 84 gives the 112x64 and 64x112 grids
            buckets=BucketConfig(resolutions=[48, 64, 84], aspect_ratios=["1:1", "16:9", "9:16", "5:3", "3:5"],
                                 frames=[1, 9, 17, 33], token_budget=2048, max_batch=32),
        ),
        # 2x time (not 4x) and 16 channels: at equal steps 22.8 dB against 20.9 (4x, 16 ch) and 21.0 (4x, 8 ch);
        # first-frame past padding keeps quality flat along a clip (docs/results.md, "The world VAE")
        vae=VAEConfig(
            latent_channels=16, base_width=16, width_mults=[1, 4, 4], num_res_blocks=1,
            temporal_factor=2, spatial_factor=4, mid_attention=False, chunk_frames=16, tile_size=0,
            causal_padding="first_frame",
        ),
        vae_train=VAETrainConfig(
            steps=14000, lr=1e-3, warmup_steps=100, kl_weight=1e-6, sheet_every=1000, ckpt_every=500, log_every=10,
            stats_batches=32, val_every=1000, val_samples=8,
            # bf16 autocast: 0.45 s a step against 0.74 in fp32 on this AVX-512-BF16 CPU (docs/results.md)
            precision="bf16", edge_weight=0.0,
            # 9-frame 32x32 crops; the budget counts latent tokens, so 2x time needs twice the 4x budget (8192)
            # for the same pixels a batch
            crop_frames=9, crop_size=32, token_budget=16384,
        ),
        dit=dit_config("tiny", in_channels=16),  # width, depth and heads from the preset
        # 128 MiniLM tokens hold every caption the world writes (the longest of 4000: 88; with every scene feature
        # on, 96 in 3000); at 48, 28.5 % of the detailed captions lost their ends (background, pillar, paint,
        # camera) in training
        text=TextConfig(max_length=128),
        # windows of 17 latent frames (33 frames, the longest training clip), 4 of them (8 frames) as context
        sample=SampleConfig(sampler="euler", steps=20, guidance=4.0, window_latent_frames=17, context_latents=4),
        # The recipe the rung-1 arms chose at equal FLOPs (docs/results.md, "The DiT recipe"): bf16 autocast (1.12x
        # the tokens/s of fp32 on this AVX-512-BF16 CPU), half of every frame's tokens dropped until 90 % of the run
        # (val loss 0.169 against 0.198), lr 1e-3 (0.176 against 0.198 at 5e-4). WSD: constant lr, then linear to 0
        # over the last 20 %, so the checkpoints at 5 % and 20 % branch into the scaling figure's 1x and 4x runs
        # (2,500 and 10,000 steps: train/branch.py). 40,000 steps is about 4 hours on the 2-core CPU.
        train=TrainConfig(out_dir="runs/world_tiny", steps=40000, lr=1e-3, warmup_steps=200, lr_schedule="wsd",
                          decay_fraction=0.2, precision="bf16", token_mask=0.5, token_mask_until=0.9,
                          ckpt_every=2000, keep_checkpoints=0, val_every=2000, val_samples=16),
        # up to 256x256 and 8 s (65 frames, window by window): a few minutes a job at most on a laptop CPU
        serve=ServeConfig(max_width=256, max_height=256, max_seconds=8.0, max_frames=65, max_steps=50,
                          max_upload_bytes=20_000_000, queue_size=16, default_seconds=2.0,
                          outputs_dir="outputs/serve", db_path="outputs/serve/jobs.sqlite"),
    )
