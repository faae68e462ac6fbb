"""python -m ember PROGRAM.py [args]: run an unmodified torch program on ember.

ember is installed as torch first (ember.install_as_torch(): `import torch`, `import torch.nn as
nn`, `from torch.utils.data import DataLoader` ... all give ember's modules), then PROGRAM runs as
`__main__` the way `python PROGRAM.py [args]` would run it: sys.argv is [PROGRAM, args...],
__file__ is set, the program's directory is sys.path[0], its exit status is the process's, and an
uncaught exception prints the usual traceback (starting at the program's frames) and exits with 1.

    python -m ember train.py --epochs 3
    python -m ember -m package.module [args]   # like python -m package.module
    python -m ember -c "import torch; print(torch.ones(2))"

`import ember as torch` inside a program is not a substitute: a later `import torch.nn` goes to the
import system, which loads the real torch (or fails). Use this runner or ember.install_as_torch().
"""
import builtins
import importlib.machinery
import io
import os
import runpy
import signal
import sys
import types

USAGE = """usage: python -m ember PROGRAM.py [args ...]
       python -m ember -m MODULE [args ...]
       python -m ember -c COMMAND [args ...]

Runs a torch program with ember installed as torch (ember.install_as_torch())."""

_HIDDEN_FILES = {os.path.abspath(__file__), runpy.run_path.__code__.co_filename}


def _report_and_exit(exc):
    """Print exc as Python prints an uncaught exception, without this runner's frames, and leave as Python would."""
    tb = exc.__traceback__
    while tb is not None and (tb.tb_frame.f_code.co_filename in _HIDDEN_FILES
                              or os.path.abspath(tb.tb_frame.f_code.co_filename) in _HIDDEN_FILES):
        tb = tb.tb_next
    if tb is not None:
        exc.__traceback__ = tb  # the interpreter's hook prints the exception's own traceback
    sys.excepthook(type(exc), exc, exc.__traceback__)
    if isinstance(exc, KeyboardInterrupt):
        # like the interpreter: die of SIGINT so the parent sees an interrupted child
        sys.stdout.flush()
        sys.stderr.flush()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    sys.exit(1)


def main(argv=None):
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE, file=sys.stdout if args else sys.stderr)
        return 0 if args else 2

    import ember
    ember.install_as_torch()

    mode = args[0]
    if mode in ("-m", "-c"):
        if len(args) < 2:
            print(f"Argument expected for the {mode} option\n\n{USAGE}", file=sys.stderr)
            return 2
        target, rest = args[1], args[2:]
    else:
        target, rest = mode, args[1:]

    try:
        if mode == "-c":
            sys.argv = ["-c"] + rest
            _set_path0("")
            _exec_as_main(compile(target, "<string>", "exec", dont_inherit=True), {"__loader__": None})
        elif mode == "-m":
            sys.argv = [target] + rest  # run_module(alter_sys=True) puts the module's file in argv[0]
            _set_path0(os.getcwd())
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        else:
            path = target
            if not os.path.exists(path):
                name = os.path.basename(sys.executable) or "python"
                print(f"{name}: can't open file {os.path.abspath(path)!r}: [Errno 2] No such file or directory",
                      file=sys.stderr)
                return 2
            sys.argv = [path] + rest
            if os.path.isdir(path) or not path.endswith(".py") and _is_zip(path):
                _set_path0(None)  # run_path puts the directory / archive first itself
                runpy.run_path(path, run_name="__main__")
            else:
                # what runpy.run_path(path, run_name="__main__") does for a source file, except that sys.argv[0]
                # stays as given, __file__ is absolute (as Python sets them) and __main__ stays the program
                # after it returns (atexit handlers and pickles made at exit see it, as under Python)
                _set_path0(os.path.dirname(os.path.realpath(path)))
                full = os.path.abspath(path)
                with io.open_code(full) as f:
                    code = compile(f.read(), full, "exec", dont_inherit=True)
                _exec_as_main(code, {"__file__": full, "__cached__": None,
                                     "__loader__": importlib.machinery.SourceFileLoader("__main__", full)})
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 (reported and turned into the exit status, as Python does)
        _report_and_exit(exc)
    return 0


def _exec_as_main(code, attrs):
    """Run code in a fresh module registered as __main__ (the runner's own module steps aside)."""
    module = types.ModuleType("__main__")
    module.__dict__.update({"__builtins__": builtins, "__spec__": None, "__package__": None}, **attrs)
    sys.modules["__main__"] = module
    try:
        exec(code, module.__dict__)
    finally:
        for name in ("__file__", "__cached__"):  # as Python does once the script has run
            if name in attrs:
                module.__dict__.pop(name, None)


def _set_path0(entry):
    """Replace the entry `python -m` put first on sys.path (the cwd) with the one `python PROGRAM` would put
    there (None: none); with -P / PYTHONSAFEPATH Python adds neither, and neither does this."""
    if getattr(sys.flags, "safe_path", False):
        return
    if entry is None:
        del sys.path[0]
    else:
        sys.path[0] = entry


def _is_zip(path):
    import zipfile
    try:
        return zipfile.is_zipfile(path)
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
