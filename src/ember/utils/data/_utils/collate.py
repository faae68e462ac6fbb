"""torch.utils.data._utils.collate: the default collate and convert functions."""
from .._collate import default_collate, default_convert  # noqa: F401
