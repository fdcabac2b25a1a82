"""The command line of `keras_bnn.export`: convert a saved Keras model, check it, write it.

    python -m keras_bnn.export runs/x/model.keras runs/x/model.tflite [--kernel K]

Exits with 0 after printing the `ExportResult.report`, or 1 after printing the error (a
file that does not load, a model the export refuses) to stderr.
"""

import argparse
import sys

from keras_bnn._keras import keras
from keras_bnn.export.conversion import convert
from keras_bnn.lce import DEFAULT_KERNEL, FALLBACK_KERNEL, KERNELS

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """`python -m keras_bnn.export MODEL.keras OUT.tflite [--no-verify] [--no-strict]
    [--kernel K]`.

    ```python
    main(["runs/x/model.keras", "runs/x/model.tflite", "--kernel", "reference"])  # 0
    ```

    # Arguments
        argv: The command-line arguments; None for `sys.argv[1:]`.

    # Returns
        The exit status: 0 when the file was written, 1 on an error (printed to stderr).
    """
    parser = argparse.ArgumentParser(
        prog="python -m keras_bnn.export",
        description="Convert a Keras model with Larq Compute Engine, check it, write it.")
    parser.add_argument("model", help="a .keras or .h5 model file (e.g. a train.py run's)")
    parser.add_argument("output", help="the .tflite file to write")
    parser.add_argument("--no-verify", dest="verify", action="store_false",
                        help="do not compare the LCE outputs with the Keras model's")
    parser.add_argument("--no-strict", dest="strict", action="store_false",
                        help="allow binary convs that stay float ops")
    parser.add_argument("--kernel", choices=KERNELS, default=None,
                        help=f"what runs the program for the check (default "
                             f"{DEFAULT_KERNEL}: keras_bnn's runtime where it runs, else "
                             f"LCE's {FALLBACK_KERNEL})")
    arguments = parser.parse_args(argv)
    try:
        model = keras.models.load_model(arguments.model, compile=False)
        result = convert(model, arguments.output, verify=arguments.verify,
                         strict=arguments.strict, kernel=arguments.kernel)
    except (OSError, ValueError) as error:  # ExportError included
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(result.report())
    return 0


if __name__ == "__main__":
    sys.exit(main())
