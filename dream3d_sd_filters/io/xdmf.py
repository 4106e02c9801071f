"""XDMF sidecar that lets ParaView open a ``.dream3d`` file (reference section 3.3).

The XDMF file points into the HDF5 file by its bare file name
(``out.dream3d:/DataStructure/<geometry>/Cell Data/<array>``), so both files must stay
in one directory. Dimensions are written as the true dataset shape ``"Z Y X C"``.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

import numpy as np

from ..volume import Volume

#: (NumberType, Precision) per dtype; bool is stored as uint8.
XDMF_NUMBER_TYPES: dict[np.dtype, tuple[str, int]] = {
    np.dtype("int8"): ("Char", 1),
    np.dtype("uint8"): ("UChar", 1),
    np.dtype("bool"): ("UChar", 1),
    np.dtype("int16"): ("Int", 2),
    np.dtype("uint16"): ("UInt", 2),
    np.dtype("int32"): ("Int", 4),
    np.dtype("uint32"): ("UInt", 4),
    np.dtype("int64"): ("Int", 8),
    np.dtype("uint64"): ("UInt", 8),
    np.dtype("float32"): ("Float", 4),
    np.dtype("float64"): ("Float", 8),
}
_ATTRIBUTE_TYPES = {1: "Scalar", 3: "Vector", 9: "Tensor"}


def _hdf_item(array: np.ndarray, dims: str, h5_path: str, indent: str) -> str:
    number_type, precision = XDMF_NUMBER_TYPES[array.dtype]
    return (
        f'{indent}<DataItem Format="HDF" Dimensions="{dims}" NumberType="{number_type}" '
        f'Precision="{precision}" >\n{indent}  {escape(h5_path)}\n{indent}</DataItem>\n'
    )


def _attribute(name: str, array: np.ndarray, h5_path: str) -> str:
    z, y, x, c = array.shape
    full = f"{z} {y} {x} {c}"
    kind = _ATTRIBUTE_TYPES.get(c)
    if kind is not None:
        return (
            f'    <Attribute Name={quoteattr(name)} AttributeType="{kind}" Center="Cell">\n'
            + _hdf_item(array, full, h5_path, "      ")
            + "    </Attribute>\n"
        )
    # ParaView has no attribute type for other component counts: one scalar per component.
    parts = []
    for k in range(c):
        parts.append(
            f"    <Attribute Name={quoteattr(f'{name} (Component {k})')} "
            'AttributeType="Scalar" Center="Cell">\n'
            f'      <DataItem ItemType="HyperSlab" Dimensions="{z} {y} {x} 1" Type="HyperSlab">\n'
            f'        <DataItem Dimensions="3 4" Format="XML">0 0 0 {k} 1 1 1 1 {z} {y} {x} 1'
            "</DataItem>\n"
            + _hdf_item(array, full, h5_path, "        ")
            + "      </DataItem>\n    </Attribute>\n"
        )
    return "".join(parts)


def xdmf_text(volume: Volume, h5_file_name: str, cell_data_name: str = "Cell Data") -> str:
    """The XDMF document describing the cell arrays of ``volume`` in ``h5_file_name``.

    Parameters
    ----------
    volume : Volume
        The volume as written by :func:`dream3d_sd_filters.io.dream3d.write_dream3d`.
    h5_file_name : str
        Bare name of the ``.dream3d`` file (no directory).
    cell_data_name : str
        Name of the cell attribute matrix inside the geometry.

    Returns
    -------
    str
        XML text with a ``3DCoRectMesh`` topology of ``(Z+1) (Y+1) (X+1)`` points.
    """
    x, y, z = volume.dims
    ox, oy, oz = volume.origin
    dx, dy, dz = volume.spacing
    geom = volume.name
    lines = [
        '<?xml version="1.0"?>\n',
        '<!DOCTYPE Xdmf SYSTEM "Xdmf.dtd"[]>\n',
        '<Xdmf xmlns:xi="http://www.w3.org/2003/XInclude" Version="2.2">\n',
        " <Domain>\n",
        f"  <!-- *************** START OF {escape(geom)} *************** -->\n",
        f'  <Grid Name={quoteattr(geom)} GridType="Uniform">\n',
        f'    <Topology TopologyType="3DCoRectMesh" Dimensions="{z + 1} {y + 1} {x + 1} ">'
        "</Topology>\n",
        '    <Geometry Type="ORIGIN_DXDYDZ">\n',
        "      <!-- Origin  Z, Y, X -->\n",
        f'      <DataItem Format="XML" Dimensions="3">{_f32(oz)} {_f32(oy)} {_f32(ox)}</DataItem>\n',
        "      <!-- DxDyDz (Spacing/Spacing) Z, Y, X -->\n",
        f'      <DataItem Format="XML" Dimensions="3">{_f32(dz)} {_f32(dy)} {_f32(dx)}</DataItem>\n',
        "    </Geometry>\n",
    ]
    for name, array in volume.cell_data.items():
        h5_path = f"{h5_file_name}:/DataStructure/{geom}/{cell_data_name}/{name}"
        lines.append(_attribute(name, array, h5_path))
    lines += [
        "  </Grid>\n",
        f"  <!-- *************** END OF {escape(geom)} *************** -->\n",
        " </Domain>\n",
        "</Xdmf>\n",
    ]
    return "".join(lines)


def _f32(value: float) -> str:
    # The .dream3d file holds float32 spacing/origin; print the value it actually holds.
    return repr(float(np.float32(value)))
