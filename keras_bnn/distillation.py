"""Real-to-Binary's distillation: attention matching and logit matching, and `Distiller`,
which trains a student against a frozen teacher with `model.fit`.

A binary student learns from a real-valued (or less binary) teacher by matching, at the
end of every block, where in the image its activations are strong (attention maps), and
the teacher's output distribution.

```python
import tensorflow as tf
from keras_bnn.distillation import attention_matching_loss, logit_distillation_loss

student_blocks = [tf.random.normal((2, 8, 8, 16)), tf.random.normal((2, 4, 4, 32))]
teacher_blocks = [tf.random.normal((2, 8, 8, 64)), tf.random.normal((2, 4, 4, 128))]
student_logits, teacher_logits = tf.random.normal((2, 10)), tf.random.normal((2, 10))
loss = attention_matching_loss(student_blocks, teacher_blocks)
loss += logit_distillation_loss(student_logits, teacher_logits, temperature=1.0)
```

References:
- Martinez et al., [Training Binary Neural Networks with Real-to-Binary
  Convolutions](https://arxiv.org/abs/2003.11535), ICLR 2020, Section 4.2 (Eq. 4 and 5).
- Attention maps: Zagoruyko and Komodakis, [Paying More Attention to
  Attention](https://arxiv.org/abs/1612.03928), ICLR 2017.
- Logit distillation: Hinton et al., [Distilling the Knowledge in a Neural
  Network](https://arxiv.org/abs/1503.02531), 2015.
"""

from collections.abc import Callable, Sequence
from typing import Any

from keras_bnn._keras import keras, tf

__all__ = ["Distiller", "attention_map", "attention_matching_loss",
           "logit_distillation_loss"]


def attention_map(activations: tf.Tensor) -> tf.Tensor:
    r"""The normalised spatial attention of an activation volume.

    \\( Q = \sum_c |A_c|^2 \\) over the channels of `activations` (batch, H, W, C),
    flattened per sample and divided by its L2 norm: `(batch, H * W)` unit vectors.

    ```python
    import tensorflow as tf
    from keras_bnn.distillation import attention_map

    maps = attention_map(tf.random.normal((2, 8, 8, 16)))  # shape (2, 64), unit rows
    ```

    # Arguments
        activations: A (batch, H, W, C) tensor.

    # Returns
        A (batch, H * W) tensor.

    # References
        - Zagoruyko and Komodakis, [Paying More Attention to
          Attention](https://arxiv.org/abs/1612.03928), ICLR 2017.
    """
    energy = tf.reduce_sum(tf.square(activations), axis=-1)
    flat = tf.reshape(energy, (tf.shape(energy)[0], -1))
    return tf.math.l2_normalize(flat, axis=-1)


def attention_matching_loss(student_activations: Sequence[tf.Tensor],
                            teacher_activations: Sequence[tf.Tensor]) -> tf.Tensor:
    r"""Real-to-Binary's attention matching loss, summed over the matched blocks.

    \\[
    \mathcal{L}_{att} = \sum_j \left\| \frac{Q_S^j}{\|Q_S^j\|_2} -
    \frac{Q_T^j}{\|Q_T^j\|_2} \right\|_2, \qquad Q = \sum_c |A_c|^2
    \\]

    averaged over the batch; zero when the student's maps equal the teacher's.

    ```python
    import tensorflow as tf
    from keras_bnn.distillation import attention_matching_loss

    student = [tf.random.normal((2, 8, 8, 16))]
    teacher = [tf.random.normal((2, 8, 8, 64))]       # channels may differ, H and W not
    attention_matching_loss(student, teacher)         # a scalar > 0
    attention_matching_loss(student, student)         # about 0
    ```

    # Arguments
        student_activations: The student's activations at the end of each block, a list of
            (batch, H, W, C) tensors.
        teacher_activations: The teacher's at the same places (same H and W; C may differ).

    # Returns
        A scalar tensor.

    # Raises
        ValueError: for lists of different lengths or empty ones, or maps of other sizes.

    # References
        - Martinez et al., [Training Binary Neural Networks with Real-to-Binary
          Convolutions](https://arxiv.org/abs/2003.11535), ICLR 2020, Section 4.2.
    """
    if not student_activations or len(student_activations) != len(teacher_activations):
        raise ValueError(
            f"attention_matching_loss needs one teacher activation per student activation, "
            f"got {len(student_activations)} and {len(teacher_activations)}."
        )
    total = 0.0
    for student, teacher in zip(student_activations, teacher_activations):
        if student.shape[1:3] != teacher.shape[1:3]:
            raise ValueError(f"Attention maps must have the same size: the student's "
                             f"{tuple(student.shape[1:3])}, the teacher's "
                             f"{tuple(teacher.shape[1:3])}.")
        difference = attention_map(student) - attention_map(teacher)
        # sqrt(sum + tiny): the norm's gradient stays finite where the maps agree.
        total += tf.reduce_mean(tf.sqrt(tf.reduce_sum(tf.square(difference), axis=-1) + 1e-12))
    return total


