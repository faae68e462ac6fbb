"""ember.utils.data: Dataset, TensorDataset, Subset, random_split, samplers, DataLoader."""
from ._collate import default_collate, default_convert
from ._extras import ChainDataset, StackDataset, WeightedRandomSampler
from ._worker import WorkerInfo, get_worker_info
from .dataloader import DataLoader
from .dataset import ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset, random_split
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler

__all__ = ["DataLoader", "Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split", "Sampler",
           "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "BatchSampler", "default_collate",
           "default_convert", "IterableDataset", "WeightedRandomSampler", "ChainDataset", "StackDataset",
           "get_worker_info", "WorkerInfo"]
