"""Neural networks: the causal VAE (vae/) and the diffusion transformer (dit/)."""
