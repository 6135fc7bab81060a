"""The ADIOS step on the PyTorch backend, eager vs `jit_compile=True` (torch.compile).

    KERAS_BACKEND=torch python benchmarks/torch_jit.py 0   # eager
    KERAS_BACKEND=torch python benchmarks/torch_jit.py 1   # compiled

SmallResNet (16, 32, 64), 32 px, batch 64, MaskGenerator N = 4 (16 filters),
SimCLR (256 -> 64), SGD. Prints the first step's time (tracing and
compilation) and the median of 5 further steps, and the loss (which must
agree between the two). Results and conditions: `results/torch_jit.md`.
"""

import sys
import time

import keras
import numpy as np

import keras_adios

jit = sys.argv[1:] == ["1"]
keras.utils.set_random_seed(0)
encoder = keras_adios.encoders.SmallResNet(input_shape=(32, 32, 3), widths=(16, 32, 64))
model = keras_adios.ADIOS(
    encoder,
    keras_adios.layers.MaskGenerator(num_masks=4, filters=16),
    objective=keras_adios.objectives.SimCLR(hidden_dim=256, projection_dim=64),
    seed=0,
)
model.compile(
    encoder_optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
    masker_optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
    jit_compile=jit,
)
rng = np.random.default_rng(0)
views = tuple(rng.normal(size=(64, 32, 32, 3)).astype("float32") for _ in range(2))
start = time.time()
logs = model.train_on_batch(views, return_dict=True)
print(f"jit_compile={jit}: first step {time.time() - start:.1f} s, loss {logs['loss']:.6f}")
times = []
for _ in range(5):
    start = time.time()
    logs = model.train_on_batch(views, return_dict=True)
    times.append(time.time() - start)
print(f"jit_compile={jit}: median step {np.median(times):.3f} s, loss {logs['loss']:.6f}")
