"""Small torch-isms that torch programs touch (cuda / accelerator queries, thread counts,
Generator) and install_as_torch(), which lets unmodified `import torch...` code run on ember."""
import sys
import types

import numpy as np

from . import _C


class _Cuda(types.ModuleType):
    @staticmethod
    def is_available():
        return False

    @staticmethod
    def device_count():
        return 0

    @staticmethod
    def manual_seed(seed):
        pass

    @staticmethod
    def manual_seed_all(seed):
        pass


cuda = _Cuda("ember.cuda")
accelerator = types.ModuleType("ember.accelerator")
accelerator.is_available = lambda: False
accelerator.device_count = lambda: 0
backends = types.ModuleType("ember.backends")
backends.mps = types.SimpleNamespace(is_available=lambda: False, is_built=lambda: False)
backends.cudnn = types.SimpleNamespace(deterministic=False, benchmark=False, enabled=False)


def set_num_threads(n):
    _C.set_num_threads(int(n))


def get_num_threads():
    return _C.get_num_threads()


class Generator:
    """A seedable generator for samplers and random_split (numpy PCG64 inside; not torch's stream)."""

    def __init__(self, device="cpu"):
        self._seed = 67280421310721
        self._rng = np.random.default_rng(self._seed)

    def manual_seed(self, seed):
        self._seed = int(seed)
        self._rng = np.random.default_rng(self._seed)
        return self

    def seed(self):
        self._seed = int(np.random.SeedSequence().entropy % (2 ** 63))
        self._rng = np.random.default_rng(self._seed)
        return self._seed

    def initial_seed(self):
        return self._seed

    def _permutation(self, n):
        return self._rng.permutation(n).tolist()


def install_as_torch():
    """Register ember under torch's module names in sys.modules, so `import torch`,
    `import torch.nn as nn`, `from torch.utils.data import DataLoader` give ember's."""
    import ember
    names = {
        "torch": ember,
        "torch.nn": ember.nn,
        "torch.nn.functional": ember.nn.functional,
        "torch.nn.init": ember.nn.init,
        "torch.nn.modules": ember.nn.modules,
        "torch.nn.parameter": ember.nn.parameter,
        "torch.nn.utils": ember.nn.utils,
        "torch.optim": ember.optim,
        "torch.optim.lr_scheduler": ember.optim.lr_scheduler,
        "torch.utils": ember.utils,
        "torch.utils.data": ember.utils.data,
        "torch.autograd": ember.autograd,
        "torch.cuda": ember.cuda,
    }
    sys.modules.update(names)
    return ember