def logit_distillation_loss(student_logits: tf.Tensor, teacher_logits: tf.Tensor,
                            temperature: float = 1.0) -> tf.Tensor:
    r"""Logit matching: `T² KL(softmax(teacher / T) || softmax(student / T))`, batch mean.

    ```python
    import tensorflow as tf
    from keras_bnn.distillation import logit_distillation_loss

    logits = tf.random.normal((4, 10))
    logit_distillation_loss(logits, logits)                        # 0
    logit_distillation_loss(tf.zeros((4, 10)), logits, temperature=2.0)  # > 0
    ```

    # Arguments
        student_logits: The student's (batch, classes) logits.
        teacher_logits: The teacher's, of the same shape.
        temperature: Softening temperature `T > 0`.

    # Returns
        A scalar tensor, zero when the logits are equal.

    # Raises
        ValueError: for a temperature <= 0.

    # References
        - Martinez et al., [Training Binary Neural Networks with Real-to-Binary
          Convolutions](https://arxiv.org/abs/2003.11535), ICLR 2020, Section 4.2.
        - Hinton et al., [Distilling the Knowledge in a Neural
          Network](https://arxiv.org/abs/1503.02531), 2015.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}.")
    teacher = tf.nn.softmax(teacher_logits / temperature)
    student_log = tf.nn.log_softmax(student_logits / temperature)
    teacher_log = tf.nn.log_softmax(teacher_logits / temperature)
    divergence = tf.reduce_sum(teacher * (teacher_log - student_log), axis=-1)
    return temperature ** 2 * tf.reduce_mean(divergence)


class Distiller(keras.Model):
    """A student trained by `model.fit` to match a frozen teacher, Real-to-Binary style.

    The loss of a step is the compiled loss on the labels (the student's own task loss),
    plus `attention_weight` times the attention matching loss between the outputs of the
    paired layers, plus `distillation_weight` times the logit distillation loss between the
    two models' outputs (logits). Inference, evaluation and saving are the student's:
    save `distiller.student`.

    ```python
    import numpy as np
    import tensorflow as tf
    from keras_bnn.distillation import Distiller

    def small_model(name):
        inputs = tf.keras.Input((8, 8, 3))
        x = tf.keras.layers.Conv2D(8, 3, padding="same", name="block1_out")(inputs)
        x = tf.keras.layers.GlobalAveragePooling2D()(x)
        return tf.keras.Model(inputs, tf.keras.layers.Dense(10)(x), name=name)

    student, teacher = small_model("student"), small_model("teacher")
    distiller = Distiller(student, teacher, [("block1_out", "block1_out")],
                          attention_weight=1.0, distillation_weight=1.0)
    distiller.compile("adam", tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
    distiller.fit(np.zeros((4, 8, 8, 3)), np.zeros(4), epochs=1, verbose=0)
    distiller.student.save("student.keras")
    ```

    # Arguments
        student: The model being trained (functional, outputs logits).
        teacher: A trained model with the same inputs; it is not trained.
        layer_pairs: `(student layer name, teacher layer name)` pairs whose outputs
            (batch, H, W, C) are matched by attention.
        attention_weight: Weight of the attention matching loss (β in the paper).
        distillation_weight: Weight of the logit distillation loss.
        temperature: Temperature of the logit distillation.

    # Raises
        ValueError: for a layer name that the student or the teacher does not have.

    # References
        - Martinez et al., [Training Binary Neural Networks with Real-to-Binary
          Convolutions](https://arxiv.org/abs/2003.11535), ICLR 2020, Section 4.2.
    """

    def __init__(self, student: keras.Model, teacher: keras.Model,
                 layer_pairs: Sequence[tuple[str, str]] = (), *, attention_weight: float = 1.0,
                 distillation_weight: float = 1.0, temperature: float = 1.0,
                 **kwargs: Any) -> None:
        super().__init__(name=kwargs.pop("name", f"{student.name}_distiller"), **kwargs)
        self.student, self.teacher = student, teacher
        self.teacher.trainable = False
        self.attention_weight = attention_weight
        self.distillation_weight = distillation_weight
        self.temperature = temperature
        self._student_taps = _taps(student, [s for s, _ in layer_pairs], "student")
        self._teacher_taps = _taps(teacher, [t for _, t in layer_pairs], "teacher")

    def call(self, inputs: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        return self.student(inputs, training=training)

    def train_step(self, data: tuple) -> dict[str, tf.Tensor]:
        images, labels = data[:2]
        teacher_maps, teacher_logits = self._teacher_taps(images, training=False)
        with tf.GradientTape() as tape:
            student_maps, logits = self._student_taps(images, training=True)
            task = self.compute_loss(images, labels, logits)
            attention = (attention_matching_loss(student_maps, teacher_maps)
                         if student_maps else tf.constant(0.0))
            distillation = logit_distillation_loss(logits, teacher_logits, self.temperature)
            loss = task + self.attention_weight * attention + \
                self.distillation_weight * distillation
        variables = self.student.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        results = self.compute_metrics(images, labels, logits, None)
        return {**results, "loss": loss, "attention_loss": attention,
                "distillation_loss": distillation}


def _taps(model: keras.Model, names: list[str],
          role: str) -> Callable[[tf.Tensor, bool], tuple[list[tf.Tensor], tf.Tensor]]:
    """A function `images, training -> ([outputs of the named layers], model output)`."""
    missing = [name for name in names if name not in {layer.name for layer in model.layers}]
    if missing:
        raise ValueError(f"The {role} {model.name!r} has no layers {missing}; name layers "
                         f"of its top level.")
    tapped = keras.Model(model.inputs, [model.get_layer(name).output for name in names]
                         + [model.output])

    def run(images: tf.Tensor, training: bool) -> tuple[list[tf.Tensor], tf.Tensor]:
        outputs = tapped(images, training=training)
        outputs = outputs if isinstance(outputs, list) else [outputs]
        return outputs[:-1], outputs[-1]

    return run
