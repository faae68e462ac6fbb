"""parameters_to_vector / vector_to_parameters, as torch.nn.utils."""
from ... import _C


def parameters_to_vector(parameters):
    return _C.cat([param.reshape(-1) for param in parameters])


def vector_to_parameters(vec, parameters):
    if not isinstance(vec, _C.Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    pointer = 0
    for param in parameters:
        num_param = param.numel()
        param.data = vec[pointer:pointer + num_param].view_as(param).data
        pointer += num_param
