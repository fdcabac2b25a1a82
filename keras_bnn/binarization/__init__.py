"""binarize(): a float Keras model becomes a binary one, with the usual pitfalls handled.

Every `Conv2D` and `Dense` layer (but the first and the last, by default) becomes a larq
`QuantConv2D` / `QuantDense` with a method's quantizers (ReCU: `ReCUConv2D`), and the
mistakes that hand-written conversions make are fixed on the way:

- **Constant binary inputs.** A binary layer whose input comes from a ReLU, sigmoid,
  softmax or another activation >= 0 (directly, or through pooling, padding, dropout,
  flatten or reshape layers) would see all +1 once binarized: it reads the activation's
  input instead, or, after a merge of such tensors, its input centred by a new
  `BatchNormalization` (`constant_inputs`).
- **Padding.** Binary convs pad with +1 (`pad_values=1.0`), which Larq Compute Engine
  packs and BinaryDuo's decoupling needs; zeros would binarize to +1 in training anyway.
- **First and last layers** stay full precision (`keep_full_precision="first_last"`), as
  in every paper this package implements.
- **Weights.** Latent weights start from the float weights (`copy_weights=True`), scaled
  into the weight clip's range where the method clips; ReCU's conv, which has no bias,
  moves its bias into the BatchNorm that follows (`weights`).
- Layers that cannot be binarized (depthwise, separable, transposed, 1D/3D and grouped
  convs; ReCU convs with a bias and no BatchNorm after them; ReCU's dense layers) stay
  full precision, and the report says why.

```python
import keras_bnn
import numpy as np
import tensorflow as tf

float_model = tf.keras.Sequential([
    tf.keras.Input((28, 28, 1)),
    tf.keras.layers.Conv2D(16, 3, name="conv1"),
    tf.keras.layers.BatchNormalization(),
    tf.keras.layers.ReLU(),
    tf.keras.layers.Conv2D(32, 3, name="conv2"),
    tf.keras.layers.BatchNormalization(),
    tf.keras.layers.ReLU(),
    tf.keras.layers.GlobalAveragePooling2D(),
    tf.keras.layers.Dense(10, name="logits"),
])
binary = keras_bnn.binarize(float_model, "recu", verbose=True)  # prints the report
binary.compile("adam", tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
binary.fit(np.random.rand(8, 28, 28, 1), np.random.randint(0, 10, 8), verbose=0)
print(binary.binarization_report)  # binarize(method='recu'): 1 layers binarized, ...
```

Methods (`METHODS`, in `methods`): `"bnn"` (BNN, Courbariaux et al. 2016), `"recu"` (ReCU,
ICCV 2021) and `"binaryduo"` (BinaryDuo's stage 1, ICLR 2020).

The modules: `methods` (the quantizers of each method), `graph_rewrite` (which layers
become what), `constant_inputs` (the constant-input fix), `weights` (the float weights into
the binary model), `config_edits` (config edits they share), `report` (what changed).
"""

from keras_bnn._keras import keras
from keras_bnn.binarization import weights
from keras_bnn.binarization.graph_rewrite import binarize_graph, names_to_keep
from keras_bnn.binarization.methods import METHODS, Method, resolve_method
from keras_bnn.binarization.report import BinarizationReport, LayerChange
from keras_bnn.graphs import as_functional

__all__ = ["METHODS", "BinarizationReport", "LayerChange", "Method", "binarize"]


def binarize(model: keras.Model, method: str | Method = "bnn", *,
             keep_full_precision: str | list[str] = "first_last", copy_weights: bool = True,
             verbose: bool = False, **overrides: object) -> keras.Model:
    """Turns a float Keras model into a binary one with the method's quantizers.

    ```python
    import keras_bnn
    import tensorflow as tf

    float_model = tf.keras.Sequential([
        tf.keras.Input((28, 28, 1)),
        tf.keras.layers.Conv2D(16, 3, name="conv1"),
        tf.keras.layers.BatchNormalization(),
        tf.keras.layers.Conv2D(32, 3, name="conv2"),
        tf.keras.layers.BatchNormalization(),
        tf.keras.layers.Conv2D(32, 3, name="conv3"),
        tf.keras.layers.BatchNormalization(),
        tf.keras.layers.GlobalAveragePooling2D(),
        tf.keras.layers.Dense(10, name="logits"),
    ])
    binary = keras_bnn.binarize(float_model, "recu", verbose=True)  # prints the report
    binary = keras_bnn.binarize(float_model, method="bnn", input_quantizer="approx_sign")
    binary.binarization_report.binarized  # ['conv2', 'conv3']: the first and last stay float
    ```

    The methods (`METHODS`):

    - `"bnn"`: [Binarized Neural Networks](https://arxiv.org/abs/1602.02830) (Courbariaux
      et al., 2016): `ste_sign` inputs and weights, `weight_clip`;
    - `"recu"`: [ReCU: Reviving the Dead Weights in Binary Neural
      Networks](https://arxiv.org/abs/2103.12369) (Xu et al., ICCV 2021): `ReCUConv2D`;
    - `"binaryduo"`: [BinaryDuo](https://arxiv.org/abs/2002.06517) (Kim et al., ICLR 2020):
      ternary inputs, `ste_sign` weights, stage 1 before `keras_bnn.decouple`.

    # Arguments
        model: A Sequential or functional model (residual and nested ones too), built (with
            known input shapes): `tf_keras`, or Keras 3 (`import keras`; rebuilt in
            `tf_keras` with its weights by `keras_bnn.keras3.to_tf_keras`).
        method: `"bnn"`, `"recu"` or `"binaryduo"`, or a `Method`.
        keep_full_precision: `"first_last"` (the first and last Conv2D/Dense layer stay
            float, the default), `"none"`, or a list of layer names.
        copy_weights: Start from the float model's weights (else fresh initial weights).
        verbose: Print the report.
        **overrides: `input_quantizer`, `kernel_quantizer`, `kernel_constraint` replace the
            method's (not with `"recu"`, whose conv has its own), `tau` sets ReCU's initial τ.

    # Returns
        A new functional model (the input model is unchanged), with the report as its
        `binarization_report` attribute (a `BinarizationReport`).

    # Raises
        ValueError: for an unknown method, override or layer name in `keep_full_precision`,
            for a subclassed model, or when no layer could be binarized.
    """
    method = resolve_method(method, overrides)
    functional = as_functional(model, "binarize()")
    keep = names_to_keep(keep_full_precision, functional)
    changes = []
    binary, bias_folds = binarize_graph(functional, method, keep, changes)
    if not any(change.now for change in changes):
        raise ValueError(
            f"binarize() found no layer to binarize in {model.name!r}: it binarizes Conv2D "
            "and Dense layers, and keeps the first and last full precision by default "
            "(keep_full_precision='none' binarizes them too)."
        )
    if copy_weights:
        weights.copy_weights(functional, binary, method, bias_folds)
    binary.binarization_report = BinarizationReport(method.name, changes)
    if verbose:
        print(binary.binarization_report)
    return binary
