"""Real-to-Binary's distillation losses: attention matching and logit matching.

A binary student learns from a real-valued (or less binary) teacher by matching, at the
end of every block, where in the image its activations are strong (attention maps), and
the teacher's output distribution.

```python
loss = attention_matching_loss([student_block1, student_block2],
                               [teacher_block1, teacher_block2])
loss += logit_distillation_loss(student_logits, teacher_logits, temperature=1.0)
```

References:
- [Training Binary Neural Networks with Real-to-Binary
  Convolutions](https://arxiv.org/abs/2003.11535), Section 4.2 (Eq. 4 and 5).
- Attention maps: [Paying More Attention to Attention](https://arxiv.org/abs/1612.03928).
"""

from keras_bnn._keras import tf

__all__ = ["attention_map", "attention_matching_loss", "logit_distillation_loss"]


def attention_map(activations):
    r"""The normalised spatial attention of an activation volume.

    \\( Q = \sum_c |A_c|^2 \\) over the channels of `activations` (batch, H, W, C),
    flattened per sample and divided by its L2 norm: `(batch, H * W)` unit vectors.
    """
    energy = tf.reduce_sum(tf.square(activations), axis=-1)
    flat = tf.reshape(energy, (tf.shape(energy)[0], -1))
    return tf.math.l2_normalize(flat, axis=-1)


def attention_matching_loss(student_activations, teacher_activations):
    r"""Real-to-Binary's attention matching loss, summed over the matched blocks.

    \\[
    \mathcal{L}_{att} = \sum_j \left\| \frac{Q_S^j}{\|Q_S^j\|_2} -
    \frac{Q_T^j}{\|Q_T^j\|_2} \right\|_2, \qquad Q = \sum_c |A_c|^2
    \\]

    averaged over the batch; zero when the student's maps equal the teacher's.

    # Arguments
        student_activations: The student's activations at the end of each block, a list of
            (batch, H, W, C) tensors.
        teacher_activations: The teacher's at the same places (same H and W; C may differ).

    # Returns
        A scalar tensor.

    # Raises
        ValueError: for lists of different lengths or empty ones, or maps of other sizes.
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


def logit_distillation_loss(student_logits, teacher_logits, temperature=1.0):
    r"""Logit matching: `T² KL(softmax(teacher / T) || softmax(student / T))`, batch mean.

    # Arguments
        student_logits, teacher_logits: (batch, classes) logits.
        temperature: Softening temperature `T > 0`.

    # Returns
        A scalar tensor, zero when the logits are equal.

    # Raises
        ValueError: for a temperature <= 0.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}.")
    teacher = tf.nn.softmax(teacher_logits / temperature)
    student_log = tf.nn.log_softmax(student_logits / temperature)
    teacher_log = tf.nn.log_softmax(teacher_logits / temperature)
    divergence = tf.reduce_sum(teacher * (teacher_log - student_log), axis=-1)
    return temperature ** 2 * tf.reduce_mean(divergence)
