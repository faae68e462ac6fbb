"""torch.utils.data._utils's public corners that programs import: collate (default_collate,
default_convert) and worker (get_worker_info, WorkerInfo)."""
from . import collate, worker  # noqa: F401
