"""Quantizers of BinaryDuo (ICLR 2020), ReCU (ICCV 2021) and Real-to-Binary (ICLR 2020), as
larq quantizers.

Each quantizer is a larq quantizer: it has an integer `precision` (read by
`lq.models.summary` and by larq's optimizers), supports larq's `flip_ratio` metric, and
is registered so that its class name, its snake_case alias and `"keras_bnn>ClassName"`
all resolve through `lq.quantizers.get` and models using it load without
`custom_objects`. Every binarizer is built from `lq.math.sign`, a pattern that Larq
Compute Engine converts into bit-packed binary operations.

All values live in the ±1 domain, with `sign(0) = +1` (larq's convention).

```python
import keras_bnn  # sets up TensorFlow with Keras 2 before anything else
import larq as lq
import tensorflow as tf

x = tf.keras.Input((16, 16, 64))
x = lq.layers.QuantConv2D(
    64, 3, padding="same", pad_values=1.0,
    input_quantizer="ternary_sign",     # BinaryDuo, stage 1
    kernel_quantizer="ste_sign", kernel_constraint="weight_clip",
)(x)
x = lq.layers.QuantConv2D(
    64, 3, padding="same", pad_values=1.0,
    input_quantizer="recu_activation",  # ReCU
    kernel_quantizer="recu",
)(x)
```
"""

import math
from collections.abc import Callable
from typing import Any

from keras_bnn._keras import LarqBaseQuantizer, keras, lq, register_serializable, tf

__all__ = [
    "TAU_END",
    "TAU_START",
    "ReCU",
    "ReCUActivation",
    "TanhSign",
    "TernarySign",
    "QUANTIZER_NAMES",
    "check_quantizer",
    "check_tau",
    "clamp_and_binarize",
    "recu",
    "recu_activation",
    "recu_threshold",
    "standardize_kernel",
    "ternary_sign",
]

# ReCU's τ schedule: τ starts at TAU_START and grows to TAU_END during training (Xu et al.,
# ReCU, ICCV 2021, Section 4, https://arxiv.org/abs/2103.12369); every default τ of the
# package is one of these.
TAU_START = 0.85
TAU_END = 0.99

# The variance epsilon of the ReCU official code, for weights and activations alike.
_VARIANCE_EPSILON = 1e-5


