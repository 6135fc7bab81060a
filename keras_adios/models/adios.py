"""The ADIOS model: encoder vs. mask generator, trained with `model.fit`."""

import keras
import numpy as np
from keras import ops

from keras_adios import distribute
from keras_adios import losses
from keras_adios import objectives as objectives_module
from keras_adios.callbacks.non_finite_guard import NonFiniteGuard
from keras_adios.layers.masker import Masker
from keras_adios.trainers import OptimizerGroup
from keras_adios.trainers import step_mixin
from keras_adios.utils import validation
from keras_adios.utils.backend_utils import no_grad

#: What `ADIOS(nonfinite=...)` does with a non-finite step.
NONFINITE_MODES = ("raise", "skip", "ignore")
_METRIC_NAMES = (
    "loss",
    "masker_loss",
    "sparsity_penalty",
    "coverage_min",
    "coverage_max",
    "probe_loss",
    "probe_accuracy",
    "nonfinite",
    "loss_scale",
)


def _default_sgd():
    return keras.optimizers.SGD(learning_rate=0.1, momentum=0.9)


@keras.saving.register_keras_serializable(package="keras_adios")
class ADIOS(step_mixin(), keras.Model):
    """ADIOS: adversarial masking for self-supervised learning.

    An image encoder (with the objective's heads) and a mask generator play a
    min-max game (Shi et al., ICML 2022, https://arxiv.org/abs/2201.13100).
    Each batch of two augmented views `(x1, x2)` runs, in this order:

    1. **Encoder phase**: one update of the encoder, heads (and online probe)
       minimising `sum_n SSL(x1, x2 * (1 - stop_gradient(m_n)))` with
       `m = masker(x2)`, a `(B, H, W, N)` softmax over N masks.
    2. **Masker phase**: one update of the masker maximising
       `sum_n [SSL_n - sparsity_weight * mean_b 1 / (sin(pi * coverage_bn) + 1e-10)]
       + entropy_weight * negative_entropy`, through the encoder as just
       updated, which is frozen (no encoder update) but differentiated
       through.

    The whole step is `train_step` below (`_adios_train_step`), written once
    with `keras.ops` for every backend; `docs/algorithm.md` derives it and
    lists where it computes less than the authors' code with the same maths:

    - The masks are computed once per step. The original recomputes them in
      the masker phase; since only the encoder changed in between, the
      second forward gives the same masks, so here the one mask forward is
      recorded (a tape, `jax.vjp`, or a torch graph) and the masker phase
      takes the gradient of its objective w.r.t. the masks and pulls it back
      through that recording. A consequence for maskers with BatchNorm:
      their running statistics update once per step, not twice (the
      authors' GroupNorm / InstanceNorm maskers keep no statistics). Fixed
      maskers are run without any recording.
    - The unmasked branch (e.g. `f(x1)` and its projection) is computed once
      per phase instead of once per mask.
    - The online probe trains on the stop-gradient features of `x1` from
      that same pass (the authors average the probe loss over both views,
      which costs an extra encoder pass).
    - Both phases back-propagate one masked view at a time
      (`per_view_backward=True`, the default): the same gradients with two
      encoder graphs alive in the encoder phase instead of N + 1, and one
      in the masker phase instead of N.

    BatchNorm layers run in training mode in both phases as in the original,
    and their running statistics are updated once per call.

    Variants, all through this one code path:

    - `single_mask=True` (ADIOS-s): each image uses one mask slot drawn
      uniformly at random, redrawn in each phase; the sparsity penalty still
      covers all N masks.
    - `masker=None`: the baseline method (plain SimCLR/BYOL/SimSiam/VICReg).
    - A fixed masker (`learned = False`: `RandomPatchMasker`,
      `RandomBlockMasker`): the masking-scheme baselines; the masker phase is
      skipped.

    Extension points are the two contracts `keras_adios.objectives.Objective`
    and `keras_adios.layers.Masker`; distribution needs nothing from either
    beyond what their docstrings say.

    Labels are optional: with `num_classes` set and labelled data, an online
    linear probe on stop-gradient features (its own optimizer, as solo-learn
    does) reports `probe_loss` and `probe_accuracy`; it never changes the
    encoder. Rows with a negative label (unlabelled) are ignored.

    Metrics reported by `fit`/`evaluate`: `loss` (the encoder's SSL loss,
    summed over masks), `masker_loss` (what the masker minimises: minus its
    objective), `sparsity_penalty` (summed over masks), `coverage_min` /
    `coverage_max` (batch-mean coverage of the least / most covering mask),
    and `probe_loss` / `probe_accuracy` when labels are given.

    Args:
        encoder: a `keras.Model` (or layer) mapping images `(B, H, W, C)` to
            features `(B, D)`; e.g. `keras_adios.encoders.ResNet18`.
        masker: `None`, or a `keras_adios.layers.Masker` mapping images to
            masks `(B, H, W, N)`, e.g. `keras_adios.layers.MaskGenerator`.
        objective: a `keras_adios.objectives.Objective` or one of the names
            in `keras_adios.objectives.OBJECTIVES` ("simclr", "byol", ...).
        sparsity_weight: float >= 0, `alpha_sparsity` (1.0 by default).
        entropy_weight: float >= 0, the authors' `alpha_entropy` (default 0).
        single_mask: bool, ADIOS-s.
        num_classes: optional int >= 2, enables the online linear probe.
        input_shape: optional image shape `(H, W, C)`; needed only when it
            cannot be read from `encoder.input_shape`.
        seed: optional int, seeds the ADIOS-s slot draws.
        nonfinite: what a step whose loss or gradients are NaN or infinite
            does (every step reports `nonfinite`: 1 for such a step; as a
            metric, the fraction of such steps in the epoch). `"raise"` (the
            default): the step leaves every weight, statistic and optimizer
            state as it was, and `fit` stops right after it with a
            `keras_adios.callbacks.NonFiniteError` naming the epoch, the step
            and the values, so the model keeps the weights of the last finite
            step. `"skip"`: the same revert, and training goes on (the batch
            is skipped, for both players; `fit` warns how many steps were
            skipped each epoch). `"ignore"`: Keras' plain behaviour, the
            update is applied whatever it holds. `"raise"` and `"skip"` keep
            a copy of the state during each step.
        skip_nonfinite: bool, the older spelling of `nonfinite="skip"`
            (`True`); `False` leaves `nonfinite` as given.
        per_view_backward: bool (default True). How the two phases
            back-propagate when a masker is present. `True`: one masked
            view at a time (its graph freed before the next view's forward);
            in the encoder phase the gradients w.r.t. the unmasked
            embeddings are summed over the views and pulled back through the
            unmasked forward once, so two encoder graphs are alive at once
            instead of N + 1 (the masker phase: one instead of N). `False`:
            one backward through the whole sum in each phase, as the
            authors' code does.
            The same gradients either way (the gradient of a sum is the sum
            of the gradients; BatchNorm statistics are per view in both),
            equal up to float rounding.
        **kwargs: standard `keras.Model` arguments (e.g. `name`).

    Example:

    ```python
    import keras, keras_adios
    encoder = keras_adios.encoders.SmallResNet(input_shape=(32, 32, 3))
    masker = keras_adios.layers.MaskGenerator(num_masks=4, filters=16)
    model = keras_adios.ADIOS(
        encoder, masker, objective=keras_adios.objectives.SimCLR(
            temperature=0.2, hidden_dim=256, projection_dim=64),
        num_classes=10,
    )
    model.compile(
        encoder_optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
        masker_optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
    )
    x1 = keras.random.normal((16, 32, 32, 3))
    x2 = keras.random.normal((16, 32, 32, 3))
    y = keras.random.randint((16,), 0, 10)
    model.fit((x1, x2), y, batch_size=8, epochs=1, verbose=0)
    features = model.encoder(x1)   # (16, 128)
    masks = model.masker(x1)       # (16, 32, 32, 4), sums to 1 per pixel
    ```
    """

    def __init__(
        self,
        encoder,
        masker=None,
        objective="simclr",
        sparsity_weight=1.0,
        entropy_weight=0.0,
        single_mask=False,
        num_classes=None,
        input_shape=None,
        seed=None,
        nonfinite="raise",
        skip_nonfinite=False,
        per_view_backward=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(encoder, keras.layers.Layer):
            raise ValueError(
                "`encoder` must be a keras.Model or keras.layers.Layer mapping "
                f"images to features. Received: encoder={encoder!r}"
            )
        if masker is not None and not isinstance(masker, Masker):
            raise ValueError(
                "`masker` must be None or a keras_adios.layers.Masker (subclass it "
                "to wrap your own occlusion model; see its docstring). "
                f"Received: masker={masker!r}"
            )
        if single_mask and masker is None:
            raise ValueError(
                "`single_mask=True` (ADIOS-s) needs a `masker`. Received: masker=None"
            )
        self.encoder = encoder
        self.masker = masker
        self.objective = objectives_module.get(objective)
        self.sparsity_weight = validation.check_number(sparsity_weight, "sparsity_weight", minimum=0.0)
        self.entropy_weight = validation.check_number(entropy_weight, "entropy_weight", minimum=0.0)
        self.single_mask = validation.check_bool(single_mask, "single_mask")
        self.num_classes = validation.check_int(num_classes, "num_classes", minimum=2, allow_none=True)
        self.seed = validation.check_int(seed, "seed", allow_none=True)
        if nonfinite not in NONFINITE_MODES:
            raise ValueError(
                f"`nonfinite` must be one of {NONFINITE_MODES}. Received: nonfinite={nonfinite!r}"
            )
        if validation.check_bool(skip_nonfinite, "skip_nonfinite"):
            if nonfinite == "ignore":
                raise ValueError(
                    "`skip_nonfinite=True` means `nonfinite='skip'`; it contradicts "
                    "`nonfinite='ignore'`. Received: skip_nonfinite=True, nonfinite='ignore'"
                )
            nonfinite = "skip"
        self.nonfinite = nonfinite
        self.per_view_backward = validation.check_bool(per_view_backward, "per_view_backward")
        self.num_masks = None if masker is None else masker.num_masks
        self.slot_seed_generator = keras.random.SeedGenerator(seed)
        self.probe = keras.layers.Dense(self.num_classes, name="probe") if self.num_classes else None
        self._trackers = {name: keras.metrics.Mean(name=name) for name in _METRIC_NAMES}
        self._image_shape = self._resolve_image_shape(input_shape)
        if self._image_shape is not None:
            self.build((None,) + self._image_shape)

    @property
    def skip_nonfinite(self):
        """True when a non-finite step is skipped and training goes on (`nonfinite="skip"`)."""
        return self.nonfinite == "skip"

    # === Building ===

    def _resolve_image_shape(self, input_shape):
        if input_shape is not None:
            return tuple(input_shape)
        try:
            shape = self.encoder.input_shape
        except (AttributeError, ValueError):
            return None
        if isinstance(shape, list):
            shape = shape[0]
        if shape is None or len(shape) != 4 or any(d is None for d in shape[1:]):
            return None
        return tuple(shape[1:])

    def build(self, input_shape):
        shape = tuple(input_shape)
        if len(shape) != 4:
            raise ValueError(
                "ADIOS expects image batches of rank 4 (B, H, W, C). "
                f"Received: input_shape={input_shape}"
            )
        self._image_shape = tuple(shape[1:])
        if not self.encoder.built:
            self.encoder.build(shape)
        feature_spec = self.encoder.compute_output_spec(keras.KerasTensor(shape))
        if len(feature_spec.shape) != 2 or feature_spec.shape[-1] is None:
            raise ValueError(
                "`encoder` must map images (B, H, W, C) to features (B, D) with "
                f"a known D. Received: encoder output shape {feature_spec.shape} "
                f"for input shape {shape}"
            )
        self.feature_dim = int(feature_spec.shape[-1])
        if self.masker is not None:
            if not self.masker.built:
                self.masker.build(shape)
            mask_spec = self.masker.compute_output_spec(keras.KerasTensor(shape))
            if tuple(mask_spec.shape[1:]) != tuple(shape[1:3]) + (self.num_masks,):
                raise ValueError(
                    "`masker` must map images (B, H, W, C) to masks (B, H, W, N) with "
                    f"N = masker.num_masks = {self.num_masks}. Received: masker output "
                    f"shape {mask_spec.shape} for input shape {shape}"
                )
        if not self.objective.built:
            self.objective.attach_encoder(self.encoder)
            self.objective.build((None, self.feature_dim))
        if self.probe is not None:
            self.probe.build((None, self.feature_dim))
        self.built = True

    def call(self, inputs, training=False):
        """Encoder features of `inputs` (so `predict` gives features).

        `inputs` is an image batch, or a `(view1, view2)` pair, in which case
        the features of `view1` are returned.
        """
        if isinstance(inputs, (tuple, list)):
            inputs = inputs[0]
        return self.encoder(inputs, training=training)

    # === Variable groups ===

    @property
    def encoder_variables(self):
        """Variables of the encoder phase: encoder + objective heads."""
        return self.encoder.trainable_variables + self.objective.online_variables

    @property
    def masker_variables(self):
        """Variables of the masker phase (empty for fixed maskers)."""
        return self.masker.trainable_variables if self.trains_masker else []

    @property
    def probe_variables(self):
        return [] if self.probe is None else self.probe.trainable_variables

    @property
    def trains_masker(self):
        """Whether the step has a masker phase: a `learned` masker, not frozen."""
        return self.masker is not None and self.masker.learned and self.masker.trainable

    # === Compile ===

    def compile(
        self,
        encoder_optimizer=None,
        masker_optimizer=None,
        probe_optimizer=None,
        jit_compile="auto",
        steps_per_execution=1,
        run_eagerly=False,
        auto_scale_loss=True,
        **kwargs,
    ):
        """Configures the three optimizers and builds them eagerly.

        Under the `mixed_float16` dtype policy (and `auto_scale_loss`), the
        step uses a dynamic loss scale, as `keras.Model.compile` does with a
        `LossScaleOptimizer`: each phase's loss is multiplied by the scale
        before differentiating and the gradients divided by it; a step whose
        gradients overflow is skipped as a whole (both players, statistics)
        and halves the scale, 2000 finite steps double it. Skipped steps are
        not `nonfinite` (that flag stays for non-finite losses); the current
        scale is logged as `loss_scale`.

        Args:
            encoder_optimizer: optimizer for the encoder and heads (default
                `SGD(0.1, momentum=0.9)`; the paper uses LARS-wrapped SGD:
                `keras_adios.optimizers.LARS`).
            masker_optimizer: optimizer for the mask generator (same default;
                the authors' `mask_lr` is 0.1). Ignored without a trainable
                masker.
            probe_optimizer: optimizer for the online probe (default
                `SGD(0.1, momentum=0.9)`, solo-learn's `classifier_lr`).
            jit_compile: as in `keras.Model.compile`.
            steps_per_execution: as in `keras.Model.compile`.
            run_eagerly: as in `keras.Model.compile`.
            auto_scale_loss: bool, use dynamic loss scaling when the model's
                dtype policy is `mixed_float16` (as in `keras.Model.compile`).
                Without it, float16 gradients underflow.
        """
        for arg in ("optimizer", "loss", "metrics", "loss_weights"):
            if kwargs.get(arg) is not None:
                raise ValueError(
                    f"ADIOS.compile takes `encoder_optimizer`, `masker_optimizer` "
                    f"and `probe_optimizer`; its losses and metrics are built in. "
                    f"Received: {arg}={kwargs[arg]!r}"
                )
            kwargs.pop(arg, None)
        if kwargs:
            raise ValueError(f"Unexpected compile arguments. Received: {sorted(kwargs)}")
        if not self.built:
            raise ValueError(
                "ADIOS must be built before `compile` so that both optimizers "
                "can be built eagerly (required under tf.distribute and JAX). "
                "Pass `input_shape=(H, W, C)` to ADIOS, use an encoder with a "
                "known input shape, or call `model.build((None, H, W, C))`."
            )
        if not isinstance(auto_scale_loss, bool):
            raise ValueError(f"`auto_scale_loss` must be a bool. Received: {auto_scale_loss!r}")
        for key, optimizer in (("encoder_optimizer", encoder_optimizer),
                               ("masker_optimizer", masker_optimizer),
                               ("probe_optimizer", probe_optimizer)):
            if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
                raise ValueError(
                    "ADIOS keeps one loss scale for its whole step (`auto_scale_loss=True` under "
                    "the mixed_float16 policy); pass the inner optimizer, not a LossScaleOptimizer. "
                    f"Received: {key}={optimizer!r}"
                )
        scale_loss = auto_scale_loss and self.dtype_policy.name == "mixed_float16"
        members = {"encoder": keras.optimizers.get(encoder_optimizer or _default_sgd())}
        groups = {"encoder": self.encoder_variables}
        if self.trains_masker:
            members["masker"] = keras.optimizers.get(masker_optimizer or _default_sgd())
            groups["masker"] = self.masker_variables
        if self.probe is not None:
            members["probe"] = keras.optimizers.get(probe_optimizer or _default_sgd())
            groups["probe"] = self.probe_variables
        if len({id(o) for o in members.values()}) != len(members):
            raise ValueError(
                "The encoder, masker and probe optimizers must be distinct "
                "objects (each keeps state for its own variables)."
            )
        for key, optimizer in members.items():
            optimizer.build(groups[key])
        self._adios_compile_config = {
            "encoder_optimizer": keras.saving.serialize_keras_object(members["encoder"]),
            "masker_optimizer": keras.saving.serialize_keras_object(members.get("masker")),
            "probe_optimizer": keras.saving.serialize_keras_object(members.get("probe")),
            "jit_compile": jit_compile,
            "steps_per_execution": steps_per_execution,
            "run_eagerly": run_eagerly,
            "auto_scale_loss": auto_scale_loss,
        }
        group = OptimizerGroup(members, dynamic_loss_scale=scale_loss)
        group.build()
        super().compile(
            optimizer=group,
            jit_compile=jit_compile,
            steps_per_execution=steps_per_execution,
            run_eagerly=run_eagerly,
            auto_scale_loss=False,  # the group keeps ADIOS' own loss scale
        )
        # Keras 3.15's fit is broken under MultiWorkerMirroredStrategy; the
        # narrow workaround (keras_adios.distribute.multi_worker_patch).
        distribute.apply_multi_worker_workaround(self)

    def get_compile_config(self):
        return getattr(self, "_adios_compile_config", None)

    def compile_from_config(self, config):
        config = dict(config)
        for key in ("encoder_optimizer", "masker_optimizer", "probe_optimizer"):
            if config.get(key) is not None:
                config[key] = keras.saving.deserialize_keras_object(config[key])
        self.compile(**config)

    @property
    def metrics(self):
        return list(self._trackers.values())

    # === Fit ===

    def fit(self, x=None, y=None, **kwargs):
        """`keras.Model.fit`, with the data layout checked before training starts.

        Unless `nonfinite="ignore"`, a `keras_adios.callbacks.NonFiniteGuard`
        joins the callbacks (when none is there yet): it raises at the first
        non-finite step (`"raise"`) or counts the skipped ones (`"skip"`).
        Labels of a `tf.data.Dataset` are checked against `num_classes` as
        they stream (no second pass over the data).
        """
        self._check_input_structure(x, y)
        if self.nonfinite != "ignore":
            callbacks = kwargs.get("callbacks")
            callbacks = [] if callbacks is None else list(callbacks)
            if not any(isinstance(c, NonFiniteGuard) for c in callbacks):
                callbacks.append(NonFiniteGuard())
            kwargs["callbacks"] = callbacks
        return super().fit(self._checked_labels(x), y, **kwargs)

    def _checked_labels(self, x):
        """A `tf.data.Dataset` of (views, labels) whose labels are checked as they stream."""
        if not self.num_classes or not _is_tf_dataset(x):
            return x
        spec = x.element_spec
        if not (isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], (tuple, list))):
            return x
        import tensorflow as tf

        num_classes = self.num_classes

        def check(views, labels):
            largest = tf.reduce_max(tf.cast(labels, tf.int64))
            ok = tf.debugging.Assert(
                tf.logical_or(tf.equal(tf.size(labels), 0), largest < num_classes),
                [f"Labels must be class ids below num_classes={num_classes} (negative ids mark "
                 "unlabelled images). Received a batch whose largest label is", largest],
            )
            with tf.control_dependencies([ok]):
                return views, tf.identity(labels)

        return x.map(check, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    def evaluate(self, x=None, y=None, **kwargs):
        self._check_input_structure(x, y)
        return super().evaluate(x, y, **kwargs)

    def _check_input_structure(self, x, y):
        """Validates the element structure before Keras starts iterating.

        The same checks run inside the step; doing them first gives the clear
        error before a backend trainer has touched any state (Keras' JAX
        trainer leaves variables detached if a step raises).
        """
        spec = getattr(x, "element_spec", None)
        if spec is None and x is not None and not callable(getattr(x, "__next__", None)):
            leaves = keras.tree.flatten(x)
            if leaves and all(hasattr(leaf, "shape") for leaf in leaves):
                spec = (x,) if y is None else (x, y)
        if spec is not None:
            self._unpack(spec)
        if y is not None and self.num_classes and hasattr(y, "shape") and not hasattr(y, "element_spec"):
            labels = np.asarray(keras.ops.convert_to_numpy(y))
            bad = labels[(labels >= self.num_classes)]
            if bad.size:
                raise ValueError(
                    f"Labels must be class ids below num_classes={self.num_classes} (negative ids mark "
                    f"unlabelled images). Received: {bad.size} label(s) >= {self.num_classes}, the "
                    f"largest {int(bad.max())}"
                )

    # === The ADIOS step (keras.ops; the backends only supply gradients) ===

    def _adios_train_step(self, data):
        """One training step: the encoder phase, then the masker phase.

        `_value_and_grad(loss_fn, variables, inputs)` and
        `_vjp(forward_fn, variables)` are the per-backend gradient primitives
        (`keras_adios/trainers/`); everything else is shared.
        """
        x1, x2, labels = self._unpack(data)
        batch_size = ops.shape(x1)[0]
        use_probe = self.probe is not None and labels is not None
        logs = {}
        scale = self.optimizer.loss_scale  # None unless mixed_float16
        reverts = self.nonfinite != "ignore" or scale is not None
        if reverts:  # the state to return to if this step is skipped
            state = self._step_state()
            before = [ops.copy(v.value) for v in state]

        # The masks, once per step: [M(x2)] (and M(x1) when the objective masks
        # both views). A trained masker's forward is recorded so that the masker
        # phase can pull its gradient back through it.
        masks = pullback = None
        if self.trains_masker:
            masks, pullback = self._vjp(lambda: self._masks(x1, x2), self.masker_variables)
        elif self.masker is not None:
            with no_grad():
                masks = self._masks(x1, x2)
        if masks is not None:
            masks = [ops.stop_gradient(m) for m in masks]

        # Phase 1: the encoder, heads and probe minimise the SSL loss summed
        # over the masks, which are constants here.
        slots = self._draw_slots(batch_size)

        def encoder_loss():
            clean = self._encode_clean(x1, x2)
            ssl = self._ssl_loss(clean, x1, x2, masks, slots)
            aux = {"loss": ssl}
            if not use_probe:
                return ssl, aux
            aux["probe_loss"], aux["probe_accuracy"] = self._probe_terms(clean[0].features, labels)
            return ssl + aux["probe_loss"], aux

        variables = self.encoder_variables + (self.probe_variables if use_probe else [])
        if self.per_view_backward and masks is not None:
            value, aux, grads = self._per_view_encoder_gradients(x1, x2, masks, slots, labels, use_probe, scale)
        else:
            value, aux, grads = self._value_and_grad(_scaled(encoder_loss, scale), variables)
        grads = _unscaled(grads, scale)
        finite_value = _all_finite([value])
        finite = ops.logical_and(finite_value, _all_finite(grads))
        count = len(self.encoder_variables)
        with no_grad():
            self._apply(self.optimizer["encoder"], grads[:count], self.encoder_variables, finite)
            if use_probe:
                self._apply(self.optimizer["probe"], grads[count:], self.probe_variables, finite)
        logs.update(aux)

        # Phase 2: the masker maximises the SSL loss minus the sparsity penalty
        # (plus the entropy term) through the just-updated, frozen encoder. The
        # objective is differentiated w.r.t. the masks, then pulled back
        # through the masks' forward pass to the masker weights.
        if self.trains_masker:
            slots = self._draw_slots(batch_size)
            with no_grad():
                clean = [None if e is None else e.stop_gradient() for e in self._encode_clean(x1, x2)]

            if self.per_view_backward:
                value, aux, mask_grads = self._per_view_masker_gradients(clean, x1, x2, masks, slots, scale)
            else:

                def masker_loss(*mask_values):
                    ssl = self._ssl_loss(clean, x1, x2, list(mask_values), slots)
                    return self._masker_loss(ssl, mask_values)

                value, aux, mask_grads = self._value_and_grad(_scaled(masker_loss, scale), [], inputs=masks)
            with no_grad():
                masker_grads = _unscaled(pullback(mask_grads), scale)
                masker_finite = _all_finite([value] + list(masker_grads))
                finite_value = ops.logical_and(finite_value, _all_finite([value]))
                finite = ops.logical_and(finite, masker_finite)
                self._apply(self.optimizer["masker"], masker_grads, self.masker_variables, masker_finite)
            logs["masker_loss"] = value if scale is None else value / ops.cast(scale, value.dtype)
            logs.update(aux)
        elif masks is not None:
            logs["sparsity_penalty"], _, logs["coverage"] = self._mask_terms(masks)

        # With loss scaling an overflow of the scaled gradients skips the step
        # (on every replica together) without being `nonfinite`: that flag is
        # for non-finite losses, and for non-finite gradients without scaling.
        if scale is not None:
            finite = distribute.cross_replica_mean(ops.cast(finite, "float32"), 1.0) >= 1.0
            logs["loss_scale"] = scale.value * 1.0  # read now: the scale this step used
        logs["nonfinite"] = 1.0 - ops.cast(finite_value if scale is not None else finite, "float32")

        # BYOL's moving-average target (a no-op for the other objectives).
        self.objective.update_targets(self.encoder, self.optimizer.iterations)
        self.optimizer.iterations.assign_add(1)
        if reverts:
            self._restore_if_nonfinite(state, before, finite)
        if scale is not None:
            self.optimizer.update_loss_scale(finite)
        if self.skip_nonfinite:
            # A skipped step's values stay out of the epoch's metrics.
            return self._update_trackers(logs, batch_size, counted=finite)
        return self._update_trackers(logs, batch_size)

    def _apply(self, optimizer, grads, variables, finite):
        """`optimizer.apply`; non-finite gradients become zeros when the step can be skipped.

        (With `nonfinite` "raise" / "skip" or loss scaling, the whole step is then
        reverted by `_restore_if_nonfinite`; the zeros only keep the
        optimizer's arithmetic finite meanwhile.)
        """
        if self.nonfinite != "ignore" or self.optimizer.loss_scale is not None:
            grads = [ops.where(finite, g, ops.zeros_like(g)) for g in grads]
        optimizer.apply(grads, variables)

    def _step_state(self):
        """Every variable a step changes (weights, statistics, optimizer state), less seed generators."""
        state = list(self.variables) + list(self.optimizer.variables)
        # The loss scale is updated after the revert, so it is not step state.
        kept = {id(v) for v in self.optimizer.loss_scale_variables}
        unique = {id(v): v for v in state if "seed_generator" not in v.path and id(v) not in kept}
        return list(unique.values())

    def _restore_if_nonfinite(self, state, before, finite):
        for v, old in zip(state, before):
            v.assign(ops.where(finite, v.value, old))

    def _adios_test_step(self, data, training=False):
        """The step's losses on `data` without any update."""
        x1, x2, labels = self._unpack(data)
        batch_size = ops.shape(x1)[0]
        masks = None if self.masker is None else self._masks(x1, x2, training)
        slots = self._draw_slots(batch_size)
        clean = self._encode_clean(x1, x2, training)
        ssl = self._ssl_loss(clean, x1, x2, masks, slots, training)
        logs = {"loss": ssl}
        if self.trains_masker:
            logs["masker_loss"], aux = self._masker_loss(ssl, masks)
            logs.update(aux)
        elif masks is not None:
            logs["sparsity_penalty"], _, logs["coverage"] = self._mask_terms(masks)
        if self.probe is not None and labels is not None:
            logs["probe_loss"], logs["probe_accuracy"] = self._probe_terms(clean[0].features, labels)
        return self._update_trackers(logs, batch_size)

    # === Pieces of the step ===

    def _masks(self, x1, x2, training=True):
        """`[M(x2)]`, or `[M(x2), M(x1)]` when the objective masks both views."""
        masks = [self.masker(x2, training=training)]
        if self.objective.masks_both_views:
            masks.append(self.masker(x1, training=training))
        return masks

    def _per_view_masker_gradients(self, clean, x1, x2, masks, slots, scale):
        """The masker phase's `(value, aux, gradients w.r.t. the masks)`, one masked view alive at a time.

        The masker minimises `-sum_n L_n + alpha_s * penalty - alpha_e * neg_entropy`;
        the mask terms (no encoder) and each `-L_n` (through the frozen
        encoder) are differentiated w.r.t. the masks on their own, in order,
        and the gradients summed: the same as one backward through the sum.
        """
        value, aux, grads = self._value_and_grad(
            _scaled(lambda *mask_values: self._masker_loss(0.0, mask_values), scale), [], inputs=masks
        )
        views = 1 if slots is not None else self.num_masks
        for n in range(views):
            x1_n, x2_n = self._after([x1, x2], grads)  # after the last view's backward

            def term(*mask_values, n=n, x1=x1_n, x2=x2_n):
                selected = self._select_masks(list(mask_values), slots)
                return -self._mask_term(clean, x1, x2, selected, n), {}

            term_value, _, term_grads = self._value_and_grad(_scaled(term, scale), [], inputs=masks)
            value = value + term_value
            grads = [a + b for a, b in zip(grads, term_grads)]
        return value, aux, grads

    def _encode_clean(self, x1, x2, training=True):
        """`[e1, e2]`: the unmasked views' embeddings (`e2` only if both views are masked)."""
        e1 = self.objective.encode(self.encoder, x1, training=training)
        e2 = None
        if self.objective.masks_both_views:
            e2 = self.objective.encode(self.encoder, x2, training=training)
        return [e1, e2]

    def _draw_slots(self, batch_size):
        """ADIOS-s: one mask slot per image, drawn anew in every phase (else None)."""
        if not self.single_mask:
            return None
        # Under tf.distribute every replica draws its own slots.
        seed = distribute.replica_seed(self.slot_seed_generator)
        return keras.random.randint((batch_size,), 0, self.num_masks, seed=seed)

    def _ssl_loss(self, clean, x1, x2, masks, slots, training=True):
        """`sum_n objective.loss` over the masks (one term for ADIOS-s).

        Without masks, the plain method: the unmasked views stand in for the
        masked ones.
        """
        objective, encoder = self.objective, self.encoder
        e1, e2 = clean
        if masks is None:
            if e2 is None:
                e2 = objective.encode(encoder, x2, training=training)
            return objective.loss(e1, e2, e1, e2)
        masks = self._select_masks(masks, slots)
        total = 0.0
        for n in range(masks[0].shape[-1]):
            total = total + self._mask_term(clean, x1, x2, masks, n, training)
        return total

    def _select_masks(self, masks, slots):
        """The masks the SSL terms use: all N, or per image its ADIOS-s slot (one channel)."""
        if slots is None:
            return list(masks)
        pick = ops.one_hot(slots, self.num_masks, dtype=masks[0].dtype)[:, None, None, :]
        return [ops.sum(m * pick, axis=-1, keepdims=True) for m in masks]

    def _mask_term(self, clean, x1, x2, masks, n, training=True):
        """`objective.loss` of mask channel `n`: its masked view(s) through the encoder."""
        objective, encoder = self.objective, self.encoder
        e1, e2 = clean
        m2, m1 = masks[0], masks[1] if len(masks) > 1 else None
        e1m = None
        if m1 is not None:
            e1m = objective.encode(encoder, losses.masked_view(x1, m1[..., n : n + 1]), training=training)
        e2m = objective.encode(encoder, losses.masked_view(x2, m2[..., n : n + 1]), training=training)
        return objective.loss(e1, e2, e1m, e2m)

    def _per_view_encoder_gradients(self, x1, x2, masks, slots, labels, use_probe, scale):
        """The encoder phase's `(value, aux, grads)`, one masked view alive at a time.

        As `_value_and_grad` of the whole encoder loss would return them: the
        (loss-scaled) value, `aux` with the unscaled `loss` (and probe terms),
        and the gradients of the encoder variables followed by the probe's.

        The SSL loss is `sum_n L(c, f(v_n))` with `c` the unmasked views'
        embeddings and `v_n` the n-th masked view. Its gradient is
        `sum_n dL_n/dtheta|_c + (sum_n dL_n/dc) dc/dtheta`: each term is
        back-propagated on its own (the masked view's graph freed before the
        next view runs: `_after` orders them), the `dL_n/dc` are summed, and
        pulled back through the recorded unmasked forward once. Same maths as
        one backward through the sum; same BatchNorm calls in the same order.
        """
        variables = self.encoder_variables
        layouts = []  # which embeddings and fields the unmasked forward returns (set while it runs)

        def forward():
            flat, layout = _flatten_embeddings(self._encode_clean(x1, x2))
            layouts.append(layout)
            return flat

        clean, pullback = self._vjp(forward, variables)
        structure = layouts[0]
        masks = self._select_masks(masks, slots)
        total, scaled_total, grads, clean_grads = 0.0, 0.0, None, None
        for n in range(masks[0].shape[-1]):
            if grads is not None:  # this view's forward only after the last view's backward
                x1, x2 = self._after([x1, x2], grads + clean_grads)

            def term(*clean_values, n=n, x1=x1, x2=x2):
                value = self._mask_term(_unflatten_embeddings(structure, clean_values), x1, x2, masks, n)
                return value, {"loss": value}

            # `value` is the (loss-)scaled term, `aux["loss"]` the term itself.
            value, term_aux, term_grads = self._value_and_grad(_scaled(term, scale), variables, inputs=clean)
            count = len(variables)
            total, scaled_total = total + term_aux["loss"], scaled_total + value
            if grads is None:
                grads, clean_grads = term_grads[:count], term_grads[count:]
            else:
                grads = [a + b for a, b in zip(grads, term_grads[:count])]
                clean_grads = [a + b for a, b in zip(clean_grads, term_grads[count:])]
        grads = [a + b for a, b in zip(grads, pullback(clean_grads))]
        aux = {"loss": total}
        if not use_probe:
            return scaled_total, aux, grads
        features = _unflatten_embeddings(structure, clean)[0].features

        def probe_loss():
            loss, accuracy = self._probe_terms(features, labels)
            return loss, {"probe_loss": loss, "probe_accuracy": accuracy}

        probe_value, probe_aux, probe_grads = self._value_and_grad(
            _scaled(probe_loss, scale), self.probe_variables
        )
        aux.update(probe_aux)
        return scaled_total + probe_value, aux, grads + probe_grads

    def _masker_loss(self, ssl, masks):
        """What the masker minimises: `-(ssl - alpha_s * penalty + alpha_e * neg_entropy)`."""
        penalty, negative_entropy, coverage = self._mask_terms(masks)
        value = ssl - self.sparsity_weight * penalty
        if self.entropy_weight:
            value = value + self.entropy_weight * negative_entropy
        return -value, {"sparsity_penalty": penalty, "coverage": coverage}

    def _mask_terms(self, masks):
        """Sparsity penalty, negative-entropy term and per-mask mean coverage."""
        penalty = sum(losses.sparsity_penalty(m) for m in masks)
        coverages = [losses.mask_coverage(m) for m in masks]
        negative_entropy = losses.coverage_negative_entropy(ops.concatenate(coverages, axis=1))
        # A sum over the batch, not a mean: multiplied by the replica count that
        # gradients are divided by, so that replicas add up to the global sum.
        negative_entropy = negative_entropy * distribute.num_replicas_in_sync()
        per_mask = ops.mean(ops.concatenate(coverages, axis=0), axis=0)
        return penalty, negative_entropy, per_mask

    def _probe_terms(self, features, labels):
        """Online probe loss and accuracy; labels < 0 (unlabelled) are ignored."""
        # float32 logits under a mixed policy (the loss is computed in float32).
        logits = ops.cast(self.probe(ops.stop_gradient(features)), "float32")
        labels = ops.cast(labels, "int32")
        labelled = ops.cast(labels >= 0, "float32")
        count = ops.maximum(ops.sum(labelled), 1.0)
        safe = ops.maximum(labels, 0)
        cross_entropy = keras.losses.sparse_categorical_crossentropy(safe, logits, from_logits=True)
        correct = ops.cast(ops.equal(ops.cast(ops.argmax(logits, axis=-1), "int32"), safe), "float32")
        return ops.sum(cross_entropy * labelled) / count, ops.sum(correct * labelled) / count

    def _scale_loss_for_gradients(self, loss):
        """Loss used for gradients: divided by the replicas in sync (tf.distribute)."""
        return distribute.scale_loss_for_gradients(loss)

    def _update_trackers(self, results, batch_size, counted=None):
        """Updates the metric trackers (weighted by images); `counted`: include this step."""
        results = dict(results)
        coverage = results.pop("coverage", None)
        if coverage is not None:
            # Per-mask coverage over the global batch.
            coverage = distribute.cross_replica_mean(coverage, batch_size)
            results["coverage_min"] = ops.min(coverage)
            results["coverage_max"] = ops.max(coverage)
        logs = {}
        for name in _METRIC_NAMES:
            if name in results:
                tracker = self._trackers[name]
                value, weight = ops.stop_gradient(results[name]), batch_size
                if counted is not None and name not in ("nonfinite", "loss_scale"):
                    value = ops.where(counted, value, ops.zeros_like(value))
                    weight = ops.cast(counted, "float32") * ops.cast(batch_size, "float32")
                tracker.update_state(value, sample_weight=weight)
                logs[name] = tracker.result()
        return logs

    def _unpack(self, data):
        original = data
        if isinstance(data, (tuple, list)):
            # train_on_batch/test_on_batch pass (x, y, sample_weight) with Nones.
            data = tuple(data)
            while len(data) > 1 and data[-1] is None:
                data = data[:-1]
            if len(data) == 1:
                data = data[0]
        labels = None
        if isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[0], (tuple, list)):
            views, labels = data
        elif isinstance(data, (tuple, list)) and len(data) == 3 and isinstance(data[0], (tuple, list)):
            raise ValueError(
                "ADIOS does not use sample weights. Received a dataset element "
                "of the form ((view1, view2), labels, sample_weight)."
            )
        else:
            views = data
        if not (isinstance(views, (tuple, list)) and len(views) == 2):
            raise ValueError(
                "ADIOS expects every dataset element to be (view1, view2) or "
                "((view1, view2), labels), where each view is an image batch "
                f"(B, H, W, C). Received: {_describe(original)}"
            )
        x1, x2 = views
        for view in (x1, x2):
            if len(view.shape) != 4:
                raise ValueError(
                    "ADIOS expects two views of rank-4 image batches "
                    "(B, H, W, C). Received: a dataset element "
                    f"{_describe(original)}"
                )
        if tuple(x1.shape[1:]) != tuple(x2.shape[1:]):
            raise ValueError(
                "The two views must have the same image shape. Received: "
                f"{tuple(x1.shape)} and {tuple(x2.shape)}"
            )
        if self._image_shape is not None and tuple(x1.shape[1:]) != tuple(self._image_shape):
            raise ValueError(
                f"ADIOS was built for images of shape {self._image_shape}. "
                f"Received: views of shape {tuple(x1.shape)}"
            )
        if labels is not None and len(labels.shape) != 1:
            raise ValueError(
                "Labels must be integer class ids of shape (B,). "
                f"Received: labels of shape {tuple(labels.shape)}"
            )
        return x1, x2, labels

    # === Config ===

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "masker": keras.saving.serialize_keras_object(self.masker),
            "objective": keras.saving.serialize_keras_object(self.objective),
            "sparsity_weight": self.sparsity_weight,
            "entropy_weight": self.entropy_weight,
            "single_mask": self.single_mask,
            "num_classes": self.num_classes,
            "input_shape": None if self._image_shape is None else list(self._image_shape),
            "seed": self.seed,
            "nonfinite": self.nonfinite,
            "per_view_backward": self.per_view_backward,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for key in ("encoder", "masker", "objective"):
            if config.get(key) is not None:
                config[key] = keras.saving.deserialize_keras_object(
                    config[key], custom_objects=custom_objects
                )
        return cls(**config)


