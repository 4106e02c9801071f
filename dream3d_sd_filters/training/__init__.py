"""Training: configs and presets, the autoencoder and diffusion trainers, checkpoints."""
