"""debug: a model that trains and samples in seconds on a laptop CPU (for tests)."""

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


def debug() -> Config:
    return Config(
        name="debug",
        world=WorldConfig(n=16, sizes=["32x32", "48x32", "32x48"], frames=[1, 9], fps=8, seed=0),
        data=DataConfig(
            cache_dir="runs/debug/data",
            fps=8.0,
            # Classes 32 and 40 with 3:2 grids hold the world's 32x32, 48x32 and 32x48 exactly (no crop).
            buckets=BucketConfig(resolutions=[32, 40], aspect_ratios=["1:1", "3:2", "2:3"], frames=[1, 9],
                                 token_budget=2048, max_batch=8),
        ),
        vae=VAEConfig(
            latent_channels=4, base_width=16, width_mults=[1, 2, 2], num_res_blocks=1,
            temporal_factor=4, spatial_factor=4, mid_attention=False, chunk_frames=8, tile_size=0,
        ),
        vae_train=VAETrainConfig(steps=20, lr=1e-3, warmup_steps=2, sheet_every=0, log_every=5, ckpt_every=10, stats_batches=4),
        dit=dit_config("debug", in_channels=4),  # width, depth and heads from the preset
        text=TextConfig(max_length=32),
        sample=SampleConfig(sampler="euler", steps=4, guidance=3.0),
        train=TrainConfig(out_dir="runs/debug", steps=20, lr=1e-3, warmup_steps=2, log_every=5, ckpt_every=10,
                          sample_height=32, sample_width=32, sample_num_frames=9),
        # 64x64 at most, 33 frames, 8 steps: every request of the server tests runs in well under a second
        serve=ServeConfig(max_width=64, max_height=64, max_seconds=4.0, max_frames=33, max_steps=8,
                          max_upload_bytes=5_000_000, queue_size=8, default_seconds=1.0,
                          outputs_dir="runs/debug/serve", db_path="runs/debug/serve/jobs.sqlite"),
    )
