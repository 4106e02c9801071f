"""SD Slice Volume: cut a volume into 2D slices; docs/filters/SDSliceVolumeFilter.md."""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..volume import Volume
from .base import (
    ARRAY_COMPONENTS_ERROR,
    IMAGE_FORMAT_CHOICES,
    OUTPUT_EXISTS_ERROR,
    SLICE_OUTPUT_CHOICES,
    Args,
    ArrayInfo,
    DataAccess,
    FilterError,
    Link,
    MatrixInfo,
    NewArray,
    NewMatrix,
    Output,
    Param,
    RunResult,
    SDFilter,
    axis_dims,
    axis_param,
    cell_matrix,
    geometry_param,
    image_geometry,
    join,
    new_geometry,
    new_geometry_params,
    selected_cell_array,
    separator,
    slice_frame,
)


class SliceVolumeFilter(SDFilter):
    uuid = "b33ef90d-2bcd-4d56-9a4b-6cc488c09556"
    name = "SDSliceVolumeFilter"
    human_name = "SD Slice Volume"
    description = (
        "Cuts an image geometry into the 2D slices the models work on (normal to x, y or "
        "z; a range and stride): either into a new image geometry whose z-slices are those "
        "slices (every cell array resliced, other attribute matrices copied), or into PNG "
        "or TIFF image files of the phases (gray) or IPF colours."
    )
    tags = ("python", "SD", "Slice", "Images", "Export")
    params = (
        separator("Input Data"),
        geometry_param(),
        axis_param(),
        Param(
            "start_index", "int", "Start Index", "First slice (negative counts from the end).", 0
        ),
        Param("end_index", "int", "End Index", "Last slice, included (-1 = the last slice).", -1),
        Param("stride", "int", "Stride", "Keep every n-th slice.", 1),
        Param(
            "output_type",
            "choice",
            "Output",
            "A new image geometry, or image files.",
            0,
            choices=SLICE_OUTPUT_CHOICES,
        ),
        *new_geometry_params("Slices")[1:],
        Param(
            "image_array_path",
            "array",
            "Image Array",
            "What the image files show: Phases (int32, 1 component, drawn as gray levels) "
            "or IPFColors (uint8, 3 components).",
            "DataContainer/Cell Data/Phases",
            dtypes=("int32", "uint8"),
            components=(1, 3),
        ),
        Param(
            "output_directory",
            "output_dir",
            "Output Directory",
            "Folder for the image files (created if missing; must be empty unless "
            "Overwrite Files).",
            "",
        ),
        Param(
            "image_format",
            "choice",
            "Image Format",
            "File format.",
            0,
            choices=IMAGE_FORMAT_CHOICES,
        ),
        Param(
            "overwrite_files",
            "bool",
            "Overwrite Files",
            "Allow writing into a non-empty output directory.",
            False,
        ),
    )
    links = (
        Link("output_type", "output_image_geometry_path", 0),
        Link("output_type", "cell_data_name", 0),
        Link("output_type", "image_array_path", 1),
        Link("output_type", "output_directory", 1),
        Link("output_type", "image_format", 1),
        Link("output_type", "overwrite_files", 1),
    )

    def _indices(self, args: Args, n: int) -> np.ndarray:
        start, end = args.int("start_index"), args.int("end_index")
        stride = args.int("stride", 1)
        for key, value in (("start_index", start), ("end_index", end)):
            if not -n <= value < n:
                raise args.error(key, f"is {value} but there are {n} slices")
        indices = np.arange(start % n, end % n + 1, stride)
        if not len(indices):
            raise args.error("end_index", f"({end}) lies before Start Index ({start}): no slices")
        return indices

    def _setup(self, args, data):
        geometry_path = args.path("input_image_geometry_path")
        geometry = image_geometry(data, geometry_path)
        axis = args.choice("slicing_axis")
        n, height, width = axis_dims(geometry.dims, axis)
        indices = self._indices(args, n)
        if args.choice("output_type") == SLICE_OUTPUT_CHOICES[1]:
            return [], self._files_setup(args, data, geometry_path, geometry, indices)
        source_cell = cell_matrix(data, geometry_path, geometry)
        created, cell = new_geometry(
            args,
            (width, height, len(indices)),
            slice_frame(geometry.spacing, axis),
            slice_frame(geometry.origin, axis),
        )
        outputs: list[Output] = [created]
        copies: list[tuple[str, str, bool]] = []  # (source, target, resliced)
        skipped: list[str] = []

        def copy_arrays(matrix: str, target_matrix: str, sliced_shape: tuple | None) -> None:
            """Declare a copy of every array of ``matrix`` (resliced to ``sliced_shape``)."""
            for child in data.children(matrix):
                info = data.describe(child)
                if not isinstance(info, ArrayInfo):
                    skipped.append(child)
                    continue
                target = join(target_matrix, child.rsplit("/", 1)[-1])
                shape = info.tuple_shape if sliced_shape is None else sliced_shape
                outputs.append(NewArray(target, info.dtype, shape, info.component_shape))
                copies.append((child, target, sliced_shape is not None))

        copy_arrays(source_cell, cell, (len(indices), height, width))
        for matrix in data.children(geometry_path):
            info = data.describe(matrix)
            if matrix == source_cell or not isinstance(info, MatrixInfo):
                continue
            target_matrix = join(created.path, matrix.rsplit("/", 1)[-1])
            if target_matrix == cell:
                skipped.append(matrix)
                continue
            outputs.append(NewMatrix(target_matrix, info.tuple_shape))
            copy_arrays(matrix, target_matrix, None)
        return outputs, ("geometry", axis, indices, copies, skipped)

    def _files_setup(self, args: Args, data: DataAccess, geometry_path, geometry, indices):
        from ..io.images import check_stack_target

        image, info = selected_cell_array(args, data, "image_array_path", geometry_path, geometry)
        if (info.dtype.name, info.components) not in (("int32", 1), ("uint8", 3)):
            raise FilterError(
                ARRAY_COMPONENTS_ERROR,
                f"Image Array {image!r} must be int32 phases with 1 component or uint8 "
                f"colours with 3, got {info.dtype.name} with {info.components}",
            )
        directory = args.file("output_directory")
        args.choice("image_format")
        try:
            check_stack_target(directory, args.bool("overwrite_files"))
        except InputError as error:
            raise FilterError(OUTPUT_EXISTS_ERROR, str(error)) from None
        return ("files", geometry_path, geometry, indices, image, info)

    def _compute(self, args, data, state, progress):
        from ..tasks import Cancelled, to_slices

        if state[0] == "files":
            return self._write_files(args, data, state, progress)
        _, axis, indices, copies, skipped = state
        arrays = {}
        for done, (source, target, resliced) in enumerate(copies, start=1):
            values = data.read(source)
            if resliced:
                stack = to_slices(values, axis)[indices]  # (N, C, H, W)
                values = np.ascontiguousarray(np.moveaxis(stack, 1, -1))
            arrays[target] = values
            if progress is not None and progress(done, len(copies), "slicing"):
                raise Cancelled("cancelled")
        messages = [f"kept {len(indices)} slice(s) along {axis}"]
        if skipped:
            messages.append(f"not copied (not data arrays): {', '.join(skipped)}")
        return RunResult(arrays, messages)

    def _write_files(self, args, data, state, progress):
        from ..io.images import write_png_stack

        _, geometry_path, geometry, indices, image, info = state
        axis = args.choice("slicing_axis")
        array_axis = {"z": 0, "y": 1, "x": 2}[axis]
        values = np.take(data.read(image), indices, axis=array_axis)
        kind = "ipf" if info.components == 3 else "phase"
        dims = list(geometry.dims)
        dims[2 - array_axis] = len(indices)
        volume = Volume(
            dims=tuple(dims),
            cell_data={"IPFColors" if kind == "ipf" else "Phases": values},
            name=geometry_path.rsplit("/", 1)[-1],
        )
        files = write_png_stack(
            volume,
            args.file("output_directory"),
            axis=axis,
            kind=kind,
            image_format=args.choice("image_format"),
            overwrite=args.bool("overwrite_files"),
        )
        if progress is not None:
            progress(1, 1, "writing images")
        return RunResult({}, [f"wrote {len(files)} image(s) to {args.file('output_directory')}"])
