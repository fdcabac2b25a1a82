"""BinaryDuo's decoupled networks next to their baselines: parameters and binary MACs.

    python benchmarks/binaryduo_sizes.py

Counts come from larq's model profile (the numbers `lq.models.summary` prints).
"""

import keras_bnn  # noqa: F401  (sets up TensorFlow with Keras 2 first)
import larq as lq
import zoo
import reporting  # benchmarks/reporting.py, beside this script

# (network, widths as printed, input shape, options of the BinaryDuo builder)
NETWORKS = [
    ("vgg7", "official", (32, 32, 3), {}),
    ("vgg_small", "baseline / sqrt(2)", (32, 32, 3), {}),
    ("alexnet", "official", (224, 224, 3), {}),
    ("alexnet", "matched", (224, 224, 3), {"widths": "matched"}),
    ("resnet18", "official", (224, 224, 3), {}),
    ("resnet18", "matched", (224, 224, 3), {"widths": "matched"}),
]


def main():
    rows = []
    for name, widths, shape, options in NETWORKS:
        baseline = zoo.get_model(f"bnn_{name}", input_shape=shape)
        decoupled = zoo.get_model(f"binaryduo_{name}", input_shape=shape, stage="decoupled",
                                  **options)
        params = baseline.count_params(), decoupled.count_params()
        macs = [lq.models.ModelProfile(m).op_count("mac", 1) for m in (baseline, decoupled)]
        rows.append([name, widths, f"{shape[0]}x{shape[1]}", f"{params[0]:,}",
                     f"{params[1]:,} ({params[1] / params[0] - 1:+.1%})",
                     f"{macs[0] / 1e6:,.1f} M",
                     f"{macs[1] / 1e6:,.1f} M ({macs[1] / macs[0] - 1:+.1%})"])
    print(reporting.table(["network", "widths", "input", "baseline params",
                           "decoupled params", "baseline 1-bit MACs", "decoupled 1-bit MACs"],
                          rows))


if __name__ == "__main__":
    main()
