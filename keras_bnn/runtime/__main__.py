"""`python -m keras_bnn.runtime build|sweep ...`: build the native library, or check it bit
for bit against LCE's reference (see `keras_bnn.runtime.build` and
`keras_bnn.runtime.sweep`)."""

import sys

from keras_bnn.runtime import build, sweep

COMMANDS = {"build": build.main, "sweep": sweep.main}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(f"usage: python -m keras_bnn.runtime {{{','.join(COMMANDS)}}} [--help]",
              file=sys.stderr)
        sys.exit(2)
    sys.exit(COMMANDS[sys.argv[1]](sys.argv[2:]))
