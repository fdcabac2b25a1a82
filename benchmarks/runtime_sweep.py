"""keras_bnn's runtime bit for bit against LCE's reference on a randomized sweep of
single-op programs, on the release build and on the AddressSanitizer + UBSan build.

    python benchmarks/runtime_sweep.py --count=600

Runs `python -m keras_bnn.runtime sweep` twice (see `keras_bnn.runtime.sweep`: every
program with each kernel set this CPU has, 1 and 2 threads; no byte may differ and no
memory block may be left) and writes both reports to
`benchmarks/results/runtime_sweep.md`.
"""

import subprocess
import sys
import time

from absl import app, flags

import reporting  # benchmarks/reporting.py, beside this script

flags.DEFINE_integer("count", 600, "Programs.")
flags.DEFINE_integer("seed", 0, "Of the sweep.")
flags.DEFINE_string("output", "benchmarks/results/runtime_sweep",
                    "Path of the .md and .json files, without suffix.")
FLAGS = flags.FLAGS


def sweep(*options):
    """The report of one sweep, and whether it passed."""
    result = subprocess.run([sys.executable, "-m", "keras_bnn.runtime", "sweep",
                             f"--count={FLAGS.count}", f"--seed={FLAGS.seed}", *options],
                            capture_output=True, text=True, check=False)
    report = [line for line in result.stdout.splitlines() if line.strip()]
    if result.returncode != 0:
        report.append(f"FAILED (exit code {result.returncode}): "
                      + (result.stderr.strip().splitlines() or ["no message"])[-1])
    return report, result.returncode == 0


def main(argv):
    del argv
    started = time.strftime("%Y-%m-%d")
    release, release_passed = sweep()
    sanitized, sanitized_passed = sweep("--sanitize")
    command = reporting.command_line("runtime_sweep.py")
    text = "\n".join([f"{reporting.machine()}, {started}. `{command}`", "", "```",
                      *release, *sanitized, "```"])
    print(text)
    reporting.write_results(FLAGS.output, text, {
        "date": started, "command": command, "release": release, "sanitized": sanitized,
        "passed": release_passed and sanitized_passed})
    return 0 if release_passed and sanitized_passed else 1


if __name__ == "__main__":
    app.run(main)
