"""Real-to-Binary's pieces: the learned rescaling and the data-driven gate (values,
gradients, saving, Larq Compute Engine export beside a binary conv) and the attention
matching and logit distillation losses against NumPy."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from keras_bnn import export
from keras_bnn.distillation import (Distiller, attention_matching_loss,
                                    logit_distillation_loss)
from keras_bnn.layers import DataDrivenGate, LearnedRescaling

pytestmark = pytest.mark.unit

RNG = np.random.default_rng(0)


def numpy_attention_loss(students, teachers):
    total = 0.0
    for student, teacher in zip(students, teachers):
        maps = []
        for activations in (student, teacher):
            q = (np.abs(activations) ** 2).sum(axis=-1).reshape(len(activations), -1)
            maps.append(q / np.linalg.norm(q, axis=-1, keepdims=True))
        total += np.linalg.norm(maps[0] - maps[1], axis=-1).mean()
    return total


def test_attention_loss_matches_numpy_and_is_zero_for_identical_networks():
    students = [RNG.normal(size=(4, 8, 8, 16)), RNG.normal(size=(4, 4, 4, 32))]
    teachers = [RNG.normal(size=(4, 8, 8, 24)), RNG.normal(size=(4, 4, 4, 64))]
    got = attention_matching_loss([tf.constant(a, tf.float32) for a in students],
                                  [tf.constant(a, tf.float32) for a in teachers])
    np.testing.assert_allclose(got.numpy(), numpy_attention_loss(students, teachers), rtol=1e-5)
    same = [tf.constant(a, tf.float32) for a in students]
    assert float(attention_matching_loss(same, same)) < 1e-5
    # Scale does not matter, only where the energy is: 3 x A matches A.
    assert float(attention_matching_loss(same, [3.0 * a for a in same])) < 1e-5


def test_attention_loss_gradient_is_finite_and_pulls_the_student_towards_the_teacher():
    student = tf.Variable(RNG.normal(size=(2, 4, 4, 8)), dtype=tf.float32)
    teacher = tf.constant(RNG.normal(size=(2, 4, 4, 8)), tf.float32)
    losses = []
    for _ in range(20):
        with tf.GradientTape() as tape:
            loss = attention_matching_loss([student], [teacher])
        gradient = tape.gradient(loss, student)
        assert np.isfinite(gradient.numpy()).all()
        student.assign_sub(2.0 * gradient)
        losses.append(float(loss))
    assert losses[-1] < 0.5 * losses[0]
    with tf.GradientTape() as tape:
        tape.watch(teacher)
        loss = attention_matching_loss([teacher], [teacher])
    assert np.isfinite(tape.gradient(loss, teacher).numpy()).all()


@pytest.mark.parametrize("students, teachers, message", [
    ([tf.zeros((1, 4, 4, 2))], [], "one teacher activation per student"),
    ([tf.zeros((1, 4, 4, 2))], [tf.zeros((1, 2, 2, 2))], "the same size"),
])
def test_attention_loss_refuses_mismatched_inputs(students, teachers, message):
    with pytest.raises(ValueError, match=message):
        attention_matching_loss(students, teachers)


@pytest.mark.parametrize("temperature", [1.0, 4.0])
def test_logit_distillation_is_the_scaled_kl_divergence(temperature):
    student, teacher = RNG.normal(size=(5, 10)), RNG.normal(size=(5, 10))

    def softmax(z):
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    p, q = softmax(teacher / temperature), softmax(student / temperature)
    expected = temperature**2 * (p * np.log(p / q)).sum(axis=-1).mean()
    got = logit_distillation_loss(tf.constant(student), tf.constant(teacher), temperature)
    np.testing.assert_allclose(float(got), expected, rtol=1e-5)
    assert abs(float(logit_distillation_loss(tf.constant(teacher), tf.constant(teacher)))) < 1e-6
    with pytest.raises(ValueError, match="temperature must be > 0"):
        logit_distillation_loss(tf.constant(student), tf.constant(teacher), 0.0)


def test_learned_rescaling_multiplies_by_the_outer_product_of_its_factors():
    layer = LearnedRescaling()
    x = RNG.normal(size=(2, 3, 4, 5)).astype(np.float32)
    np.testing.assert_allclose(layer(x), x)  # factors start at 1
    alpha, beta, gamma = RNG.normal(size=5), RNG.normal(size=3), RNG.normal(size=4)
    layer.channel_scale.assign(alpha)
    layer.row_scale.assign(beta.reshape(3, 1, 1))
    layer.column_scale.assign(gamma.reshape(4, 1))
    expected = x * beta[:, None, None] * gamma[None, :, None] * alpha[None, None, :]
    np.testing.assert_allclose(layer(x), expected, rtol=1e-5)
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(layer(x))
    grads = tape.gradient(y, layer.trainable_weights)
    assert [g.shape for g in grads] == [(5,), (3, 1, 1), (4, 1)]
    with pytest.raises(ValueError, match="known size"):
        LearnedRescaling()(tf.keras.Input((None, None, 3)))


def test_data_driven_gate_scales_each_channel_by_the_sigmoid_of_the_real_input():
    real = RNG.normal(size=(2, 6, 6, 16)).astype(np.float32)
    outputs = RNG.normal(size=(2, 3, 3, 8)).astype(np.float32)
    gate = DataDrivenGate()
    got = gate([real, outputs]).numpy()
    squeeze, excite = gate.squeeze.numpy(), gate.excite.numpy()
    assert squeeze.shape == (16, 2) and excite.shape == (2, 8)  # reduction 8
    hidden = np.maximum(real.mean(axis=(1, 2)) @ squeeze, 0)
    factors = 1 / (1 + np.exp(-(hidden @ excite)))
    np.testing.assert_allclose(got, outputs * factors[:, None, None, :], rtol=1e-5)
    with tf.GradientTape() as tape:
        tape.watch(tf.constant(real))
        y = tf.reduce_sum(gate([real, outputs]))
    assert all(g is not None for g in tape.gradient(y, gate.trainable_weights))
    with pytest.raises(ValueError, match="reduction >= 1"):
        DataDrivenGate(reduction=0)


def gated_block():
    inputs = tf.keras.Input((8, 8, 16))
    real = tf.keras.layers.BatchNormalization()(inputs)
    binary = lq.layers.QuantConv2D(16, 3, padding="same", pad_values=1.0, use_bias=False,
                                   input_quantizer="ste_sign", kernel_quantizer="ste_sign",
                                   kernel_constraint="weight_clip")(real)
    binary = LearnedRescaling()(binary)
    outputs = DataDrivenGate()([real, binary])
    return tf.keras.Model(inputs, tf.keras.layers.Add()([inputs, outputs]))


def test_gated_binary_conv_saves_and_exports_with_the_gate_in_float(tmp_path):
    model = gated_block()
    for layer in model.layers:
        if isinstance(layer, (LearnedRescaling, DataDrivenGate)):
            layer.set_weights([RNG.uniform(0.5, 1.5, w.shape) for w in layer.get_weights()])
    images = RNG.normal(size=(4, 8, 8, 16)).astype(np.float32)
    model.save(tmp_path / "gated.keras")
    reloaded = tf.keras.models.load_model(tmp_path / "gated.keras")
    np.testing.assert_allclose(reloaded(images), model(images), rtol=1e-6)

    result = export.convert(model, sample_inputs=images)  # strict and verified
    assert result.ops["LceBconv2d"] == 1
    assert result.ops["LOGISTIC"] == 1  # the gate's sigmoid, in float


def small_net(name, input_quantizer=None, normalize=True):
    inputs = tf.keras.Input((8, 8, 3))
    x = tf.keras.layers.Conv2D(8, 3, padding="same", name="stem")(inputs)
    block_end = (tf.keras.layers.BatchNormalization(name="block1") if normalize
                 else tf.keras.layers.Activation("linear", name="block1"))
    x = block_end(lq.layers.QuantConv2D(8, 3, padding="same", pad_values=1.0,
                                        input_quantizer=input_quantizer, name="conv")(x))
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    return tf.keras.Model(inputs, tf.keras.layers.Dense(4, name="logits")(x), name=name)


def compiled(distiller):
    distiller.compile(tf.keras.optimizers.Adam(1e-2),
                      tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
    return distiller


def test_distiller_trains_the_student_only_and_pulls_it_towards_the_teacher():
    teacher = small_net("teacher")
    student = small_net("student", input_quantizer="ste_sign")
    images = RNG.normal(size=(32, 8, 8, 3)).astype(np.float32)
    labels = np.arange(32) % 4
    teacher_weights = [w.copy() for w in teacher.get_weights()]
    distiller = compiled(Distiller(student, teacher, [("block1", "block1")],
                                   attention_weight=10.0, distillation_weight=1.0))
    history = distiller.fit(images, labels, batch_size=32, epochs=30, verbose=0).history
    assert history["attention_loss"][-1] < 0.5 * history["attention_loss"][0]
    assert history["distillation_loss"][-1] < history["distillation_loss"][0]
    assert "accuracy" in history
    for before, after in zip(teacher_weights, teacher.get_weights()):
        np.testing.assert_array_equal(before, after)
    np.testing.assert_allclose(distiller.predict(images, verbose=0),
                               student.predict(images, verbose=0), rtol=1e-6)


def test_distiller_of_a_student_equal_to_its_teacher_has_zero_distillation_losses():
    teacher = small_net("teacher", normalize=False)  # no BatchNorm: no training-mode change
    student = tf.keras.models.clone_model(teacher)
    student.set_weights(teacher.get_weights())
    images = RNG.normal(size=(8, 8, 8, 3)).astype(np.float32)
    distiller = compiled(Distiller(student, teacher, [("block1", "block1"), ("stem", "stem")]))
    logs = distiller.train_on_batch(images, np.arange(8) % 4, return_dict=True)
    assert logs["attention_loss"] < 1e-4 and abs(logs["distillation_loss"]) < 1e-6


def test_distiller_refuses_a_layer_it_cannot_find():
    with pytest.raises(ValueError, match=r"has no layers \['nope'\]"):
        Distiller(small_net("s"), small_net("t"), [("block1", "nope")])