def _unbiased_variance(x: tf.Tensor, axis: list[int]) -> tf.Tensor:
    """Variance with Bessel's correction, as PyTorch's `Tensor.var` in the official code."""
    variance = tf.math.reduce_variance(x, axis=axis, keepdims=True)
    count = tf.cast(tf.size(x) // tf.size(variance), x.dtype)
    return variance * count / tf.maximum(count - 1.0, 1.0)


# The names `larq.quantizers.get` resolves: larq's quantizers, then this module's.
QUANTIZER_NAMES = ("approx_sign", "dorefa_quantizer", "magnitude_aware_sign",
                   "ste_heaviside", "ste_sign", "ste_tern", "swish_sign",
                   "recu", "recu_activation", "tanh_sign", "ternary_sign")


def check_quantizer(quantizer: str | Callable | None,
                    argument: str = "quantizer") -> str | Callable | None:
    """Returns `quantizer` after checking that larq can resolve it.

    ```python
    from keras_bnn.quantizers import check_quantizer

    assert check_quantizer("ste_sign", "input_quantizer") == "ste_sign"
    try:
        check_quantizer("bogus", "input_quantizer")
    except ValueError as error:
        print(error)  # input_quantizer='bogus' is not a quantizer; use one of approx_sign, ...
    ```

    # Arguments
        quantizer: None, a quantizer name (one of `QUANTIZER_NAMES`), or a quantizer.
        argument: The argument it was given as, named in the error.

    # Returns
        `quantizer`, unchanged.

    # Raises
        ValueError: for a name or object larq does not know as a quantizer.
    """
    try:
        lq.quantizers.get(quantizer)
    except ValueError:
        raise ValueError(
            f"{argument}={quantizer!r} is not a quantizer; use one of "
            f"{', '.join(QUANTIZER_NAMES)} (or a larq quantizer object)."
        ) from None
    return quantizer


def check_tau(tau: float | tf.Tensor | tf.Variable) -> float:
    """Returns ReCU's τ as a float after checking that it lies in `(0.5, 1]`.

    ```python
    import tensorflow as tf
    from keras_bnn.quantizers import check_tau

    assert check_tau(tf.Variable(0.75)) == 0.75
    try:
        check_tau(0.4)
    except ValueError as error:
        print(error)  # `tau` must be in (0.5, 1] ...
    ```

    # Arguments
        tau: A float, or a scalar tensor or variable.

    # Returns
        τ as a Python float.

    # Raises
        ValueError: if τ is outside `(0.5, 1]`: `Q(τ) = -b ln(2 - 2τ)` is then not positive.
    """
    value = float(keras.backend.get_value(tau))
    if not 0.5 < value <= 1.0:
        raise ValueError(
            f"`tau` must be in (0.5, 1] (the quantile at which ReCU clamps weights; "
            f"1 disables the clamp), got {value}."
        )
    return value


def _training_branch(training: bool | tf.Tensor | None, if_training: Callable[[], tf.Tensor],
                     otherwise: Callable[[], tf.Tensor]) -> tf.Tensor:
    """`if_training()` when `training` is true, else `otherwise()`; `training` may be a tensor."""
    if training is None:
        return otherwise()
    static_training = tf.get_static_value(training) if tf.is_tensor(training) else training
    if static_training is None:
        return tf.cond(tf.cast(training, tf.bool), if_training, otherwise)
    return if_training() if static_training else otherwise()


# --------------------------------------------------------------------------------------
# BinaryDuo: ternary activation


def ternary_sign(x: tf.Tensor, threshold: float = 0.5,
                 clip_value: float | None = 1.0) -> tf.Tensor:
    r"""Ternary activation of BinaryDuo with a straight-through gradient.

    \\[
    q(x) = \tfrac{1}{2}\left(\mathrm{sign}(x + t) + \mathrm{sign}(x - t)\right) =
    \begin{cases} +1 & x \geq t \\\ 0 & -t \leq x < t \\\ -1 & x < -t \end{cases}
    \qquad
    \frac{\partial q}{\partial x} = \begin{cases} 1 & |x| \leq \texttt{clip_value} \\\
    0 & \text{else} \end{cases}
    \\]

    ```python
    import tensorflow as tf
    from keras_bnn.quantizers import ternary_sign

    ternary_sign(tf.constant([-0.9, -0.2, 0.0, 0.5, 2.0]))  # [-1., 0., 0., 1., 1.]
    ```

    # Arguments
        x: Input tensor.
        threshold: `t`, the threshold between 0 and ±1 (inclusive, as in the official code's
            round-half-up).
        clip_value: Half-width of the straight-through window; `None` passes every gradient.

    # Returns
        A tensor of -1, 0 and +1 with the shape and dtype of `x`.

    # References
        - Kim et al., [BinaryDuo: Reducing Gradient Mismatch in Binary Activation Network by
          Coupling Binary Activations](https://arxiv.org/abs/2002.06517), ICLR 2020.
    """

    @tf.custom_gradient
    def _ternary(x):
        def grad(dy):
            if clip_value is None:
                return dy
            return tf.where(tf.abs(x) <= clip_value, dy, tf.zeros_like(dy))

        return 0.5 * (lq.math.sign(x + threshold) + lq.math.sign(x - threshold)), grad

    return _ternary(x)


@register_serializable("ternary_sign")
class TernarySign(LarqBaseQuantizer):
    r"""BinaryDuo's ternary activation, `0.5 * (sign(x + t) + sign(x - t))` (precision 2).

    Forward: exactly -1, 0 or +1 (`+1 if x >= t`, `0 if -t <= x < t`, `-1 if x < -t`).
    Backward: straight-through estimator, gradient 1 where `|x| <= clip_value`, else 0.
    A network trained with it is turned into a binary one by decoupling every ternary
    activation into the two binary activations `sign(x + t)` and `sign(x - t)`.

    !!! warning
        Larq Compute Engine cannot run ternary activations (it silently converts this
        pattern into `sign(x + t)`); decouple the model before exporting it.

    ```python
    import keras_bnn
    import larq as lq

    layer = lq.layers.QuantConv2D(
        32, 3, padding="same", pad_values=1.0,
        input_quantizer=keras_bnn.quantizers.TernarySign(threshold=0.5),
        kernel_quantizer="ste_sign", kernel_constraint="weight_clip",
    )
    ```

    # Arguments
        threshold: `t`, in `(0, clip_value)`. BinaryDuo uses 0.5.
        clip_value: Half-width of the straight-through window, greater than `threshold`;
            `None` passes every gradient.
        **kwargs: As for larq's quantizers, e.g. `metrics` to add to the layer
            (`["flip_ratio"]`).

    # Raises
        ValueError: if `threshold` is not in `(0, clip_value)`.

    # References
        - Kim et al., [BinaryDuo: Reducing Gradient Mismatch in Binary Activation Network by
          Coupling Binary Activations](https://arxiv.org/abs/2002.06517), ICLR 2020.
    """

    precision = 2

    def __init__(self, threshold: float = 0.5, clip_value: float | None = 1.0,
                 **kwargs: Any) -> None:
        upper = math.inf if clip_value is None else clip_value
        if not 0 < threshold < upper:
            raise ValueError(
                f"`threshold` must be in (0, clip_value) = (0, {clip_value}), got "
                f"{threshold}: a threshold outside the straight-through window would "
                "never pass a gradient to the inputs that switch between levels."
            )
        self.threshold = threshold
        self.clip_value = clip_value
        super().__init__(**kwargs)

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        outputs = ternary_sign(inputs, threshold=self.threshold, clip_value=self.clip_value)
        return super().call(outputs)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "threshold": self.threshold,
            "clip_value": self.clip_value,
        }


