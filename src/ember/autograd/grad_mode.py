"""Grad-mode switches usable as context managers and as decorators, like torch's."""
import functools

from .. import _C

is_grad_enabled = _C.is_grad_enabled


class _GradModeBase:
    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__(*self._args):
                return fn(*args, **kwargs)
        return wrapper

    _args = ()


class no_grad(_GradModeBase):
    def __init__(self):
        self.prev = False

    def __enter__(self):
        self.prev = _C.is_grad_enabled()
        _C._set_grad_enabled(False)

    def __exit__(self, *exc):
        _C._set_grad_enabled(self.prev)
        return False


class enable_grad(_GradModeBase):
    def __enter__(self):
        self.prev = _C.is_grad_enabled()
        _C._set_grad_enabled(True)

    def __exit__(self, *exc):
        _C._set_grad_enabled(self.prev)
        return False


class set_grad_enabled(_GradModeBase):
    """Takes effect at construction (so it works as a plain call too), undone on exit."""

    def __init__(self, mode):
        self.prev = _C.is_grad_enabled()
        self.mode = bool(mode)
        self._args = (mode,)
        _C._set_grad_enabled(self.mode)

    def __enter__(self):
        pass

    def __exit__(self, *exc):
        _C._set_grad_enabled(self.prev)
        return False

    def __call__(self, fn):
        _C._set_grad_enabled(self.prev)  # as a decorator, construction must not change the mode
        return super().__call__(fn)


class inference_mode(no_grad):
    def __init__(self, mode=True):
        super().__init__()
        self.mode = mode

    def __enter__(self):
        self.prev = _C.is_grad_enabled()
        if self.mode:
            _C._set_grad_enabled(False)
