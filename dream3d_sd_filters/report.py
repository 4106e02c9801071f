"""Summary pages and figures: a self-contained HTML page and PNG panels of images.

The one HTML writer of the project, used by ``sd-filters demo`` and ``sd-filters
evaluate``: :func:`write_html_page` turns :class:`Section` objects (text, tables,
images) into one HTML file; :func:`save_image_grid` draws a labelled grid of RGB images
or scalar maps with matplotlib. Both write atomically (see :mod:`dream3d_sd_filters.io.atomic`).
matplotlib is imported inside the functions, with its non-interactive Agg canvas, so
this module is cheap to import and never needs a display.
"""

from __future__ import annotations

import html
import math
import os
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import InputError
from .io.atomic import atomic_output, check_output_path

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 70em; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.8em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.7em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
caption { caption-side: top; text-align: left; font-weight: bold; padding-bottom: 0.3em; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { color: #555; font-size: 0.92em; }
"""


@dataclass
class Table:
    """A table with named columns and a caption.

    Attributes
    ----------
    caption : str
        Shown above the table; empty for none.
    header : list of str
        Column names; all empty for a table without a header row.
    rows : list of list
        One list of cells per row, shown by :func:`format_value`.
    """

    caption: str
    header: list[str]
    rows: list[list[object]]


#: What a :class:`Section` shows as a table: a :class:`Table`; one mapping, a two-column
#: (name, value) table; or a sequence of mappings, a table with one row per mapping and
#: the keys of the first one as columns.
TableLike = Table | Mapping[str, object] | Sequence[Mapping[str, object]]


@dataclass
class Section:
    """One titled part of a page.

    Attributes
    ----------
    title : str
    text : list of str
        Paragraphs, plain text (escaped; no markup).
    tables : list of TableLike
        See :data:`TableLike`.
    images : list of (str or Path, str)
        ``(path, caption)`` pairs; paths are written relative to the page's folder.
    """

    title: str
    text: list[str] = field(default_factory=list)
    tables: list[TableLike] = field(default_factory=list)
    images: list[tuple[str | os.PathLike, str]] = field(default_factory=list)


def format_value(value: object) -> str:
    """A table cell as text: floats to 4 significant digits, None and NaN as "n/a"."""
    if value is None:
        return "n/a"
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value):
            return "n/a"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.4g}"
    return str(value)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def table_rows(table: TableLike) -> tuple[list[str], list[list[object]]]:
    """Column names and rows of a :data:`TableLike`.

    Raises
    ------
    InputError
        If a table of mappings is empty or its rows are not mappings.
    """
    if isinstance(table, Table):
        return list(table.header), [list(row) for row in table.rows]
    if isinstance(table, Mapping):
        if not table:
            raise InputError("a table needs at least one entry")
        return ["", ""], [[key, value] for key, value in table.items()]
    rows = list(table)
    if not rows or not all(isinstance(row, Mapping) for row in rows):
        raise InputError("a table must be a mapping or a non-empty sequence of mappings")
    columns = list(rows[0])
    return columns, [[row.get(column, "") for column in columns] for row in rows]


def _html_table(table: TableLike) -> str:
    columns, rows = table_rows(table)
    lines = ["<table>"]
    if isinstance(table, Table) and table.caption:
        lines.append(f"<caption>{html.escape(table.caption)}</caption>")
    if any(columns):
        lines.append("<tr>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in columns) + "</tr>")
    for row in rows:
        cells = []
        for value in row:
            css = ' class="num"' if _is_number(value) else ""
            cells.append(f"<td{css}>{html.escape(format_value(value))}</td>")
        lines.append("<tr>" + "".join(cells) + "</tr>")
    lines.append("</table>")
    return "\n".join(lines)


def render_html(title: str, sections: Sequence[Section], base: str | os.PathLike = ".") -> str:
    """The HTML text of a page; image paths are made relative to ``base``."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for section in sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        parts.extend(f"<p>{html.escape(text)}</p>" for text in section.text)
        parts.extend(_html_table(table) for table in section.tables)
        for path, caption in section.images:
            link = Path(os.path.relpath(Path(path), Path(base))).as_posix()
            parts.append(
                f'<figure><a href="{html.escape(link)}"><img src="{html.escape(link)}" '
                f'alt="{html.escape(caption)}"></a>'
                f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_html_page(
    path: str | os.PathLike, title: str, sections: Sequence[Section], overwrite: bool = False
) -> Path:
    """Write a self-contained HTML page (inline style, images linked by relative path).

    Parameters
    ----------
    path : path-like
        The ``.html`` file; its folder must exist.
    title : str
    sections : sequence of Section
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    Path
    """
    target = check_output_path(path, overwrite=overwrite)
    text = render_html(title, sections, base=target.parent)
    with atomic_output(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return target


def text_table(table: TableLike) -> str:
    """A :data:`TableLike` as aligned plain text, for a terminal."""
    columns, rows = table_rows(table)
    cells = [[format_value(v) for v in row] for row in rows]
    header = [str(c) for c in columns] if any(columns) else None
    every = ([header] if header else []) + cells
    widths = [max(len(row[i]) for row in every) for i in range(len(columns))]
    lines = []
    if header:
        lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
        lines.append("  ".join("-" * w for w in widths))
    for row in cells:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    return "\n".join(lines)


def save_image_grid(
    path: str | os.PathLike,
    images: Sequence[Sequence[np.ndarray | None]],
    row_labels: Sequence[str] = (),
    column_labels: Sequence[str] = (),
    title: str | None = None,
    cmap: str = "viridis",
    value_label: str | None = None,
    panel_inches: float = 1.6,
    overwrite: bool = False,
) -> Path:
    """Draw a grid of images into a PNG file.

    Parameters
    ----------
    path : path-like
        The ``.png`` file; its folder must exist.
    images : rows of ndarray or None
        Each panel is an RGB image, uint8 ``(H, W, 3)``, drawn as is, or a scalar map
        ``(H, W)`` (any real dtype), drawn with ``cmap`` and a colour bar. Row 0 is at
        the top and image row 0 at the top of its panel. None leaves a panel empty.
        Rows may differ in length; the grid has as many columns as the longest row.
    row_labels, column_labels : sequence of str
        Written left of each row and above each column (may be shorter or empty).
    title : str, optional
    cmap : str
        matplotlib colour map of scalar maps.
    value_label : str, optional
        Colour-bar label of scalar maps (quantity and unit).
    panel_inches : float
        Size of one panel in inches (figures are drawn at 100 dpi).
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    Path

    Raises
    ------
    InputError
        For an empty grid or a panel that is neither (H, W, 3) uint8 nor (H, W).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    target = check_output_path(path, overwrite=overwrite)
    n_rows = len(images)
    n_columns = max((len(row) for row in images), default=0)
    if n_rows == 0 or n_columns == 0:
        raise InputError("an image grid needs at least one image")
    for row in images:
        for image in row:
            if image is None:
                continue
            shape, dtype = np.shape(image), np.asarray(image).dtype
            rgb = len(shape) == 3 and shape[2] == 3 and dtype == np.uint8
            if not rgb and len(shape) != 2:
                raise InputError(
                    f"a panel must be an (H, W, 3) uint8 RGB image or an (H, W) map, got "
                    f"shape {shape} of {dtype}"
                )
    has_label_column = any(row_labels)
    figure = Figure(
        figsize=(
            panel_inches * n_columns + (0.9 if has_label_column else 0.2),
            panel_inches * n_rows + (0.6 if title else 0.2) + (0.3 if column_labels else 0),
        ),
        dpi=100,
        layout="constrained",
    )
    FigureCanvasAgg(figure)
    if title:
        # Wrap to the figure width (about 14 characters per inch at this size).
        figure.suptitle(textwrap.fill(title, max(20, int(figure.get_figwidth() * 14))), fontsize=10)
    axes = figure.subplots(n_rows, n_columns, squeeze=False)
    for r in range(n_rows):
        for c in range(n_columns):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            image = images[r][c] if c < len(images[r]) else None
            if image is None:
                ax.set_axis_off()
            elif np.ndim(image) == 3:
                ax.imshow(image, interpolation="nearest")
            else:
                shown = ax.imshow(np.asarray(image, dtype=np.float64), cmap=cmap)
                bar = figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.02)
                if value_label:
                    bar.set_label(value_label, fontsize=8)
                bar.ax.tick_params(labelsize=7)
            if r == 0 and c < len(column_labels):
                ax.set_title(column_labels[c], fontsize=9)
            if c == 0 and r < len(row_labels):
                ax.set_ylabel(row_labels[r], fontsize=9)
    with atomic_output(target) as tmp:
        figure.savefig(tmp, format="png")
    return target
