"""Resizing: F.interpolate and torch's deprecated wrappers F.upsample, F.upsample_nearest and
F.upsample_bilinear, with torch's argument handling, checks, warnings and messages. The resizing is
one C++ call, _C._upsample (cpp/ember/ops/resize.cpp), forward and backward; mode 'area' is
adaptive_avg_pool, as in torch. functional.py re-exports the public names and this module imports
functional lazily (functional imports this module at its end)."""
import numbers
import warnings

import numpy as np

from .. import _C

Tensor = _C.Tensor

# ResizeMode (cpp/ember/ops/nn.h)
_NEAREST, _NEAREST_EXACT, _LINEAR, _CUBIC, _AA_LINEAR, _AA_CUBIC, _AA_LANCZOS = range(7)

# torch's kernel per (mode, antialias): its name in its argument-parser messages, the C++ mode
_KERNELS = {
    ("nearest", 3): ("upsample_nearest1d", _NEAREST), ("nearest", 4): ("upsample_nearest2d", _NEAREST),
    ("nearest", 5): ("upsample_nearest3d", _NEAREST),
    ("nearest-exact", 3): ("_upsample_nearest_exact1d", _NEAREST_EXACT),
    ("nearest-exact", 4): ("_upsample_nearest_exact2d", _NEAREST_EXACT),
    ("nearest-exact", 5): ("_upsample_nearest_exact3d", _NEAREST_EXACT),
    ("linear", 3): ("upsample_linear1d", _LINEAR), ("bilinear", 4): ("upsample_bilinear2d", _LINEAR),
    ("trilinear", 5): ("upsample_trilinear3d", _LINEAR), ("bicubic", 4): ("upsample_bicubic2d", _CUBIC),
    ("bilinear-aa", 4): ("_upsample_bilinear2d_aa", _AA_LINEAR),
    ("bicubic-aa", 4): ("_upsample_bicubic2d_aa", _AA_CUBIC),
    ("lanczos-aa", 4): ("_upsample_lanczos2d_aa", _AA_LANCZOS),
}
_MODE_DIMS = {"linear": 3, "bilinear": 4, "trilinear": 5}


def _F():
    from . import functional
    return functional


def _is_integer(x):
    """torch's _is_integer: an int, a numpy integer or a tensor of integers."""
    if isinstance(x, (int, np.integer)):
        return True
    return isinstance(x, Tensor) and not x.is_floating_point()


def _is_int_arg(v):
    """An element torch's argument parser takes for a `tuple of ints`."""
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, np.integer)):
        return True
    return isinstance(v, Tensor) and v.numel() == 1 and not v.is_floating_point() and v.dtype.name != "bool"


def _is_float_arg(v):
    return isinstance(v, (numbers.Real, np.integer, np.floating)) and not isinstance(v, Tensor)


def _describe(v):
    """An argument's type as torch's parser writes it: "list of [float, float]", "tuple of (bool, int)"."""
    if isinstance(v, (list, tuple)):
        inner = ", ".join(type(e).__name__ for e in v)
        return f"{type(v).__name__} of [{inner}]" if isinstance(v, list) else f"{type(v).__name__} of ({inner})"
    return type(v).__name__


def _invalid_arguments(name, nd, align, output_size, scale_factors):
    """torch's TypeError when its C++ upsample binding rejects output_size / scale_factors."""
    has_align = align is not None
    args = [output_size] + ([align] if has_align else []) + [scale_factors]
    got = ", ".join(["Tensor"] + [type(a).__name__ for a in args])
    marked = (["Tensor", f"!{_describe(output_size)}!"] + (["bool"] if has_align else [])
              + [f"!{_describe(scale_factors)}!"])
    ac = "bool align_corners, " if has_align else ""
    scales = "float scales = None" if nd == 1 else ", ".join(f"float scales_{a} = None" for a in "dhw"[3 - nd:])
    return TypeError(f"{name}() received an invalid combination of arguments - got ({got}), but expected one of:\n"
                     f" * (Tensor input, tuple of ints output_size, {ac}tuple of floats scale_factors)\n"
                     f"      didn't match because some of the arguments have invalid types: ({', '.join(marked)})\n"
                     f" * (Tensor input, tuple of ints output_size, {ac}{scales}, *, Tensor out = None)\n")


def _upsample(input, key, output_size, scale_factors, align_corners):
    """The C++ call, after torch's binding's argument checks."""
    name, code = _KERNELS[key]
    nd = input.dim() - 2
    # torch's parser matches a list by its first element, then reads the rest
    if output_size is not None and output_size and not _is_int_arg(output_size[0]):
        raise _invalid_arguments(name, nd, align_corners, output_size, scale_factors)
    if scale_factors is not None and scale_factors and not _is_float_arg(scale_factors[0]):
        raise _invalid_arguments(name, nd, align_corners, output_size, scale_factors)
    if output_size is not None:
        for i, v in enumerate(output_size):
            if not _is_int_arg(v):
                raise TypeError(f"{name}(): argument 'output_size' must be tuple of ints, but found element of type "
                                f"{type(v).__name__} at pos {i + 1}")
        output_size = [int(v) for v in output_size]
    if scale_factors is not None:
        for i, v in enumerate(scale_factors):
            if not _is_float_arg(v):
                raise TypeError(f"{name}(): argument 'scale_factors' must be tuple of floats, but found element of "
                                f"type {type(v).__name__} at pos {i + 1}")
        scale_factors = [float(v) for v in scale_factors]
    return _C._upsample(input, code, output_size, scale_factors, bool(align_corners))


_TORCH_SCALAR_NAMES = {"uint8": "Byte", "int8": "Char", "int16": "Short", "int32": "Int", "int64": "Long",
                       "bool": "Bool"}


