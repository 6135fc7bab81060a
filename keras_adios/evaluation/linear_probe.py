"""Linear probe on frozen (precomputed) features, trained with `fit`."""

import math

import keras
import numpy as np
from keras import ops

from keras_adios.evaluation._utils import as_features
from keras_adios.evaluation._utils import as_labels
from keras_adios.evaluation._utils import check_positive_int
from keras_adios.evaluation._utils import resolve_num_classes
from keras_adios.evaluation._utils import to_numpy

_OPTIMIZERS = ("adam", "sgd", "lars")
_DEFAULT_LEARNING_RATES = {"adam": 1e-2, "sgd": 0.1, "lars": 0.1}


def linear_probe(
    train_features,
    train_labels,
    test_features=None,
    test_labels=None,
    num_classes=None,
    epochs=100,
    batch_size=256,
    learning_rate=None,
    optimizer="adam",
    weight_decay=0.0,
    standardize=True,
    seed=0,
    verbose=0,
    return_classifier=False,
):
    """Trains a linear classifier on frozen features and reports accuracy.

    The classifier is `Dense(num_classes)` on the features, trained with
    softmax cross-entropy by `keras.Model.fit`. With `standardize=True` the
    features are first standardised with the *train* mean and standard
    deviation (a fixed `keras.layers.Normalization` layer inside the
    returned classifier, so it takes raw features).

    Optimisers (`optimizer=`):

    - `"adam"` (default): Adam, `learning_rate=1e-2` cosine-decayed to 0
      over training. The problem is convex and the features standardised,
      so this converges reliably without tuning, also on small sets with
      few steps; hence the default.
    - `"sgd"`: the authors' schedule without LARS: PyTorch-style SGD
      (`v = 0.9 v + g; w -= lr v`), `learning_rate=0.1`, multiplied by 0.1
      at 60 % and 80 % of the epochs (epochs 60 and 80 of 100).
    - `"lars"`: the authors' protocol (`main_linear.py`): as `"sgd"` with the
      gradient of every kernel (ndim > 1) rescaled by the LARS trust ratio
      `0.001 * ||w|| / ||g||` (no clipping); biases are not rescaled. Meant
      for raw features (`standardize=False`) as in the authors' code.

    The authors train 100 epochs, batch 128, on augmented images through
    the frozen backbone; this probe trains on fixed precomputed features
    (no augmentation), which is much cheaper and standard for monitoring.

    The kernel starts at zero (the problem is convex), and the per-epoch
    shuffling uses `np.random.default_rng(seed)`, so training is
    deterministic given `seed`.

    Args:
        train_features: array `(num_train, D)`.
        train_labels: int array `(num_train,)` (or one-hot).
        test_features: array `(num_test, D)` or None.
        test_labels: int array `(num_test,)` or None.
        num_classes: int or None. Defaults to the largest label + 1.
        epochs: int. Number of epochs.
        batch_size: int. Training batch size.
        learning_rate: float or None. Defaults to 1e-2 for `"adam"` and 0.1
            for `"sgd"`/`"lars"`.
        optimizer: `"adam"`, `"sgd"` or `"lars"` (see above).
        weight_decay: float. Decoupled weight decay (0, as the authors).
        standardize: bool. Standardise features with train statistics.
        seed: int. Seed of the per-epoch shuffling.
        verbose: int. Verbosity of `fit`.
        return_classifier: bool. Also return the trained classifier.

    Returns:
        A dict of Python numbers: `train_accuracy`, `train_loss`, and, when
        test data is given, `test_accuracy` and `test_loss`, plus
        `num_classes`, `epochs`, `learning_rate` and the string `optimizer`.
        With `return_classifier=True`, a tuple `(results, classifier)` where
        `classifier` is a `keras.Model` mapping raw features `(B, D)` to
        logits `(B, num_classes)`.

    Example:

    >>> import numpy as np
    >>> from keras_adios.evaluation import linear_probe
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(200, 8)).astype("float32")
    >>> y = (x[:, 0] > 0).astype("int64")
    >>> results = linear_probe(
    ...     x[:150], y[:150], x[150:], y[150:], epochs=20, batch_size=16
    ... )
    >>> results["test_accuracy"] > 0.9
    True
    """
    train_features = as_features(train_features, "train_features")
    train_labels = as_labels(
        train_labels, "train_labels", num_samples=train_features.shape[0]
    )
    if (test_features is None) != (test_labels is None):
        raise ValueError(
            "Pass both `test_features` and `test_labels`, or neither. "
            f"Received: test_features is None={test_features is None}, "
            f"test_labels is None={test_labels is None}"
        )
    if test_features is not None:
        test_features = as_features(test_features, "test_features")
        test_labels = as_labels(
            test_labels, "test_labels", num_samples=test_features.shape[0]
        )
        if test_features.shape[0] == 0:
            raise ValueError(
                "`test_features` must not be empty. Received: 0 rows"
            )
        if test_features.shape[1] != train_features.shape[1]:
            raise ValueError(
                "`train_features` and `test_features` must have the same "
                f"dimension. Received: train_features.shape="
                f"{train_features.shape}, test_features.shape="
                f"{test_features.shape}"
            )
    if train_features.shape[0] == 0:
        raise ValueError("`train_features` must not be empty. Received: 0 rows")
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    if optimizer not in _OPTIMIZERS:
        raise ValueError(
            f"`optimizer` must be one of {_OPTIMIZERS}. Received: "
            f"optimizer={optimizer!r}"
        )
    if learning_rate is None:
        learning_rate = _DEFAULT_LEARNING_RATES[optimizer]
    if not learning_rate > 0:
        raise ValueError(
            "`learning_rate` must be > 0. Received: "
            f"learning_rate={learning_rate}"
        )
    num_classes = resolve_num_classes(num_classes, train_labels, test_labels)

    x_train = train_features.astype("float32", copy=False)
    num_train = x_train.shape[0]
    steps_per_epoch = math.ceil(num_train / batch_size)

    classifier = _build_classifier(x_train, num_classes, standardize)
    classifier.compile(
        optimizer=linear_probe_optimizer(
            optimizer,
            float(learning_rate),
            epochs,
            steps_per_epoch,
            weight_decay=float(weight_decay),
        ),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    classifier.fit(
        _shuffled_batches(x_train, train_labels, batch_size, epochs, seed),
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        shuffle=False,  # the generator shuffles, with `seed`
        verbose=verbose,
    )

    # The classifier is affine: evaluate it in NumPy (no predict retracing).
    results = {}
    logits = _numpy_logits(classifier, x_train)
    results["train_accuracy"] = _accuracy(logits, train_labels)
    results["train_loss"] = _cross_entropy(logits, train_labels)
    if test_features is not None:
        logits = _numpy_logits(classifier, test_features)
        results["test_accuracy"] = _accuracy(logits, test_labels)
        results["test_loss"] = _cross_entropy(logits, test_labels)
    results.update(
        {
            "num_classes": int(num_classes),
            "epochs": int(epochs),
            "learning_rate": float(learning_rate),
            "optimizer": optimizer,
        }
    )
    if return_classifier:
        return results, classifier
    return results


def _build_classifier(x_train, num_classes, standardize):
    inputs = keras.Input((x_train.shape[1],), name="features")
    x = inputs
    if standardize:
        mean = np.mean(x_train, axis=0, dtype=np.float64)
        variance = np.var(x_train, axis=0, dtype=np.float64)
        # Constant features: leave them centred but unscaled.
        variance = np.where(variance < 1e-12, 1.0, variance)
        x = keras.layers.Normalization(
            mean=mean.astype("float32"),
            variance=variance.astype("float32"),
            name="standardize",
        )(x)
    logits = keras.layers.Dense(
        num_classes,
        kernel_initializer="zeros",
        bias_initializer="zeros",
        name="logits",
    )(x)
    return keras.Model(inputs, logits, name="linear_probe")


def _numpy_logits(classifier, features, chunk_size=8192):
    try:
        layer = classifier.get_layer("standardize")
    except ValueError:
        layer = None
    mean, std = 0.0, 1.0
    if layer is not None:
        mean = to_numpy(layer.mean).reshape(-1).astype(np.float64)
        std = np.sqrt(to_numpy(layer.variance).reshape(-1).astype(np.float64))
        std = np.maximum(std, keras.backend.epsilon())
    dense = classifier.get_layer("logits")
    kernel = to_numpy(dense.kernel).astype(np.float64)
    bias = to_numpy(dense.bias).astype(np.float64)
    logits = [
        ((features[i : i + chunk_size].astype(np.float64) - mean) / std)
        @ kernel
        + bias
        for i in range(0, features.shape[0], chunk_size)
    ]
    return np.concatenate(logits, axis=0)


def _shuffled_batches(x, y, batch_size, epochs, seed):
    rng = np.random.default_rng(seed)
    n = x.shape[0]
    for _ in range(epochs):
        order = rng.permutation(n)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            yield x[idx], y[idx]


def linear_probe_optimizer(name, learning_rate, epochs, steps_per_epoch, weight_decay=0.0, milestones=None):
    """The optimizer of the linear-evaluation protocol, for `linear_probe` and `examples/linear_eval.py`.

    `"lars"` is the authors' protocol (`main_linear.py`): PyTorch-style SGD
    (momentum 0.9) whose gradients of weight matrices are scaled by LARS'
    trust ratio (eta 1e-3, no clipping), the learning rate x0.1 at the
    `milestones` epochs (default 60 % and 80 % of `epochs`); `"sgd"` is the
    same without LARS; `"adam"` is Adam with a cosine decay to 0.

    Args:
        name: "adam", "sgd" or "lars".
        learning_rate: float, the initial learning rate.
        epochs: int, training epochs.
        steps_per_epoch: int, batches per epoch (the schedule steps per batch).
        weight_decay: float, L2 weight decay (0: none, the authors' setting).
        milestones: optional epochs at which "sgd"/"lars" decay by 0.1.

    Example:

    ```python
    optimizer = keras_adios.evaluation.linear_probe_optimizer("lars", 0.1, epochs=100, steps_per_epoch=390)
    ```
    """
    total_steps = epochs * steps_per_epoch
    weight_decay = weight_decay or None
    if name == "adam":
        schedule = keras.optimizers.schedules.CosineDecay(
            learning_rate, decay_steps=total_steps
        )
        return keras.optimizers.Adam(schedule, weight_decay=weight_decay)
    if milestones is None:
        milestones = [max(1, int(0.6 * epochs)), max(1, int(0.8 * epochs))]
    milestones = [int(m) * steps_per_epoch for m in milestones]
    schedule = _StepDecay(learning_rate, milestones, factor=0.1)
    return _TorchStyleSGD(
        schedule,
        momentum=0.9,
        lars_eta=1e-3 if name == "lars" else None,
        weight_decay=weight_decay,
    )


def _accuracy(logits, labels):
    return float(np.mean(np.argmax(logits, axis=-1) == labels))


def _cross_entropy(logits, labels):
    logits = logits.astype(np.float64)
    logits = logits - logits.max(axis=1, keepdims=True)
    log_z = np.log(np.sum(np.exp(logits), axis=1))
    return float(np.mean(log_z - logits[np.arange(labels.shape[0]), labels]))


class _StepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """`lr * factor ** (number of milestones <= step)`."""

    def __init__(self, initial_learning_rate, milestones, factor=0.1):
        self.initial_learning_rate = float(initial_learning_rate)
        self.milestones = [int(m) for m in milestones]
        self.factor = float(factor)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        num_decays = 0.0
        for milestone in self.milestones:
            num_decays = num_decays + ops.cast(
                ops.greater_equal(step, float(milestone)), "float32"
            )
        return self.initial_learning_rate * ops.power(self.factor, num_decays)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "milestones": self.milestones,
            "factor": self.factor,
        }


