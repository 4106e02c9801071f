"""Training configs: presets load, overrides apply, mistakes are named."""

from __future__ import annotations

import pytest

from dream3d_sd_filters.errors import InputError
from dream3d_sd_filters.training.config import load_config


@pytest.mark.parametrize("kind", ["vae", "ldm"])
@pytest.mark.parametrize("preset", ["tiny", "paper"])
def test_presets_load(kind, preset):
    config = load_config(preset, kind)
    assert config.kind == kind
    assert config.optim.max_steps > 0


def test_paper_preset_is_paper_scale():
    vae = load_config("paper", "vae")
    assert vae.data.image_size >= 256 and vae.model.downsampling == 8
    ldm = load_config("paper", "ldm")
    assert ldm.model.sample_size == vae.data.image_size // vae.model.downsampling


def test_overrides_are_parsed_as_toml_values():
    config = load_config(
        "tiny", "vae", ("optim.max_steps=7", "data.dataset=some/dir", "run.tensorboard=true")
    )
    assert config.optim.max_steps == 7
    assert config.data.dataset == "some/dir"
    assert config.run.tensorboard is True


def test_unknown_keys_and_sections_are_refused(tmp_path):
    with pytest.raises(InputError, match=r"unknown key\(s\) max_step in \[optim\]"):
        load_config("tiny", "vae", ("optim.max_step=7",))
    bad = tmp_path / "bad.toml"
    bad.write_text('kind = "vae"\n[optimizer]\nlr = 1\n')
    with pytest.raises(InputError, match=r"unknown section\(s\) optimizer"):
        load_config(bad, "vae")


def test_bad_values_and_files_are_refused(tmp_path):
    with pytest.raises(InputError, match="must be a number"):
        load_config("tiny", "vae", ("optim.lr=fast",))
    with pytest.raises(InputError, match="does not exist"):
        load_config(tmp_path / "missing.toml", "vae")
    with pytest.raises(InputError, match="no config file or preset named 'huge'"):
        load_config("huge", "vae")
    broken = tmp_path / "broken.toml"
    broken.write_text("[data\n")
    with pytest.raises(InputError, match="invalid TOML"):
        load_config(broken, "vae")
    with pytest.raises(InputError, match="is a 'ldm' config"):
        other = tmp_path / "ldm.toml"
        other.write_text('kind = "ldm"\n')
        load_config(other, "vae")
    with pytest.raises(InputError, match="needs 3 block_out_channels"):
        load_config("tiny", "vae", ("model.block_out_channels=[32, 64]",))
