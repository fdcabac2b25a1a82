"""Compiling the runtime's native library, once per machine, into keras_bnn's cache.

The library is C (`keras_bnn/runtime/native/`), built with the machine's C compiler (gcc,
or `$CC`) the first time it is needed, or ahead of time by `make setup`
(`python -m keras_bnn.runtime build`). Its name carries a hash of the sources, the flags
and the compiler, so a change of any of them builds a new one and a stale library is
never loaded; the build writes a temporary file and renames it
(`keras_bnn.files.replaced_atomically`), so two processes building at once, or a build
that fails, never leave a half-written library. One build runs on
every x86-64 CPU: the kernels for AVX2 and AVX-512 are compiled for those instruction sets
alone and chosen at run time.

```python
import keras_bnn.runtime.build

path = keras_bnn.runtime.build.library_path()  # compiles on first use, then cached
```

    python -m keras_bnn.runtime build              # build now; prints the path
    python -m keras_bnn.runtime build --sanitize   # the AddressSanitizer + UBSan build
"""

import argparse
import functools
import hashlib
import os
import pathlib
import platform
import shlex
import shutil
import subprocess
import sys

from keras_bnn.downloads import CACHE_ENVIRONMENT_VARIABLE, cache_dir
from keras_bnn.files import check_writable_folder, replaced_atomically

__all__ = ["FLAGS", "SANITIZER_FLAGS", "SANITIZE_ENVIRONMENT_VARIABLE", "RuntimeUnavailable",
           "compiler", "library_path", "main", "sources"]

NATIVE = pathlib.Path(__file__).resolve().parent / "native"

# -ffp-contract=off: LCE's output transform rounds after its multiply and after its add; a
# fused multiply-add would round once and differ in the last bit. -fno-trapping-math: the
# runtime never reads floating-point exception flags, so the compiler may turn the
# branches of the int8 rounding into vector selects (results are unchanged).
FLAGS = ("-std=c11", "-O3", "-fPIC", "-shared", "-pthread", "-fvisibility=hidden",
         "-ffp-contract=off", "-fno-trapping-math", "-Wall", "-Wextra")

# For the memory-safety sweep: every out-of-bounds access, use after free and undefined
# behaviour aborts the process with a report (`python -m keras_bnn.runtime sweep
# --sanitize`).
SANITIZER_FLAGS = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                   "-fno-omit-frame-pointer", "-g", "-O1")


# Set to 1, the runtime loads the sanitizer build (in the child process of
# `python -m keras_bnn.runtime sweep --sanitize`, which preloads the sanitizer runtime).
SANITIZE_ENVIRONMENT_VARIABLE = "KERAS_BNN_RUNTIME_SANITIZE"


class RuntimeUnavailable(RuntimeError):
    """The runtime cannot run on this machine; the message says why and what to do
    (LCE's own interpreter, `keras_bnn.lce`, still runs every program).

    ```python
    from keras_bnn.runtime.build import RuntimeUnavailable, library_path

    try:
        path = library_path()
    except RuntimeUnavailable as error:
        print(error)  # e.g. no C compiler was found (tried $CC, gcc, cc). Install gcc ...
    ```
    """


def sources() -> list[pathlib.Path]:
    """The C sources and headers of the library, in a fixed order.

    ```python
    from keras_bnn.runtime.build import sources

    [path.name for path in sources()]  # [..., "delegate.c", "delegate.h", ...]
    ```
    """
    return sorted(NATIVE.glob("*.[ch]"))


def compiler() -> str:
    """The C compiler: `$CC`, else gcc, else cc.

    ```python
    from keras_bnn.runtime.build import RuntimeUnavailable, compiler

    try:
        print(compiler())  # "gcc" unless $CC names another
    except RuntimeUnavailable as error:
        print(error)  # none installed
    ```

    # Raises
        RuntimeUnavailable: when none is installed.
    """
    for candidate in (os.environ.get("CC"), "gcc", "cc"):
        if candidate and shutil.which(shlex.split(candidate)[0]):
            return candidate
    raise RuntimeUnavailable(
        "keras_bnn's x86 runtime is compiled on this machine at first use, and no C "
        "compiler was found (tried $CC, gcc, cc). Install gcc (Debian/Ubuntu: apt-get install "
        "gcc) or set $CC; until then, LCE's interpreter runs the programs "
        "(kernel='xnnpack').")


