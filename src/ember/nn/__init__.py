"""ember.nn: neural-network building blocks, under torch's names."""
from . import functional