def _scaled(loss_fn, scale):
    """`loss_fn` with its loss multiplied by the loss scale (unchanged when `scale` is None)."""
    if scale is None:
        return loss_fn

    def scaled(*args):
        loss, aux = loss_fn(*args)
        return loss * ops.cast(scale, loss.dtype), aux

    return scaled


def _unscaled(grads, scale):
    """Gradients of a scaled loss divided by the scale, in float32 (unchanged when `scale` is None)."""
    if scale is None:
        return list(grads)
    return [g / ops.cast(scale, g.dtype) for g in grads]


def _flatten_embeddings(embeddings):
    """`[Embedding or None, ...]` -> `(tensors, layout)`: the set fields in order, and which are set."""
    flat, layout = [], []
    for embedding in embeddings:
        if embedding is None:
            layout.append(None)
            continue
        layout.append(tuple(t is not None for t in embedding))
        flat.extend(t for t in embedding if t is not None)
    return flat, layout


def _unflatten_embeddings(layout, flat):
    """The inverse of `_flatten_embeddings`."""
    values = iter(flat)
    return [
        None if fields is None else objectives_module.Embedding(*(next(values) if f else None for f in fields))
        for fields in layout
    ]


def _is_tf_dataset(x):
    """True for a `tf.data.Dataset` (without importing TensorFlow for other inputs)."""
    module = type(x).__module__
    if not module.startswith("tensorflow"):
        return False
    import tensorflow as tf

    return isinstance(x, tf.data.Dataset)


def _all_finite(tensors):
    """A scalar bool: every element of every tensor is finite."""
    flags = [ops.all(ops.isfinite(t)) for t in tensors if t is not None]
    result = flags[0]
    for flag in flags[1:]:
        result = ops.logical_and(result, flag)
    return result


def _describe(data):
    if isinstance(data, (tuple, list)):
        return type(data).__name__ + "(" + ", ".join(_describe(d) for d in data) + ")"
    if isinstance(data, dict):
        return "dict(" + ", ".join(f"{k}: {_describe(v)}" for k, v in data.items()) + ")"
    shape = getattr(data, "shape", None)
    return f"tensor{tuple(shape)}" if shape is not None else repr(data)