# --------------------------------------------------------------------------------------
# ReCU: kernel quantizer


def standardize_kernel(kernel: tf.Tensor, center: bool = True, b_star: float = 2.0) -> tf.Tensor:
    r"""Per-output-channel weight standardization of ReCU.

    \\[
    w_0 = w - \mathrm{mean}_c(w), \qquad
    w_1 = \frac{w_0}{\sqrt{\mathrm{var}_c(w_0) + 10^{-5}}}\, b^\ast \sqrt{2}
    \\]

    so that every output channel has standard deviation `b* * sqrt(2)`, the standard
    deviation of a Laplace distribution with scale `b*`. Statistics are taken over every
    axis but the last (the output channels); the variance uses Bessel's correction like
    PyTorch's `Tensor.var` in the official code.

    ```python
    import tensorflow as tf
    from keras_bnn.quantizers import standardize_kernel

    w1 = standardize_kernel(tf.random.normal((3, 3, 16, 8)))
    tf.math.reduce_std(w1, axis=[0, 1, 2])  # about 2 * sqrt(2) = 2.83 per output channel
    ```

    # Arguments
        kernel: Latent weights, output channels last (`(kh, kw, in, out)` or `(in, out)`).
        center: Subtract the per-channel mean first (the official code does; the paper
            calls it optional).
        b_star: Target Laplace scale `b*`; the paper and code use 2.

    # Returns
        The standardized kernel `w1`, differentiable with respect to `kernel`.

    # References
        - Xu et al., [ReCU: Reviving the Dead Weights in Binary Neural
          Networks](https://arxiv.org/abs/2103.12369), ICCV 2021, Eq. 16-19 and the official
          code.
    """
    axis = list(range(kernel.shape.rank - 1))
    if center:
        kernel = kernel - tf.reduce_mean(kernel, axis=axis, keepdims=True)
    std = tf.sqrt(_unbiased_variance(kernel, axis) + _VARIANCE_EPSILON)
    return kernel / std * (b_star * math.sqrt(2.0))


