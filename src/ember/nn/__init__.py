"""ember.nn: neural-network building blocks, under torch's names."""
from . import functional, init, utils
from .modules import *  # noqa: F401,F403
from .modules import __all__ as _mods  # noqa: F401
from .parameter import Buffer, Parameter
