"""MicrostructureSD: the four tasks on images, with a small untrained model (plumbing),
and surrogate guidance on the bundled model."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from dream3d_sd_filters.errors import InputError
from dream3d_sd_filters.pipelines import MicrostructureSD
from dream3d_sd_filters.pipelines.microstructure_sd import (
    SURROGATE_GUIDANCE_SCALE,
    Cancelled,
    repaint_schedule,
)


def _images(n=2, size=32, seed=0):
    rng = np.random.default_rng(seed)
    blocks = rng.uniform(-1, 1, (n, 4, size // 8, size // 8)).astype(np.float32)
    images = blocks.repeat(8, axis=2).repeat(8, axis=3)
    images[:, 0] = np.sign(images[:, 0] + 1e-6)
    return images


def test_reconstruct_any_size(untrained_model):
    out = untrained_model.reconstruct(_images())
    assert out.shape == (2, 4, 32, 32) and out.dtype == np.float32
    assert out.min() >= -1 and out.max() <= 1
    odd = _images()[:, :, :30, :27]
    assert untrained_model.reconstruct(odd).shape == (2, 4, 30, 27)


def test_circular_padding_makes_the_model_translation_equivariant(untrained_model):
    x = _images(1)
    shifted = np.roll(x, (8, 12), axis=(2, 3))  # multiples of the downsampling factor
    a = np.roll(untrained_model.reconstruct(x, periodic=True), (8, 12), axis=(2, 3))
    b = untrained_model.reconstruct(shifted, periodic=True)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_generate_is_seeded_per_sample_and_any_size(untrained_model):
    a = untrained_model.generate(4, steps=3, seed=5, batch_size=4)
    b = untrained_model.generate(4, steps=3, seed=5, batch_size=2)
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert not np.allclose(a, untrained_model.generate(4, steps=3, seed=6, batch_size=4))
    for sampler in ("ddpm", "ddim", "dpmsolver++"):
        assert untrained_model.generate(1, steps=2, sampler=sampler, size=(48, 64)).shape == (
            1,
            4,
            48,
            64,
        )
    with pytest.raises(InputError, match="unknown sampler"):
        untrained_model.generate(1, sampler="euler")
    with pytest.raises(InputError, match="multiple of 16 pixels"):
        untrained_model.generate(1, size=30)


def test_generation_can_be_cancelled(untrained_model):
    calls = []
    with pytest.raises(Cancelled):
        untrained_model.generate(
            2, steps=5, callback=lambda done, total: calls.append((done, total)) or done >= 2
        )
    assert calls == [(1, 5), (2, 5)]


def test_interpolation_grid(untrained_model):
    a, b = _images(2)
    grid = untrained_model.interpolate(a, b, gammas=(0, 0.5, 1), timesteps=(0, 400), steps=4)
    assert grid.shape == (2, 3, 4, 32, 32)
    np.testing.assert_allclose(grid[0, 0], untrained_model.reconstruct(a[None])[0], atol=1e-4)
    np.testing.assert_allclose(grid[0, 2], untrained_model.reconstruct(b[None])[0], atol=1e-4)
    with pytest.raises(InputError, match="gammas must lie in"):
        untrained_model.interpolate(a, b, gammas=(1.5,))
    with pytest.raises(InputError, match="timesteps must lie in"):
        untrained_model.interpolate(a, b, timesteps=(1000,))


def test_inpaint_keeps_known_pixels_exactly(untrained_model):
    x = _images(2)
    mask = np.zeros((2, 32, 32), dtype=bool)
    mask[0, 8:20, 4:30] = True
    out = untrained_model.inpaint(x, mask, steps=6, jump_length=2, jump_n_sample=2)
    np.testing.assert_array_equal(out[:, :, ~mask[0]][0], x[:, :, ~mask[0]][0])
    np.testing.assert_array_equal(out[1], x[1])  # nothing masked: a copy
    assert not np.allclose(out[0][:, mask[0]], x[0][:, mask[0]])
    full = untrained_model.inpaint(x[:1], np.ones((32, 32), bool), steps=3, jump_n_sample=1)
    assert full.shape == (1, 4, 32, 32)
    edge = np.zeros((1, 30, 30), bool)
    edge[0, 20:, 20:] = True  # odd size and a mask touching the border
    cut = x[:1, :, :30, :30]
    out = untrained_model.inpaint(cut, edge, steps=3, jump_n_sample=1)
    np.testing.assert_array_equal(out[0][:, ~edge[0]], cut[0][:, ~edge[0]])


def test_inpaint_mask_errors(untrained_model):
    x = _images(1)
    with pytest.raises(InputError, match="mask has shape"):
        untrained_model.inpaint(x, np.zeros((1, 16, 16), bool))
    with pytest.raises(InputError, match="mask must be boolean"):
        untrained_model.inpaint(x, np.full((1, 32, 32), 0.5))


def test_repaint_schedule_jumps_back():
    moves = repaint_schedule(6, jump_length=2, jump_n_sample=2)
    assert moves[0] == (0, 1) and moves[-1] == (5, 6)
    assert (2, 0) in moves and (4, 2) in moves
    assert sum(1 for a, b in moves if b > a) == 6 + 2 * 2
    assert repaint_schedule(4, 2, 1) == [(0, 1), (1, 2), (2, 3), (3, 4)]


def test_save_and_load_round_trip(untrained_model, tmp_path):
    folder = untrained_model.save_pretrained(tmp_path / "copy")
    again = MicrostructureSD.from_pretrained(folder)
    x = _images(1)
    np.testing.assert_allclose(again.reconstruct(x), untrained_model.reconstruct(x), atol=1e-6)
    half = MicrostructureSD.from_pretrained(
        untrained_model.save_pretrained(tmp_path / "half", half=True)
    )
    np.testing.assert_allclose(half.reconstruct(x), untrained_model.reconstruct(x), atol=0.05)


def test_loading_errors_name_the_problem(untrained_model_dir, tmp_path):
    with pytest.raises(InputError, match="no checkpoint folder or bundled model named 'nope'"):
        MicrostructureSD.from_pretrained("nope")
    with pytest.raises(InputError, match="not a dream3d-sd-filters checkpoint"):
        MicrostructureSD.from_pretrained(tmp_path)
    broken = tmp_path / "broken"
    shutil.copytree(untrained_model_dir, broken)
    (broken / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"garbage")
    with pytest.raises(InputError, match="cannot load the model"):
        MicrostructureSD.from_pretrained(broken)
    card = json.loads((broken / "model_card.json").read_text())
    (broken / "model_card.json").write_text(json.dumps({**card, "channels": ["phase", "a", "b"]}))
    with pytest.raises(InputError, match="3 image channels; 4 are needed"):
        MicrostructureSD.from_pretrained(broken)
    (broken / "model_card.json").write_text(json.dumps({**card, "model": "autoencoder"}))
    with pytest.raises(InputError, match="not a pipeline"):
        MicrostructureSD.from_pretrained(broken)


def test_controlnet_tasks_need_their_controlnet(untrained_model):
    with pytest.raises(InputError, match="no orientation ControlNet"):
        untrained_model.predict_orientations(np.ones((1, 32, 32), dtype=np.int32))
    with pytest.raises(InputError, match="no property ControlNet"):
        untrained_model.generate(1, target={"coercivity": 2.0})


def test_surrogate_guidance_steers_the_bundled_model_to_its_target():
    model = MicrostructureSD.from_pretrained("default")
    surrogate = model.surrogates["coercivity"]

    def predicted(target: float, scale: float) -> np.ndarray:
        images = model.generate(
            4, steps=10, target={"coercivity": target}, surrogate_guidance_scale=scale
        )
        return surrogate.predict(torch.from_numpy(images))[:, 0].numpy()

    steered = predicted(8.0, SURROGATE_GUIDANCE_SCALE)
    assert np.abs(steered - 8.0).mean() < 0.5 * np.abs(predicted(8.0, 0.0) - 8.0).mean()
    assert predicted(2.0, SURROGATE_GUIDANCE_SCALE).mean() < steered.mean() - 3.0

    with pytest.raises(InputError, match="must be >= 0, got -1"):
        model.generate(1, steps=1, target={"coercivity": 4.0}, surrogate_guidance_scale=-1)
    bare = MicrostructureSD(
        model.vae, model.unet, model.scheduler_config, model.card, controlnets=model.controlnets
    )
    with pytest.raises(InputError, match="needs a surrogate for coercivity"):
        bare.generate(1, steps=1, target={"coercivity": 4.0})
    unsteered = bare.generate(1, steps=1, target={"coercivity": 4.0}, surrogate_guidance_scale=0)
    assert unsteered.shape == (1, 4, 64, 64)


def test_refiner_starts_as_identity_and_round_trips(tmp_path):
    from diffusers import AutoencoderKL

    from dream3d_sd_filters.models.autoencoder import AutoencoderSettings, build_autoencoder
    from dream3d_sd_filters.models.padding import set_padding_mode
    from dream3d_sd_filters.models.refiner import MicrostructureAutoencoderKL

    settings = AutoencoderSettings(block_out_channels=(8, 8, 8), norm_num_groups=4)
    plain = build_autoencoder(settings).eval()
    plain.save_pretrained(tmp_path / "plain")
    # A folder written by the plain diffusers class loads with no refiner.
    AutoencoderKL.from_pretrained(tmp_path / "plain").save_pretrained(tmp_path / "diffusers")
    assert MicrostructureAutoencoderKL.from_pretrained(tmp_path / "diffusers").refiner is None

    refined = build_autoencoder(
        AutoencoderSettings(
            block_out_channels=(8, 8, 8), norm_num_groups=4, refiner_channels=8, refiner_blocks=2
        )
    ).eval()
    refined.load_state_dict(plain.state_dict(), strict=False)
    latents = torch.randn(2, 4, 6, 6, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(refined.decode(latents).sample, plain.decode(latents).sample)
        refined.refiner.conv_out.weight.normal_(0, 0.1)
        changed = refined.decode(latents).sample
    assert changed.shape == (2, 4, 24, 24)
    assert not torch.equal(changed, plain.decode(latents).sample)
    refined.save_pretrained(tmp_path / "refined")
    # Padding is not part of the config: the model card holds it (see set_padding_mode).
    loaded = set_padding_mode(
        MicrostructureAutoencoderKL.from_pretrained(tmp_path / "refined").eval(), "circular"
    )
    assert loaded.config.refiner_blocks == 2 and loaded.config.refiner_channels == 8
    with torch.no_grad():
        assert torch.equal(loaded.decode(latents).sample, changed)