def recu_threshold(standardized_kernel: tf.Tensor,
                   tau: float | tf.Tensor | tf.Variable) -> tf.Tensor:
    r"""The clamp `Q(tau) = -b * ln(2 - 2 tau)` of ReCU, with `b = mean(|w1|)`.

    `Q(tau)` is the `tau`-quantile of a Laplace distribution of scale `b`, estimated over the
    whole layer. `tau = 1` gives `+inf` (no clamp). As in the official code, no gradient
    flows through `Q`.

    ```python
    import tensorflow as tf
    from keras_bnn.quantizers import recu_threshold, standardize_kernel

    w1 = standardize_kernel(tf.random.normal((3, 3, 16, 8)))
    q = recu_threshold(w1, 0.85)  # mean|w1| * ln(1 / 0.3), about 2.7 here
    ```

    # Arguments
        standardized_kernel: `w1`, the output of `standardize_kernel`.
        tau: Quantile in `(0.5, 1]`, a float or a scalar tensor or variable.

    # Returns
        A scalar tensor, the clamp value `Q(tau) >= 0`.

    # References
        - Xu et al., [ReCU: Reviving the Dead Weights in Binary Neural
          Networks](https://arxiv.org/abs/2103.12369), ICCV 2021, Eq. 5 and 21.
    """
    dtype = standardized_kernel.dtype
    tau = tf.cast(tau, dtype)
    laplace_scale = tf.reduce_mean(tf.abs(tf.stop_gradient(standardized_kernel)))
    no_clamp = tau >= 1.0
    # The `tf.where` keeps `0 * inf = nan` (all-equal weights with tau = 1) out of Q.
    safe_tau = tf.where(no_clamp, tf.zeros_like(tau), tau)
    quantile = -laplace_scale * tf.math.log(2.0 - 2.0 * safe_tau)
    return tf.where(no_clamp, tf.constant(math.inf, dtype), quantile)


@tf.custom_gradient
def _sign_with_identity_gradient(x: tf.Tensor) -> tuple[tf.Tensor, Callable]:
    return lq.math.sign(x), lambda dy: dy


def clamp_and_binarize(standardized_kernel: tf.Tensor,
                       tau: float | tf.Tensor | tf.Variable) -> tf.Tensor:
    r"""The second half of ReCU: `sign(clip(w1, -Q(tau), Q(tau)))`.

    The gradient with respect to `w1` is the incoming gradient where `|w1| <= Q(tau)`
    (identity straight-through estimator through the sign) and exactly 0 where the clamp
    is active.

    ```python
    import tensorflow as tf
    from keras_bnn.quantizers import clamp_and_binarize, standardize_kernel

    w1 = standardize_kernel(tf.random.normal((3, 3, 16, 8)))
    signs = clamp_and_binarize(w1, tau=0.85)  # ±1, the shape of w1
    ```

    # Arguments
        standardized_kernel: `w1`, the output of `standardize_kernel`.
        tau: Quantile in `(0.5, 1]` (float, tensor or variable); 1 disables the clamp.

    # Returns
        A tensor of ±1 with the shape of `standardized_kernel`.

    # References
        - Xu et al., [ReCU: Reviving the Dead Weights in Binary Neural
          Networks](https://arxiv.org/abs/2103.12369), ICCV 2021, Eq. 6.
    """
    clamp = recu_threshold(standardized_kernel, tau)
    return _sign_with_identity_gradient(
        tf.clip_by_value(standardized_kernel, -clamp, clamp)
    )


