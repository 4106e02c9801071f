"""Property labels of dataset images, stored beside the shards.

``<dataset>/labels/<property>.csv`` has one row per labelled image::

    volume_id,row,value,unit,source

``(volume_id, row)`` names an image (its row in the volume's shard), ``source`` says how
the value was obtained (``micromagnetics`` or ``surrogate``). Rows are appended as they
are computed, so labelling resumes where it stopped.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from ..errors import InputError

LABEL_COLUMNS = ("volume_id", "row", "value", "unit", "source")


def labels_path(dataset_dir: str | os.PathLike, prop: str) -> Path:
    """Where the labels of ``prop`` live."""
    return Path(dataset_dir) / "labels" / f"{prop}.csv"


def read_labels(
    dataset_dir: str | os.PathLike, prop: str, sources: tuple[str, ...] | None = None
) -> dict:
    """Labels of one property, ``{(volume_id, row): (value, unit, source)}``.

    Later rows win, so a micromagnetic value appended after a surrogate one replaces it.

    Raises
    ------
    InputError
        If the label file does not exist.
    """
    path = labels_path(dataset_dir, prop)
    if not path.is_file():
        raise InputError(
            f"no {prop} labels in {str(dataset_dir)!r}; make them with `sd-train label --property {prop}`"
        )
    out = {}
    with open(path, newline="") as handle:
        for record in csv.DictReader(handle):
            if sources is None or record["source"] in sources:
                key = (int(record["volume_id"]), int(record["row"]))
                out[key] = (float(record["value"]), record["unit"], record["source"])
    return out


def append_labels(dataset_dir: str | os.PathLike, prop: str, rows: list[tuple]) -> None:
    """Append ``(volume_id, row, value, unit, source)`` rows (flushed, so nothing is lost on a crash)."""
    path = labels_path(dataset_dir, prop)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    with open(path, "a", newline="") as handle:
        writer = csv.writer(handle)
        if new:
            writer.writerow(LABEL_COLUMNS)
        writer.writerows(rows)
        handle.flush()
        os.fsync(handle.fileno())


def label_matrix(images, labels_by_property: dict[str, dict]) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the images labelled for every property, and their values (N, k)."""
    keys = list(zip(images.volume_ids.tolist(), images.rows.tolist()))
    keep = [
        i
        for i, key in enumerate(keys)
        if all(key in labels for labels in labels_by_property.values())
    ]
    values = np.array(
        [[labels[keys[i]][0] for labels in labels_by_property.values()] for i in keep],
        dtype=np.float32,
    ).reshape(len(keep), len(labels_by_property))
    return np.asarray(keep, dtype=np.int64), values