class _TorchStyleSGD(keras.optimizers.Optimizer):
    """SGD with PyTorch momentum (`v = m v + g; w -= lr v`) and optional LARS.

    With `lars_eta`, the gradient of each variable with ndim > 1 is
    multiplied by `lars_eta * ||w|| / (||g|| + 1e-8)` (no clipping) when both
    norms are non-zero, as solo-learn's LARS wrapper with `clip=False`.
    """

    def __init__(
        self,
        learning_rate=0.1,
        momentum=0.9,
        lars_eta=None,
        name="torch_style_sgd",
        **kwargs,
    ):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.momentum = float(momentum)
        self.lars_eta = None if lars_eta is None else float(lars_eta)

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self.momentums = [
            self.add_variable_from_reference(v, name="momentum")
            for v in variables
        ]

    def update_step(self, gradient, variable, learning_rate):
        learning_rate = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        if self.lars_eta is not None and len(variable.shape) > 1:
            w_norm = ops.sqrt(ops.sum(ops.square(variable)))
            g_norm = ops.sqrt(ops.sum(ops.square(gradient)))
            trust = self.lars_eta * w_norm / (g_norm + 1e-8)
            trust = ops.where(
                ops.logical_and(w_norm > 0, g_norm > 0),
                trust,
                ops.ones_like(trust),
            )
            gradient = gradient * trust
        m = self.momentums[self._get_variable_index(variable)]
        self.assign(m, ops.add(ops.multiply(m, self.momentum), gradient))
        self.assign_sub(variable, ops.multiply(m, learning_rate))

    def get_config(self):
        config = super().get_config()
        config.update({"momentum": self.momentum, "lars_eta": self.lars_eta})
        return config