def _area(input, nd, output_size):
    if not input.is_floating_point():  # torch's adaptive average pools have float kernels only
        kernel = "adaptive_avg_pool3d_cpu" if nd == 3 else "adaptive_avg_pool2d"
        raise NotImplementedError(f'"{kernel}" not implemented for \'{_TORCH_SCALAR_NAMES[input.dtype.name]}\'')
    for i, v in enumerate(output_size):
        if not _is_int_arg(v):
            raise TypeError(f"adaptive_avg_pool{nd}d(): argument 'output_size' (position 2) must be tuple of ints, but "
                            f"found element of type {type(v).__name__} at pos {i}")
    return getattr(_F(), f"adaptive_avg_pool{nd}d")(input, [int(v) for v in output_size])


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None,
                antialias=False):
    """Down/up samples the input to `size` or by `scale_factor` (torch.nn.functional.interpolate).

    Modes: 'nearest', 'nearest-exact', 'linear' (3-D input), 'bilinear', 'bicubic' (4-D), 'trilinear'
    (5-D), 'area' (adaptive average pooling) and, with antialias=True on 4-D input, 'bilinear',
    'bicubic' and 'lanczos'. With scale_factor given and recompute_scale_factor not True, the scale
    factor itself sets the source indices (as in torch), not the ratio of the sizes."""
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError("align_corners option can only be set with the interpolating modes: "
                             "linear | bilinear | bicubic | trilinear")
    else:
        if align_corners is None:
            align_corners = False

    dim = input.dim() - 2  # number of spatial dims

    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    elif size is not None:
        scale_factors = None
        if isinstance(size, (list, tuple)):
            if len(size) != dim:
                raise ValueError("Input and output must have the same number of spatial dimensions, but got input with "
                                 f"spatial dimensions of {list(input.shape[2:])} and output size of {size}. Please "
                                 "provide input tensor in (N, C, d1, d2, ...,dK) format and output size in (o1, o2, "
                                 "...,oK) format.")
            if not all(_is_integer(x) for x in size):
                raise TypeError("expected size to be one of int or Tuple[int] or Tuple[int, int] or Tuple[int, int, "
                                f"int], but got size with types {[type(x) for x in size]}")
            output_size = size
        else:
            output_size = [size for _ in range(dim)]
    elif scale_factor is not None:
        output_size = None
        if isinstance(scale_factor, (list, tuple)):
            if len(scale_factor) != dim:
                raise ValueError("Input and scale_factor must have the same number of spatial dimensions, but got "
                                 f"input with spatial dimensions of {list(input.shape[2:])} and scale_factor of shape "
                                 f"{scale_factor}. Please provide input tensor in (N, C, d1, d2, ...,dK) format and "
                                 "scale_factor in (s1, s2, ...,sK) format.")
            scale_factors = scale_factor
        else:
            scale_factors = [scale_factor for _ in range(dim)]
    else:
        raise ValueError("either size or scale_factor should be defined")

    if recompute_scale_factor is not None and recompute_scale_factor and size is not None:
        raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")

    # 'area' always takes an explicit size: torch goes through the recompute path
    if mode == "area" and output_size is None:
        recompute_scale_factor = True

    if recompute_scale_factor is not None and recompute_scale_factor:
        # the output size from the scale factors; the kernel then works from the sizes alone
        output_size = [int(input.shape[i + 2] * scale_factors[i]) for i in range(dim)]
        scale_factors = None

    if antialias and not (mode in ("bilinear", "bicubic", "lanczos") and input.dim() == 4):
        raise ValueError("Anti-alias option is restricted to bilinear, bicubic, and lanczos modes and requires a 4-D "
                         "tensor as input")

    ndim = input.dim()
    if mode in ("nearest", "nearest-exact") and ndim in (3, 4, 5):
        return _upsample(input, (mode, ndim), output_size, scale_factors, None)
    if mode == "area" and ndim in (3, 4, 5):
        return _area(input, ndim - 2, output_size)
    if mode in ("bilinear", "bicubic") and ndim == 4:
        return _upsample(input, (mode + "-aa" if antialias else mode, 4), output_size, scale_factors, align_corners)
    if _MODE_DIMS.get(mode) == ndim:
        return _upsample(input, (mode, ndim), output_size, scale_factors, align_corners)
    if mode == "lanczos" and ndim == 4:
        if align_corners:
            raise ValueError("Lanczos mode does not support align_corners=True")
        if not antialias:
            raise ValueError("Lanczos mode requires antialias=True")
        return _upsample(input, ("lanczos-aa", 4), output_size, scale_factors, align_corners)
    if mode in _MODE_DIMS and ndim in (3, 4, 5):
        raise NotImplementedError(f"Got {ndim}D input, but {mode} mode needs {_MODE_DIMS[mode]}D input")
    raise NotImplementedError(f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {ndim}D) for the modes: "
                              "nearest | linear | bilinear | bicubic | trilinear | lanczos | area | nearest-exact "
                              f"(got {mode})")


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """Deprecated in torch: interpolate(input, size, scale_factor, mode, align_corners), with a warning."""
    warnings.warn("`nn.functional.upsample` is deprecated. Use `nn.functional.interpolate` instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    """Deprecated in torch: interpolate(..., mode='nearest'), with a warning."""
    warnings.warn("`nn.functional.upsample_nearest` is deprecated. Use `nn.functional.interpolate` instead.",
                  stacklevel=2)
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    """Deprecated in torch: interpolate(..., mode='bilinear', align_corners=True), with a warning."""
    warnings.warn("`nn.functional.upsample_bilinear` is deprecated. Use `nn.functional.interpolate` instead.",
                  stacklevel=2)
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)