def _check_platform() -> None:
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64"):
        raise RuntimeUnavailable(
            f"keras_bnn's runtime runs on x86-64 Linux, not on {sys.platform} "
            f"{platform.machine()}; on ARM, Larq Compute Engine's own kernels are the fast "
            "ones (kernel='xnnpack').")


def _compiler_version(command: str) -> str:
    result = subprocess.run([*shlex.split(command), "--version"], capture_output=True,
                            text=True, check=False)
    return result.stdout.splitlines()[0] if result.stdout else command


def library_path(*, sanitize: bool | None = None) -> pathlib.Path:
    """The path of the compiled library, compiling it first when needed.

    ```python
    import tensorflow as tf
    from keras_bnn.runtime.build import library_path

    delegate = tf.lite.experimental.load_delegate(str(library_path()))
    ```

    # Arguments
        sanitize: The AddressSanitizer + UndefinedBehaviorSanitizer build (slower; loading
            it needs the sanitizer runtime preloaded, see `keras_bnn.runtime.sweep`);
            None: when `$KERAS_BNN_RUNTIME_SANITIZE` is 1.

    # Returns
        A `pathlib.Path` in `<cache>/runtime/`.

    # Raises
        RuntimeUnavailable: on a machine other than x86-64 Linux, without a C compiler, with
            a cache that cannot be written, or when the compiler fails (its messages are
            in the error).
    """
    if sanitize is None:
        sanitize = os.environ.get(SANITIZE_ENVIRONMENT_VARIABLE) == "1"
    flags = (*FLAGS, *(SANITIZER_FLAGS if sanitize else ()))
    return _library_path(flags, "sanitized" if sanitize else "release", os.environ.get("CC"),
                         str(cache_dir()))


@functools.lru_cache(maxsize=None)
def _library_path(flags: tuple, variant: str, compiler_variable: str | None,
                  cache: str) -> pathlib.Path:
    """`library_path`, once per process for given flags, compiler and cache: the library
    a process loaded stays the one it uses, even when the sources change meanwhile."""
    del compiler_variable  # part of the cache key: compiler() reads it
    _check_platform()
    command = compiler()
    digest = hashlib.sha256()
    for path in sources():
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    digest.update(" ".join([command, _compiler_version(command), *flags]).encode())
    folder = pathlib.Path(cache) / "runtime"
    target = folder / f"libkeras_bnn_runtime-{variant}-{digest.hexdigest()[:16]}.so"
    if target.is_file():
        return target
    try:
        check_writable_folder(folder)
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RuntimeUnavailable(f"Cannot build keras_bnn's runtime into {folder}: {error}. "
                                 f"Set ${CACHE_ENVIRONMENT_VARIABLE} to a folder you can "
                                 "write.") from None
    c_files = [str(path) for path in sources() if path.suffix == ".c"]
    with replaced_atomically(target) as temporary:
        result = subprocess.run([*shlex.split(command), *flags, *c_files, "-o", str(temporary),
                                 "-lm"], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeUnavailable(
                f"Compiling keras_bnn's runtime with {command} failed; LCE's interpreter "
                f"still runs the programs (kernel='xnnpack'). The compiler said:\n"
                f"{result.stderr.strip()}")
    for stale in folder.glob(f"libkeras_bnn_runtime-{variant}-*.so"):
        if stale != target:  # built from older sources; a process that loaded it keeps it
            stale.unlink(missing_ok=True)
    return target


def main(argv: list[str] | None = None) -> int:
    """`python -m keras_bnn.runtime build [--sanitize]`: builds, prints the path.

    ```python
    from keras_bnn.runtime.build import main

    exit_code = main([])  # prints the library's path; 0, or 1 with a note where it cannot
    ```

    # Arguments
        argv: The arguments that follow `build` on the command line (`python -m
            keras_bnn.runtime` passes them); None reads `sys.argv[1:]`, as `argparse` does.

    # Returns
        The exit code: 0 when the library is there, 1 when the runtime is unavailable.
    """
    parser = argparse.ArgumentParser(prog="python -m keras_bnn.runtime build",
                                     description="Compile keras_bnn's x86 runtime.")
    parser.add_argument("--sanitize", action="store_true",
                        help="the AddressSanitizer + UBSan build")
    arguments = parser.parse_args(argv)
    try:
        print(library_path(sanitize=arguments.sanitize))
    except RuntimeUnavailable as error:
        print(f"note: {error}", file=sys.stderr)
        return 1
    return 0
