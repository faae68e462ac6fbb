"""torch._dynamo.exc: the exceptions ember.compile raises as torch's does."""


class TorchDynamoException(RuntimeError):
    pass


class InvalidBackend(TorchDynamoException):
    def __init__(self, name):
        super().__init__(f"Invalid backend: {name!r}, see `torch._dynamo.list_backends()` for available backends.")


class Unsupported(TorchDynamoException):
    """What `fullgraph=True` raises when a step cannot be captured (torch._dynamo.exc.Unsupported)."""
