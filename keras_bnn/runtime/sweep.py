"""The runtime checked bit for bit against LCE's reference on a randomized sweep of
single-op programs (`keras_bnn.runtime.programs`), with every kernel set this CPU runs.

Each program runs in LCE's interpreter with its reference binary conv and in the runtime,
with one thread and with two; their outputs must be identical to the bit. The programs
LCE's reference refuses (SAME zero padding with an odd number of input channels) are
compared with the NumPy model of LCE's kernels instead. After each program, the runtime
must hold no memory: every block it allocated for it has been freed.

    python -m keras_bnn.runtime sweep --count=600            # the release build
    python -m keras_bnn.runtime sweep --count=600 --sanitize # AddressSanitizer + UBSan

`--sanitize` runs the same sweep in a child Python process on the sanitizer build of the
library, with the sanitizer runtime preloaded (it must come first in the process): any
out-of-bounds access, use after free or undefined behaviour aborts it with a report.

```python
import keras_bnn
from keras_bnn.runtime.programs import random_programs
from keras_bnn.runtime.sweep import run_sweep

result = run_sweep(random_programs(5), kernels=["portable"])
assert not result.mismatches and not result.leaks
```
"""

import argparse
import collections
import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Sequence

import numpy as np

from keras_bnn.runtime import build
from keras_bnn.runtime.interpreter import Interpreter, available_kernels, live_allocations
from keras_bnn.runtime.programs import (Program, lce_reference_outputs, lce_reference_runs,
                                        numpy_reference_outputs, random_programs)

__all__ = ["SweepResult", "identical", "main", "run_program", "run_sweep"]


@dataclasses.dataclass
class SweepResult:
    """What a sweep compared.

    ```python
    from keras_bnn.runtime.programs import random_programs
    from keras_bnn.runtime.sweep import run_sweep

    result = run_sweep(random_programs(3), kernels=["portable"], threads=(1,))
    result.compared  # Counter({"portable, 1 thread": 3})
    result.by_op     # programs per op, e.g. Counter({"bconv2d": 2, "quantize": 1})
    ```

    # Attributes
        compared: Programs compared per kernel set and number of threads.
        by_op: Programs compared per op (each with every kernel set).
        mismatches: `(kernel, program name, what differed)` for every difference.
        leaks: `(kernel, program name, blocks)` where the runtime kept memory.
        seconds: Wall time of the sweep.
    """

    compared: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    by_op: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    mismatches: list = dataclasses.field(default_factory=list)
    leaks: list = dataclasses.field(default_factory=list)
    seconds: float = 0.0


def identical(expected: list[np.ndarray], got: list[np.ndarray]) -> bool:
    """Whether two lists of arrays are equal to the bit (dtype, shape and bytes).

    ```python
    import numpy as np
    from keras_bnn.runtime.sweep import identical

    assert identical([np.float32([0.0])], [np.float32([0.0])])
    assert not identical([np.float32([0.0])], [np.float32([-0.0])])  # equal, not identical
    ```
    """
    return len(expected) == len(got) and all(
        a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
        for a, b in zip(expected, got))


def run_program(program: Program, kernel: str = "auto",
                num_threads: int = 1) -> list[np.ndarray]:
    """The outputs of a single-op program in the runtime, the whole batch at once.

    ```python
    from keras_bnn.runtime.programs import bconv2d_program
    from keras_bnn.runtime.sweep import run_program

    outputs = run_program(bconv2d_program(batch=2, height=5, width=5, channels_in=64,
                                          channels_out=8), kernel="portable")
    outputs[0].shape  # (2, 5, 5, 8)
    ```

    # Arguments
        program: A single-op `Program`.
        kernel: One of `keras_bnn.runtime.KERNELS`.
        num_threads: Threads of the runtime.

    # Returns
        A list with one array per output of the program.
    """
    with Interpreter(program.flatbuffer, kernel=kernel, num_threads=num_threads) as interpreter:
        outputs = interpreter.predict(list(program.inputs))
    return outputs if isinstance(outputs, list) else [outputs]


def _reference(program: Program) -> list[np.ndarray]:
    """LCE's reference outputs, or the NumPy model's where LCE refuses the program."""
    if lce_reference_runs(program):
        return lce_reference_outputs(program)
    return numpy_reference_outputs(program)