def recu(kernel: tf.Tensor, tau: float | tf.Tensor | tf.Variable = TAU_START, center: bool = True,
         b_star: float = 2.0) -> tf.Tensor:
    r"""ReCU's binary weights: standardize, clamp to `±Q(tau)`, take the sign.

    \\[
    w_2 = \mathrm{clip}(w_1, -Q(\tau), Q(\tau)), \qquad q(w) = \mathrm{sign}(w_2)
    \\]

    The forward output is exactly ±1 and equals `sign(w - mean_c(w))` (clamping and
    positive scaling keep signs): ReCU acts through the backward pass. The gradient goes
    through `sign` unchanged (identity straight-through estimator), is zero for weights
    clamped at `±Q(tau)`, and then flows through the standardization by automatic
    differentiation, exactly as in the official code.

    ```python
    import tensorflow as tf
    from keras_bnn.quantizers import recu

    kernel = tf.Variable(tf.random.normal((3, 3, 16, 8)))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(recu(kernel, tau=0.85) * tf.random.normal((3, 3, 16, 8)))
    gradient = tape.gradient(loss, kernel)  # zero where the clamp is active
    ```

    # Arguments
        kernel: Latent weights, output channels last.
        tau: Quantile in `(0.5, 1]` (float, tensor or variable); 1 disables the clamp.
        center: See `standardize_kernel`.
        b_star: See `standardize_kernel`.

    # Returns
        A tensor of ±1 with the shape of `kernel`.

    # References
        - Xu et al., [ReCU: Reviving the Dead Weights in Binary Neural
          Networks](https://arxiv.org/abs/2103.12369), ICCV 2021.
    """
    standardized = standardize_kernel(kernel, center=center, b_star=b_star)
    return clamp_and_binarize(standardized, tau)


@register_serializable("recu")
class ReCU(LarqBaseQuantizer):
    r"""ReCU's kernel quantizer: standardization, Laplace-quantile clamp, sign (precision 1).

    Forward: `sign(clip(w1, -Q(tau), Q(tau)))` with `w1` the per-output-channel standardized
    kernel (std `b* * sqrt(2)`) and `Q(tau) = -b * ln(2 - 2 tau)`, `b = mean|w1|`; the result
    is exactly ±1 and equals `sign(w - mean_c(w))`. Backward: identity through the sign,
    zero outside the clamp, automatic differentiation through the standardization. Pair it
    with a learnable per-output-channel scale (the official code's `alpha`) after the conv.

    `tau` may be a Python float or a `tf.Variable` owned by the caller (a layer, and the
    `TauScheduler` callback that moves it from 0.85 to 0.99 during training); the quantizer
    reads it at every call and stores its current value in `get_config`.

    ```python
    import keras_bnn
    import larq as lq
    import tensorflow as tf

    tau = tf.Variable(0.85, trainable=False)
    layer = lq.layers.QuantConv2D(
        64, 3, padding="same", pad_values=1.0,
        input_quantizer="recu_activation",
        kernel_quantizer=keras_bnn.quantizers.ReCU(tau=tau),
    )
    tau.assign(0.99)  # the next forward pass clamps at Q(0.99)
    ```

    # Arguments
        tau: Quantile in `(0.5, 1]`; 1 disables the clamp. The paper's schedule runs from
            0.85 to 0.99.
        center: Subtract the per-output-channel mean before standardizing (official code).
        b_star: Laplace scale `b* > 0` that standardization aims for; 2 in paper and code.
        **kwargs: As for larq's quantizers, e.g. `metrics` to add to the layer
            (`["flip_ratio"]`).

    # Raises
        ValueError: if `tau` is not in `(0.5, 1]` or `b_star <= 0`.

    # References
        - Xu et al., [ReCU: Reviving the Dead Weights in Binary Neural
          Networks](https://arxiv.org/abs/2103.12369), ICCV 2021.
    """

    precision = 1

    def __init__(self, tau: float | tf.Variable = TAU_START, center: bool = True,
                 b_star: float = 2.0, **kwargs: Any) -> None:
        check_tau(tau)
        if not b_star > 0:
            raise ValueError(f"`b_star` must be > 0, got {b_star}.")
        super().__init__(**kwargs)
        self._tau = tau
        self.center = center
        self.b_star = b_star

    @property
    def tau(self) -> float:
        """The current τ as a Python float."""
        return float(keras.backend.get_value(self._tau))

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        outputs = recu(inputs, tau=self._tau, center=self.center, b_star=self.b_star)
        return super().call(outputs)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "tau": self.tau,
            "center": self.center,
            "b_star": self.b_star,
        }


# --------------------------------------------------------------------------------------
# ReCU: activation binarizer


