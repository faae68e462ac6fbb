"""Not torch: ember's stand-in for it. ember.install_as_torch() puts this directory on sys.path
ahead of any real torch, so that a process multiprocessing starts with spawn or forkserver (which
imports the parent's program afresh, with the parent's sys.path, before anything else of ember's
runs) gets ember as torch too: importing this installs ember as torch and hands back ember."""
__ember_shim__ = True

import ember as _ember  # noqa: E402

_ember.install_as_torch()