def run_sweep(programs: Sequence[Program], kernels: Sequence[str] | None = None,
              threads: tuple[int, ...] = (1, 2)) -> SweepResult:
    """Compares every program in the runtime with its reference, for each kernel set and
    number of threads.

    ```python
    from keras_bnn.runtime.programs import random_programs
    from keras_bnn.runtime.sweep import run_sweep

    result = run_sweep(random_programs(4, seed=7))  # every kernel set this CPU runs
    assert not result.mismatches, result.mismatches
    ```

    # Arguments
        programs: `Program`s (e.g. `random_programs(400)`).
        kernels: Kernel sets of the runtime; default every one this CPU runs.
        threads: Numbers of threads to run each with.

    # Returns
        A `SweepResult`.
    """
    kernels = kernels or available_kernels()[1:]
    runs = [(kernel, count) for kernel in kernels for count in threads]
    result, start = SweepResult(), time.perf_counter()
    for program in programs:
        expected = _reference(program)
        result.by_op[program.options["op"]] += 1
        for kernel, count in runs:
            run = f"{kernel}, {count} thread{'s' if count > 1 else ''}"
            got = run_program(program, kernel, count)
            result.compared[run] += 1
            if not identical(expected, got):
                result.mismatches.append((run, program.name, _difference(expected, got)))
            if live_allocations():  # the interpreter was closed: nothing may be left
                result.leaks.append((run, program.name, live_allocations()))
    result.seconds = time.perf_counter() - start
    return result


def _difference(expected: list[np.ndarray], got: list[np.ndarray]) -> str:
    for index, (a, b) in enumerate(zip(expected, got)):
        if a.shape != b.shape or a.dtype != b.dtype:
            return f"output {index}: {b.dtype}{b.shape}, expected {a.dtype}{a.shape}"
        differs = np.frombuffer(a.tobytes(), np.uint8) != np.frombuffer(b.tobytes(), np.uint8)
        if differs.any():
            return f"output {index}: {int(differs.sum())} of {differs.size} bytes differ"
    return f"{len(got)} outputs, expected {len(expected)}"


def _sanitizer_environment() -> dict[str, str]:
    """The environment of a child process that loads the sanitizer build."""
    runtimes = []
    for name in ("libasan.so", "libubsan.so"):
        found = subprocess.run([*build.compiler().split(), f"-print-file-name={name}"],
                               capture_output=True, text=True, check=True).stdout.strip()
        if not os.path.isabs(found):
            raise build.RuntimeUnavailable(f"The compiler has no {name}: cannot run the "
                                           "sanitizer build here.")
        runtimes.append(found)
    environment = dict(os.environ)
    environment.update({
        "LD_PRELOAD": " ".join(runtimes),
        build.SANITIZE_ENVIRONMENT_VARIABLE: "1",
        # Python and TensorFlow keep memory until exit on purpose: leaks of the runtime's
        # own blocks are counted by the sweep instead (SweepResult.leaks).
        "ASAN_OPTIONS": "detect_leaks=0:alloc_dealloc_mismatch=0:abort_on_error=1",
        "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
    })
    return environment


def main(argv: list[str] | None = None) -> int:
    """`python -m keras_bnn.runtime sweep [--count N] [--seed S] [--sanitize]`: prints
    what was compared and every difference.

    ```python
    from keras_bnn.runtime.sweep import main

    exit_code = main(["--count=3", "--kernels=portable"])  # 0: no difference, no leak
    ```

    # Arguments
        argv: The arguments that follow `sweep` on the command line (`python -m
            keras_bnn.runtime` passes them); None reads `sys.argv[1:]`, as `argparse` does.

    # Returns
        The exit code: 1 when a program differed or leaked memory, else 0.
    """
    parser = argparse.ArgumentParser(prog="python -m keras_bnn.runtime sweep",
                                     description="Check the runtime bit for bit against "
                                                 "LCE's reference on random programs.")
    parser.add_argument("--count", type=int, default=400, help="programs (400)")
    parser.add_argument("--seed", type=int, default=0, help="of the sweep (0)")
    parser.add_argument("--kernels", default=None,
                        help="comma-separated kernel sets (default: all this CPU runs)")
    parser.add_argument("--sanitize", action="store_true",
                        help="run on the AddressSanitizer + UBSan build, in a child process")
    arguments = parser.parse_args(argv)
    if arguments.sanitize:
        build.library_path(sanitize=True)
        command = [sys.executable, "-m", "keras_bnn.runtime", "sweep",
                   f"--count={arguments.count}", f"--seed={arguments.seed}"]
        if arguments.kernels:
            command.append(f"--kernels={arguments.kernels}")
        return subprocess.run(command, env=_sanitizer_environment(), check=False).returncode
    kernels = arguments.kernels.split(",") if arguments.kernels else None
    programs = random_programs(arguments.count, seed=arguments.seed, lce_reference_only=False)
    result = run_sweep(programs, kernels)
    variant = ("sanitizer build (AddressSanitizer + UBSan)"
               if os.environ.get(build.SANITIZE_ENVIRONMENT_VARIABLE) else "release build")
    print(f"{arguments.count} programs (seed {arguments.seed}: "
          f"{', '.join(f'{op} {n}' for op, n in sorted(result.by_op.items()))}), {variant}, "
          f"{result.seconds:.0f} s")
    for run, count in result.compared.items():
        print(f"  {run}: {count} compared, "
              f"{sum(1 for m in result.mismatches if m[0] == run)} differ")
    for mismatch in result.mismatches[:20]:
        print("  MISMATCH", *mismatch)
    for leak in result.leaks[:20]:
        print("  LEAK", *leak)
    return 1 if result.mismatches or result.leaks else 0
