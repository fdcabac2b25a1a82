"""What the benchmark scripts share: mean ± std over seeds or repeats, the exact command,
training budget and machine for a table's caption, the Markdown + JSON result files, and
real photos to run models on.

```python
mean, std = reporting.mean_and_std([0.85, 0.86, 0.84])
reporting.write_results("benchmarks/results/accuracy_mnist", caption_and_table, {"rows": rows})
```
"""

import json
import os
import pathlib
import platform
import shlex
import statistics
import sys
import tarfile

import numpy as np

from zoo.__main__ import markdown_table  # the one Markdown table writer


def mean_and_std(values):
    """Mean and sample standard deviation (0 for a single value)."""
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def command_line(script):
    """The command that ran `benchmarks/<script>`, quoted so that a reader can paste it."""
    return shlex.join(["python", f"benchmarks/{script}", *sys.argv[1:]])


def training_budget(epochs, max_train_examples):
    """`"2 epochs"`, or `"2 epochs on 20,000 training images"`."""
    return f"{epochs} epochs" + (f" on {max_train_examples:,} training images"
                                 if max_train_examples else "")


def machine():
    """`"<CPU model> (<N> cores)"`: the CPU as /proc/cpuinfo names it (the machine type
    elsewhere) and the cores this process sees."""
    name = platform.machine()
    cpuinfo = pathlib.Path("/proc/cpuinfo")
    if cpuinfo.exists():
        name = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                     if line.startswith("model name")), name)
    return f"{name} ({os.cpu_count()} cores)"


def table(header, rows):
    """A Markdown table of `header` (column titles) and `rows` (lists of cells, shown with
    `str`), as one string (`zoo.__main__.markdown_table`, which writes the zoo's tables).

    ```python
    table(["model", "ms"], [["bnn_resnet18", "7.4"]])  # "| model | ms |\n| --- | --- |\n..."
    ```
    """
    return markdown_table([[str(cell) for cell in row] for row in rows], header)


def write_results(output, markdown, payload):
    """Writes `markdown` to `<output>.md` and `payload` to `<output>.json`, making the folder."""
    output = pathlib.Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.with_suffix(".md").write_text(markdown + "\n")
    output.with_suffix(".json").write_text(json.dumps(payload, indent=1))


def cifar_photos(archive_path, count, size):
    """The first `count` CIFAR-10 test photos of the JPEG archive (`cifar10-jpeg.tar.gz` of
    ../shared/datasets), resized to `size` x `size`, in [-1, 1], float32."""
    import tensorflow as tf  # only the scripts that need photos pay for TensorFlow here

    images = []
    with tarfile.open(archive_path) as archive:
        for member in archive:
            if "/test/" in member.name and member.name.endswith(".jpg"):
                images.append(tf.io.decode_jpeg(archive.extractfile(member).read()))
                if len(images) == count:
                    break
    resized = tf.image.resize(tf.cast(tf.stack(images), tf.float32), (size, size))
    return (resized.numpy() / 127.5 - 1).astype(np.float32)
