"""Measurements: VAE reconstruction (vae_metrics), the world bench (world_bench)."""
