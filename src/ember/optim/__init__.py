"""ember.optim: optimizers and lr schedulers with torch's names, defaults, keyword arguments and
state_dict format. SGD, Adam/AdamW, RMSprop and Adagrad step with one fused C++ call per parameter
group; Adadelta, Adamax, NAdam, RAdam, ASGD, Rprop and LBFGS are torch's single-tensor updates
written over ember tensor ops."""
from . import lr_scheduler, swa_utils
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .adamax import Adamax
from .asgd import ASGD
from .lbfgs import LBFGS
from .nadam import NAdam
from .optimizer import Optimizer
from .radam import RAdam
from .rmsprop import RMSprop
from .rprop import Rprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam", "ASGD",
           "Rprop", "LBFGS", "lr_scheduler", "swa_utils"]
