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
    LayerChange("conv2", "Conv2D", "QuantConv2D", ["pads with +1 (pad_values=1.0)"])
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
    report = binary.binarization_report
    report.binarized  # ['conv2d_1', 'conv2d_2']
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