def recu_activation(x: tf.Tensor, training: bool | tf.Tensor | None = False) -> tf.Tensor:
    r"""ReCU's activation binarizer: sign forward, ApproxSign backward on `a0`.

    \\[
    a_0 = \begin{cases} a / \sqrt{\mathrm{var}(a) + 10^{-5}} & \text{training} \\\
    a & \text{inference} \end{cases}, \qquad q(a) = \mathrm{sign}(a_0) = \mathrm{sign}(a),
    \qquad \frac{\partial q}{\partial a_0} = \max(0, 2 - 2|a_0|)
    \\]

    The variance is per sample, over every axis but the batch axis (H, W, C), without
    centering the input. The gradient with respect to `a` is that ApproxSign gradient
    carried back through the division, as automatic differentiation does in the official
    code (a `1/std` factor plus a small coupling term through the variance).

    ```python
    import tensorflow as tf
    from keras_bnn.quantizers import recu_activation

    x = tf.random.normal((2, 4, 4, 8))
    signs = recu_activation(x, training=True)  # sign(x): ±1, the shape of x
    ```

    # Arguments
        x: Input tensor, batch axis first.
        training: Whether to standardize (a Python bool or a boolean tensor).

    # Returns
        A tensor of ±1 with the shape of `x`.

    # References
        - Xu et al., [ReCU: Reviving the Dead Weights in Binary Neural
          Networks](https://arxiv.org/abs/2103.12369), ICCV 2021 (official code);
        - ApproxSign: Liu et al., [Bi-Real Net](https://arxiv.org/abs/1808.00278), ECCV 2018.
    """

    def standardized():
        axis = list(range(1, x.shape.rank))
        return x / tf.sqrt(_unbiased_variance(x, axis) + _VARIANCE_EPSILON)

    return lq.quantizers.approx_sign(_training_branch(training, standardized, lambda: x))


@register_serializable("recu_activation")
class ReCUActivation(LarqBaseQuantizer):
    r"""ReCU's activation binarizer (precision 1).

    Forward: `sign(a)`, exactly ±1. Backward: ApproxSign, `g * max(0, 2 - 2|a0|)` with
    respect to `a0 = a / sqrt(var(a) + 1e-5)` (per sample over H, W, C, no centering) in
    training and `a0 = a` at inference, then through the division as in the official code.
    At inference the graph is a plain `lq.math.sign`, which Larq Compute Engine converts.

    ```python
    import keras_bnn
    import larq as lq

    layer = lq.layers.QuantConv2D(
        64, 3, padding="same", pad_values=1.0,
        input_quantizer=keras_bnn.quantizers.ReCUActivation(),
        kernel_quantizer="recu",
    )
    ```

    It takes larq's quantizer options, e.g. `metrics=["flip_ratio"]`.

    # References
        - Xu et al., [ReCU: Reviving the Dead Weights in Binary Neural
          Networks](https://arxiv.org/abs/2103.12369), ICCV 2021.
    """

    precision = 1

    def call(self, inputs: tf.Tensor, training: bool | tf.Tensor | None = None) -> tf.Tensor:
        return super().call(recu_activation(inputs, training=training))


# --------------------------------------------------------------------------------------
# Real-to-Binary: the soft sign of the first, real-valued stage


@register_serializable("tanh_sign")
class TanhSign(LarqBaseQuantizer):
    r"""A real-valued stand-in for `sign`: `tanh(x)`, with its own gradient (precision 32).

    Real-to-Binary trains its binary network progressively; the first stage has the
    architecture of the binary network with every `sign` of the activations softened to
    `tanh`, so that the next stage (binary activations) starts from a network whose
    activations already sit near ±1.

    ```python
    import keras_bnn
    import larq as lq

    layer = lq.layers.QuantConv2D(64, 3, padding="same", pad_values=1.0,
                                  input_quantizer="tanh_sign")
    ```

    It takes larq's quantizer options, e.g. `metrics=["flip_ratio"]`.

    # References
        - Martinez et al., [Training Binary Neural Networks with Real-to-Binary
          Convolutions](https://arxiv.org/abs/2003.11535), ICLR 2020, Section 4.2; larq-zoo's
          `RealToBinaryNet` stage 1.
    """

    precision = 32

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        return super().call(tf.tanh(inputs))
