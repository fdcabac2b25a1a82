"""What `binarize` did, layer by layer: a `LayerChange` each, in a `BinarizationReport`.

```python
report = keras_bnn.binarize(model, "recu").binarization_report
print(report)                     # binarize(method='recu'): 4 layers binarized, ...
report.kept_full_precision        # {'conv1': 'kept full precision as asked ...', ...}
```
"""

import dataclasses

__all__ = ["BinarizationReport", "LayerChange"]


@dataclasses.dataclass
class LayerChange:
    """What `binarize` did to one layer.

    ```python
    import keras_bnn
    import tensorflow as tf
    from keras_bnn.binarization import LayerChange

    model = tf.keras.Sequential([
        tf.keras.Input((28, 28, 1)),
        tf.keras.layers.Conv2D(16, 3, name="conv1"),
        tf.keras.layers.Conv2D(32, 3, padding="same", name="conv2"),
        tf.keras.layers.GlobalAveragePooling2D(),
        tf.keras.layers.Dense(10, name="logits"),
    ])
    change = keras_bnn.binarize(model).binarization_report.changes[1]
    change  # LayerChange(layer='conv2', was='Conv2D', now='QuantConv2D', notes=[...])
    assert isinstance(change, LayerChange)
    ```

    # Attributes
        layer: Its name.
        was: Its class name in the float model.
        now: Its class name in the binary model; None when kept full precision.
        notes: What was fixed on the way; for a layer kept full precision, why (first).
    """

    layer: str
    was: str
    now: str | None
    notes: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class BinarizationReport:
    """Layer by layer, what `binarize` changed, kept full precision (and why) and fixed.

    ```python
    import keras_bnn
    import tensorflow as tf

    model = tf.keras.Sequential([
        tf.keras.Input((28, 28, 1)),
        tf.keras.layers.Conv2D(16, 3, name="conv1"),
        tf.keras.layers.Conv2D(32, 3, name="conv2"),
        tf.keras.layers.Conv2D(32, 3, name="conv3"),
        tf.keras.layers.GlobalAveragePooling2D(),
        tf.keras.layers.Dense(10, name="logits"),
    ])
    report = keras_bnn.binarize(model).binarization_report
    report.binarized  # ['conv2', 'conv3']
    report.kept_full_precision  # {'conv1': 'kept full precision as asked ...', 'logits': ...}
    ```

    # Attributes
        method: The name of the `Method` binarized with.
        changes: A `LayerChange` for every Conv2D/Dense-like layer, in the model's order.
    """

    method: str
    changes: list[LayerChange]

    @property
    def binarized(self) -> list[str]:
        """The names of the layers that became binary."""
        return [change.layer for change in self.changes if change.now]

    @property
    def kept_full_precision(self) -> dict[str, str]:
        """`{layer: reason}` for every Conv2D/Dense-like layer left in full precision."""
        return {change.layer: change.notes[0] for change in self.changes if not change.now}

    def __str__(self) -> str:
        lines = [f"binarize(method={self.method!r}): {len(self.binarized)} layers binarized"]
        for change in self.changes:
            now = f"-> {change.now}" if change.now else "kept full precision"
            lines.append(f"  {change.layer} ({change.was}) {now}")
            lines += [f"      {note}" for note in change.notes]
        return "\n".join(lines)
