"""``sd-filters demo`` (the main job) and the summary-page writer it uses."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from dream3d_sd_filters.cli.demo import MARKER, central_cube
from dream3d_sd_filters.cli.main import main
from dream3d_sd_filters.errors import InputError
from dream3d_sd_filters.io import read_volume
from dream3d_sd_filters.pipelines import microstructure_sd
from dream3d_sd_filters.report import Section, save_image_grid, text_table, write_html_page


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, ["demo", *(str(a) for a in args)])


def assert_user_error(result: Result, expected: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.output


def linked_files(page: Path) -> set[str]:
    return set(re.findall(r'src="([^"]+)"', page.read_text()))


@pytest.mark.slow
def test_quick_demo_runs_every_task(tmp_path: Path, untrained_model_dir: Path) -> None:
    out = tmp_path / "demo_output"
    result = run("--output", out, "--model", untrained_model_dir, "--quick", "--device", "cpu")
    assert result.exit_code == 0, result.output
    for step in ("synthetic volume", "reconstruct", "generate", "interpolate", "inpaint"):
        assert re.search(rf"^{step}\s", result.stdout, re.MULTILINE), result.stdout
    assert "PSNR" in result.stdout and "continuity ratio" in result.stdout
    for name in ("demo", "reconstructed", "generated", "interpolated", "inpainted"):
        assert (out / f"{name}.dream3d").is_file() and (out / f"{name}.xdmf").is_file()
    figures = {
        "volume.png",
        "reconstruction.png",
        "samples.png",
        "interpolation.png",
        "inpainting.png",
    }
    assert linked_files(out / "index.html") == figures
    assert all((out / f).stat().st_size > 1000 for f in figures)
    page = (out / "index.html").read_text()
    assert "PSNR" in page and "continuity ratio" in page and "time (s)" in page
    combined = read_volume(out / "demo.dream3d")
    assert combined.dims == (32, 32, 16)
    for name in ("Phases", "EulerAngles", "ReconstructionError", "InpaintMask", "InpaintedPhases"):
        assert name in combined.cell_data
    mask = combined.cell_data["InpaintMask"][..., 0].astype(bool)
    assert mask.sum() == 4**3 and mask[6:10, 14:18, 14:18].all()
    known = ~mask
    np.testing.assert_array_equal(
        combined.cell_data["InpaintedPhases"][known], combined.cell_data["Phases"][known]
    )
    assert read_volume(out / "generated.dream3d").dims == (32, 32, 2)
    assert read_volume(out / "interpolated.dream3d").dims == (32, 32, 6)


def test_without_bundled_weights_the_demo_says_so_and_writes_the_volume(
    tmp_path: Path, monkeypatch
) -> None:
    # An install without weights: the bundled folder is empty.
    monkeypatch.setattr(microstructure_sd, "BUNDLED_DIR", tmp_path / "weights")
    out = tmp_path / "demo_output"
    result = run("--output", out, "--quick")
    assert result.exit_code == 0, result.output
    notes = [line for line in result.stdout.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "no bundled model" in notes[0]
    assert "writes the synthetic volume only" in notes[0]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [MARKER, "demo.dream3d", "demo.xdmf", "index.html", "volume.png"]
    )
    assert "Model steps skipped: no bundled model" in (out / "index.html").read_text()
    volume = read_volume(out / "demo.dream3d")
    assert volume.dims == (32, 32, 16) and set(np.unique(volume.cell_data["Phases"])) == {1, 2}
    # A second run replaces its own files (stale ones from an earlier run go too).
    (out / "reconstructed.dream3d").write_bytes(b"stale")
    assert run("--output", out, "--quick").exit_code == 0
    assert not (out / "reconstructed.dream3d").exists()


def test_demo_refuses_other_folders_and_bad_models(tmp_path: Path) -> None:
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("keep")
    assert_user_error(run("--output", foreign, "--quick"), "holds other files")
    assert sorted(p.name for p in foreign.iterdir()) == ["thesis.tex"]
    out = tmp_path / "new"
    assert_user_error(
        run("--output", out, "--model", tmp_path / "nowhere", "--quick"),
        "no checkpoint folder or bundled model named",
    )
    assert not out.exists()
    assert_user_error(run("--output", tmp_path / "a" / "b", "--quick"), "does not exist")


def test_central_cube_is_centred_and_clipped() -> None:
    mask = central_cube((4, 10, 9), 6)
    assert mask.sum() == 4 * 6 * 6
    assert mask[:, 2:8, 1:7].all()


def test_html_page_tables_images_and_escaping(tmp_path: Path) -> None:
    figure = save_image_grid(
        tmp_path / "figs.png",
        [[np.zeros((4, 5, 3), np.uint8), np.arange(20.0).reshape(4, 5)], [None]],
        row_labels=["a", "b"],
        column_labels=["rgb", "map"],
        title="grid",
        value_label="value (m)",
    )
    page = write_html_page(
        tmp_path / "index.html",
        "Report <1>",
        [
            Section(
                "Numbers",
                text=["a & b"],
                tables=[{"psnr": 31.234567, "ssim": float("nan")}, [{"step": "x", "s": 1.5}]],
                images=[(figure, "the <grid>")],
            )
        ],
    )
    text = page.read_text()
    assert "<title>Report &lt;1&gt;</title>" in text and "<p>a &amp; b</p>" in text
    assert '<td class="num">31.23</td>' in text and '<td class="num">n/a</td>' in text
    assert "<th>step</th><th>s</th>" in text
    assert 'src="figs.png"' in text and "the &lt;grid&gt;" in text
    with pytest.raises(InputError, match="already exists"):
        write_html_page(page, "again", [])
    with pytest.raises(InputError, match=r"an \(H, W, 3\) uint8 RGB image or an \(H, W\) map"):
        save_image_grid(tmp_path / "bad.png", [[np.zeros((2, 2, 3), np.float32)]])
    assert not (tmp_path / "bad.png").exists()


def test_text_table_aligns_columns() -> None:
    table = text_table([{"step": "a", "time (s)": 1.25}, {"step": "longer", "time (s)": 10}])
    assert table.splitlines() == [
        "step    time (s)",
        "------  --------",
        "a       1.25",
        "longer  10",
    ]
    assert text_table({"psnr": 3.0}).splitlines() == ["psnr  3"]
