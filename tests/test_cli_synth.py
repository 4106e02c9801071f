"""``sd-filters synth`` as a user runs it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from click.testing import CliRunner, Result

from dream3d_sd_filters.cli.main import main
from dream3d_sd_filters.io import read_volume
from dream3d_sd_filters.volume import LAUE_IDS


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, ["synth", *(str(a) for a in args)])


def assert_user_error(result: Result, expected: str) -> None:
    """Exit status 2, one line "Error: ..." on stderr, no traceback."""
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.output


def test_help_lists_the_options() -> None:
    result = run("--help")
    assert result.exit_code == 0
    for option in ("--dims", "--stats", "--grain-type", "--phase2-fraction", "--aspect"):
        assert option in result.output
    assert "synth" in CliRunner().invoke(main, ["--help"]).output


def test_synth_writes_a_two_phase_dream3d_file(tmp_path: Path) -> None:
    out = tmp_path / "grains.dream3d"
    result = run(
        out,
        "--dims", "32", "24", "16",
        "--grain-type", "rolled",
        "--aspect", "0.6", "0.3",
        "--mu", "1.0", "--sigma", "0.2",
        "--symmetry", "cubic", "hexagonal",
        "--phase2-fraction", "0.3",
        "--texture", "rolled",
        "--spacing", "0.5",
        "--seed", "4",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Wrote {out}: 32 x 24 x 16 voxels, ")
    assert (
        "rolled grains, phase 2 fraction 0.3" in result.stdout and "(target 0.300)" in result.stdout
    )
    assert out.with_suffix(".xdmf").is_file()
    volume = read_volume(out)
    assert volume.dims == (32, 24, 16) and volume.spacing == (0.5, 0.5, 0.5)
    for name in ("FeatureIds", "Phases", "EulerAngles", "IPFColors"):
        assert name in volume.cell_data
    structures = volume.ensemble_data["CrystalStructures"][:, 0].tolist()
    assert structures == [999, LAUE_IDS["Cubic_High"], LAUE_IDS["Hexagonal_High"]]
    assert abs(float(np.mean(volume.cell_data["Phases"] == 2)) - 0.3) < 0.05


def test_synth_from_a_stats_file(tmp_path: Path, fixtures_dir: Path) -> None:
    stats = fixtures_dir / "CubicSingleRolled.dream3d"
    out = tmp_path / "rolled.npz"
    result = run(out, "--stats", stats, "--phase2-fraction", "0.4", "--spacing", "4",
                 "--dims", "32", "32", "32")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "rolled grains, phase 2 fraction 0.4" in result.stdout
    volume = read_volume(out)
    assert volume.ensemble_data["CrystalStructures"][:, 0].tolist() == [999, 1, 1]


def test_single_phase_stats_need_a_fraction(tmp_path: Path, fixtures_dir: Path) -> None:
    out = tmp_path / "x.dream3d"
    result = run(out, "--stats", fixtures_dir / "CubicSingleEquiaxed.dream3d")
    assert_user_error(result, "describes a single phase; give phase2_fraction (--phase2-fraction)")
    assert not out.exists() and not out.with_suffix(".xdmf").exists()


def test_bad_inputs_fail_before_writing(tmp_path: Path) -> None:
    out = tmp_path / "x.dream3d"
    cases = [
        (["--dims", "4", "64", "64"], "dims must be at least 8 voxels"),
        (["--mu", "5"], "grains too large for the box"),
        (["--mu", "0.2"], "grains too small for the voxel size"),
        (["--phase2-fraction", "1.2"], "phase2_fraction must be in (0, 1)"),
        (["--sigma", "0"], "sigma must be > 0"),
        (["--symmetry", "cubic", "orthorhombic"], "unknown crystal symmetry 'orthorhombic'"),
        (["--aspect", "0.3", "0.6"], "must not exceed b_over_a"),
        (["--stats", tmp_path / "missing.dream3d"], "does not exist"),
    ]
    for args, message in cases:
        assert_user_error(run(out, *args), message)
        assert not out.exists()
    assert_user_error(run(tmp_path / "x.png"), "unknown extension .png")
    assert_user_error(run(tmp_path / "nowhere" / "x.npz"), "does not exist")
    bad_type = run(out, "--grain-type", "columnar")
    assert bad_type.exit_code == 2 and "columnar" in bad_type.output


def test_existing_output_needs_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "x.npz"
    out.write_bytes(b"keep me")
    result = run(out, "--dims", "16", "16", "16", "--mu", "1.3")
    assert_user_error(result, "exists")
    assert out.read_bytes() == b"keep me"
    result = run(out, "--dims", "16", "16", "16", "--mu", "1.3", "--overwrite")
    assert result.exit_code == 0, result.output
    assert read_volume(out).dims == (16, 16, 16)
