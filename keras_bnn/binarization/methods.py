"""The binarization methods `binarize` knows: each paper's quantizers for its binary layers.

```python
METHODS["recu"].reference  # "Xu et al., ReCU: Reviving the Dead Weights ..., ICCV 2021, ..."
```

- `"bnn"`: `ste_sign` inputs and weights, `weight_clip` (Courbariaux et al., Binarized
  Neural Networks, 2016, https://arxiv.org/abs/1602.02830; the baseline of this package's
  zoo);
- `"recu"`: `keras_bnn.layers.ReCUConv2D`, ReCU's clamp with weight standardization and its
  activation binarizer, τ a variable that `keras_bnn.callbacks.TauScheduler` moves (Xu et
  al., ReCU: Reviving the Dead Weights in Binary Neural Networks, ICCV 2021,
  https://arxiv.org/abs/2103.12369);
- `"binaryduo"`: `TernarySign` inputs, `ste_sign` weights, `weight_clip`: BinaryDuo's stage
  1, ready for `keras_bnn.decouple` (Kim et al., BinaryDuo: Reducing Gradient Mismatch in
  Binary Activation Network by Coupling Binary Activations, ICLR 2020,
  https://arxiv.org/abs/2002.06517).
"""

import dataclasses

from keras_bnn.quantizers import TAU_START, check_tau

__all__ = ["METHODS", "Method", "resolve_method"]

# The quantizer options of `binarize` that replace a method's, and ReCU's one.
_QUANTIZER_OVERRIDES = {"input_quantizer", "kernel_quantizer", "kernel_constraint"}
_RECU_OVERRIDES = {"tau"}


@dataclasses.dataclass(frozen=True)
class Method:
    """How `binarize` quantizes: the quantizers of its binary layers, and the paper.

    ```python
    import keras_bnn
    import tensorflow as tf
    from keras_bnn.binarization import Method

    model = tf.keras.Sequential([
        tf.keras.Input((28, 28, 1)),
        tf.keras.layers.Conv2D(16, 3, name="conv1"),
        tf.keras.layers.Conv2D(32, 3, name="conv2"),
        tf.keras.layers.GlobalAveragePooling2D(),
        tf.keras.layers.Dense(10, name="logits"),
    ])
    mine = Method("mine", input_quantizer="approx_sign", kernel_quantizer="ste_sign",
                  kernel_constraint="weight_clip", reference="my experiment")
    binary = keras_bnn.binarize(model, mine)
    binary.get_layer("conv2").input_quantizer  # larq's ApproxSign
    ```

    # Attributes
        name: What the report calls it (`"bnn"`).
        input_quantizer, kernel_quantizer, kernel_constraint: Of the binary
            `QuantConv2D` / `QuantDense` layers (larq names or objects).
        reference: The paper: authors, title, venue, link.
        tau: ReCU's initial τ: convs become `keras_bnn.layers.ReCUConv2D`, with their own
            quantizers (the three above are then not used); None for larq layers.
    """

    name: str
    input_quantizer: object
    kernel_quantizer: object
    kernel_constraint: object
    reference: str
    tau: float | None = None


METHODS = {
    "bnn": Method("bnn", "ste_sign", "ste_sign", "weight_clip",
                  "Courbariaux et al., Binarized Neural Networks, 2016, "
                  "https://arxiv.org/abs/1602.02830"),
    "recu": Method("recu", "recu_activation", "recu", None,
                   "Xu et al., ReCU: Reviving the Dead Weights in Binary Neural Networks, "
                   "ICCV 2021, https://arxiv.org/abs/2103.12369", tau=TAU_START),
    "binaryduo": Method("binaryduo", "ternary_sign", "ste_sign", "weight_clip",
                        "Kim et al., BinaryDuo, ICLR 2020, https://arxiv.org/abs/2002.06517"),
}


def resolve_method(method: str | Method, overrides: dict) -> Method:
    """The `Method` that `binarize(model, method, **overrides)` binarizes with.

    ```python
    resolve_method("bnn", {"input_quantizer": "approx_sign"}).input_quantizer  # approx_sign
    resolve_method("recu", {"tau": 0.9}).tau                                    # 0.9
    ```

    # Arguments
        method: A name of `METHODS`, or a `Method`.
        overrides: `input_quantizer`, `kernel_quantizer` and `kernel_constraint` replace the
            method's; for ReCU (a method with `tau`), only `tau`.

    # Returns
        The method with the overrides applied.

    # Raises
        ValueError: for an unknown method name, an override the method does not take, or
            a τ outside `(0.5, 1]`.
    """
    if not isinstance(method, Method):
        if method not in METHODS:
            raise ValueError(f"Unknown method {method!r}; expected one of {sorted(METHODS)} "
                             "or a keras_bnn.binarization.Method.")
        method = METHODS[method]
    recu = method.tau is not None
    allowed = _RECU_OVERRIDES if recu else _QUANTIZER_OVERRIDES
    unknown = set(overrides) - allowed
    if unknown:
        raise ValueError(
            f"binarize(method={method.name!r}) takes the overrides {sorted(allowed)}, not "
            f"{sorted(unknown)}" + (": ReCUConv2D has its own quantizers; use method='bnn' "
                                    "with your quantizers instead." if recu else ".")
        )
    if "tau" in overrides:
        check_tau(overrides["tau"])
    return dataclasses.replace(method, **overrides)
