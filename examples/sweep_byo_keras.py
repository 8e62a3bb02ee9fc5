"""`mixkit sweep` on a Keras 3 model (TensorFlow backend), mixing with the `mixkit.keras` layers.

The sweep calls ``fit`` once per trial with the strategy's mixkit transform (``None`` for no mixing).
Its settings (``alpha``, ``lam_mode``) are handed to the Keras layer of the same method, which mixes
every batch of a ``tf.data`` pipeline. ``fit`` returns ``predict(X)`` -> class probabilities.

Run it (with keras and tensorflow installed):  python examples/sweep_byo_keras.py
or, from the examples folder:  mixkit sweep --train sweep_byo_keras:fit --data digits
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import numpy as np
import tensorflow as tf

import mixkit
import mixkit.keras

KERAS_LAYERS = {mixkit.MixUp: mixkit.keras.MixUp, mixkit.CutMix: mixkit.keras.CutMix}


def keras_mixer(transform, num_classes, seed):
    """The mixkit.keras layer doing what the sweep's ``transform`` does (None: no mixing)."""
    if transform is None:
        return None
    layer = KERAS_LAYERS.get(type(transform))
    if layer is None:
        raise ValueError(
            f"this example has Keras layers for MixUp and CutMix, not {type(transform).__name__}"
        )
    options = {"lam_mode": transform.lam_mode, "num_classes": num_classes, "seed": seed}
    if layer is mixkit.keras.CutMix:
        options["data_format"] = "channels_last"
    else:
        options["k"] = transform.k  # mixup:k=3 in --methods: n-way MixUp in the layer too
    return layer(transform.alpha, **options)


def build_model(input_shape, num_classes):
    """Your model: a small CNN on channels-last images."""
    return keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(num_classes),
        ]
    )


def fit(transform, X_train, y_train, *, seed, device, num_classes, epochs=30, batch_size=32):
    """Train on ``X_train`` (N, C, H, W) and ``y_train`` (N,); TensorFlow picks the device itself."""
    keras.utils.set_random_seed(seed)  # same initial weights and batch order for every strategy
    x = np.moveaxis(X_train, 1, -1)  # (N, C, H, W) -> (N, H, W, C), Keras' default layout
    mixer = keras_mixer(transform, num_classes, seed)
    batch_size = min(batch_size, len(x))
    data = (
        tf.data.Dataset.from_tensor_slices((x, y_train))
        .shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size, drop_remainder=True)
    )
    if mixer is None:
        data = data.map(lambda xb, yb: (xb, tf.one_hot(yb, num_classes)))
    else:
        data = data.map(lambda xb, yb: mixer(xb, yb))  # mixed images and soft targets
    model = build_model(x.shape[1:], num_classes)
    model.compile(
        optimizer=keras.optimizers.AdamW(3e-3, weight_decay=5e-4),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True),
    )
    model.fit(data, epochs=epochs, verbose=0)

    def predict(X_eval):
        logits = model.predict(np.moveaxis(X_eval, 1, -1), verbose=0)
        return keras.ops.convert_to_numpy(keras.ops.softmax(logits, axis=-1))

    return predict


if __name__ == "__main__":
    result = mixkit.sweep(
        "digits",
        train=fit,
        methods="none,mixup,cutmix:alpha=1.0",
        alphas="0.2,0.4",
        seeds=5,
        out="mixkit-output/sweep-byo-keras",
    )
    print(result.statement)
