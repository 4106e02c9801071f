#!/usr/bin/env bash
# Two nodes x 4 GPUs: paper-scale autoencoder training with Accelerate (DDP, bf16).
#SBATCH --job-name=sd-vae-paper
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=4
#SBATCH --cpus-per-task=32
#SBATCH --time=48:00:00
set -euo pipefail
MAIN_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
srun accelerate launch \
    --num_machines "$SLURM_NNODES" --machine_rank "$SLURM_NODEID" \
    --num_processes $((SLURM_NNODES * 4)) --main_process_ip "$MAIN_ADDR" --main_process_port 29500 \
    --multi_gpu --mixed_precision bf16 \
    -m dream3d_sd_filters.cli.train vae paper --resume
