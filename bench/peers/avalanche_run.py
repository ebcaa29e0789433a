#!/usr/bin/env python3
"""One whole Avalanche 0.6.0 run of clbench's split-fmnist protocol (bench/peers/README.md).

    bench/peers/.venv/bin/python bench/peers/avalanche_run.py --method er --seed 0 [--scenario task-il]

Mirrors `clbench run --benchmark split-fmnist --method M --threads 1 --seed S`: Fashion-MNIST from
Debian's IDX files (pixels / 255, flattened to 784, no augmentation, no normalisation), 5 tasks of
2 classes in identity order (task t holds classes 2t and 2t+1), the MLP 784-400-400-10 (ReLU, no
dropout; 478,410 parameters), SGD lr 0.01 with clbench's per-method momentum, batch 128, 3 epochs
per task, the optimizer state reset at every task (clbench re-creates its optimizer), one CPU
thread. The Avalanche benchmark is nc_benchmark over in-memory tensor datasets. After each
experience the whole test stream is evaluated with strategy.eval (as the usual Avalanche script
does); a plugin reads the outputs of that evaluation to build clbench's accuracy matrices.

Prints one JSON line: method, seed, scenario, acc_class_il, acc_task_il (percent, mean over the 5
tasks after the last one: clbench's "final acc"), import_s, data_s, train_s, eval_s, total_s.
"""
import argparse
import json
import os
import random
import sys
import time
import zlib

DATA_ROOT = "/usr/share/datasets/fashion-mnist"
TASKS, CLASSES, CLASSES_PER_TASK = 5, 10, 2
EPOCHS, BATCH, EVAL_BATCH, LR = 3, 128, 1024, 0.01

CLASS_IL_METHODS = ("finetune", "joint", "ewc", "si", "lwf", "er", "mas", "gem", "agem",
                    "icarl", "der", "der++", "dgr", "dgr-vdv")
TASK_IL_METHODS = ("finetune", "gem", "pnn")  # pnn is task-IL only, as in clbench


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", required=True,
                        choices=sorted(set(CLASS_IL_METHODS + TASK_IL_METHODS)))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scenario", choices=("class-il", "task-il"), default=None,
                        help="default: task-il for pnn, class-il otherwise")
    parser.add_argument("--data-root", default=DATA_ROOT)
    args = parser.parse_args()
    if args.scenario is None:
        args.scenario = "task-il" if args.method == "pnn" else "class-il"
    allowed = CLASS_IL_METHODS if args.scenario == "class-il" else TASK_IL_METHODS
    if args.method not in allowed:
        parser.error(f"{args.method} is not mirrored in {args.scenario} (there: {', '.join(allowed)})")
    return args


def read_idx(path):
    """An IDX file (gzip-compressed) as a uint8 tensor of its declared shape."""
    import torch
    with open(path, "rb") as f:
        raw = zlib.decompress(f.read(), 16 + zlib.MAX_WBITS)
    ndim = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return torch.frombuffer(bytearray(raw[4 + 4 * ndim:]), dtype=torch.uint8).reshape(shape)


def load_fashion_mnist(root, image_shape):
    """Train and test (x, y): float pixels in [0, 1] of image_shape, int64 labels."""
    def images(name):
        x = read_idx(os.path.join(root, name)).float().div_(255)
        return x.reshape(x.shape[0], *image_shape)

    def labels(name):
        return read_idx(os.path.join(root, name)).long()

    return ((images("train-images-idx3-ubyte.gz"), labels("train-labels-idx1-ubyte.gz")),
            (images("t10k-images-idx3-ubyte.gz"), labels("t10k-labels-idx1-ubyte.gz")))


def main():
    args = parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")
    task_il = args.scenario == "task-il"

    start = time.perf_counter()
    import warnings
    warnings.filterwarnings("ignore")  # keep stdout/stderr to the JSON line
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch import nn
    from avalanche.benchmarks import nc_benchmark
    from avalanche.benchmarks.utils import _make_taskaware_tensor_classification_dataset
    from avalanche.core import SupervisedPlugin
    from avalanche.evaluation.metrics import accuracy_metrics
    from avalanche.models import PNN, MlpVAE, SimpleMLP
    from avalanche.models.generator import VAE_loss, Generator
    from avalanche.training import (AGEM, DER, EWC, GEM, MAS, ICaRL, LwF, Naive,
                                    PNNStrategy, SynapticIntelligence, VAETraining,
                                    GenerativeReplay, Cumulative)
    from avalanche.training.plugins import (EvaluationPlugin, GenerativeReplayPlugin,
                                            ReplayPlugin)
    from avalanche.training.storage_policy import ClassBalancedBuffer
    import_s = time.perf_counter() - start

    class ScenarioCrossEntropy(SupervisedPlugin):
        """clbench's training loss (methods/method.cpp, mask_logits): cross-entropy over the
        classes seen so far (class-IL) or over each sample's own task's classes (task-IL); the
        other logits are masked to -inf. Plain cross-entropy while evaluating."""

        def __init__(self):
            super().__init__()
            self.seen = 0
            self.masking = True

        def before_training_exp(self, strategy, **kwargs):
            self.seen = max(self.seen, max(strategy.experience.classes_in_this_experience) + 1)

        def before_eval(self, strategy, **kwargs):
            self.masking = False

        def after_eval(self, strategy, **kwargs):
            self.masking = True

        def __call__(self, logits, targets):
            if self.masking:
                columns = torch.arange(logits.shape[1], device=logits.device).unsqueeze(0)
                if task_il:
                    first = (targets // CLASSES_PER_TASK * CLASSES_PER_TASK).unsqueeze(1)
                    allowed = (columns >= first) & (columns < first + CLASSES_PER_TASK)
                else:
                    allowed = columns < self.seen
                logits = logits.masked_fill(~allowed, float("-inf"))
            return F.cross_entropy(logits, targets)

    class AccuracyMatrix(SupervisedPlugin):
        """clbench's accuracy matrices from the outputs of strategy.eval: after training task i,
        the accuracy on test task j, class-IL (argmax over the classes seen so far) and task-IL
        (argmax within task j's classes)."""

        def __init__(self):
            super().__init__()
            self.seen = []  # classes trained on so far
            self.class_il, self.task_il = [], []  # one row per evaluation
            self._counts = {}  # test experience -> [class-IL right, task-IL right, samples]

        def after_training_exp(self, strategy, **kwargs):
            self.seen = sorted(set(self.seen) | set(strategy.experience.classes_in_this_experience))

        def before_eval(self, strategy, **kwargs):
            self.class_il.append([None] * TASKS)
            self.task_il.append([None] * TASKS)
            self._counts = {}

        def after_eval_iteration(self, strategy, **kwargs):
            j = strategy.experience.current_experience
            out, y = strategy.mb_output.detach(), strategy.mb_y
            own = sorted(strategy.experience.classes_in_this_experience)
            seen_pred = torch.tensor(self.seen)[out[:, self.seen].argmax(1).cpu()]
            task_pred = torch.tensor(own)[out[:, own].argmax(1).cpu()]
            c = self._counts.setdefault(j, [0, 0, 0])
            c[0] += int((seen_pred == y.cpu()).sum())
            c[1] += int((task_pred == y.cpu()).sum())
            c[2] += len(y)

        def after_eval(self, strategy, **kwargs):
            for j, (class_ok, task_ok, n) in self._counts.items():
                self.class_il[-1][j] = 100.0 * class_ok / n
                self.task_il[-1][j] = 100.0 * task_ok / n

    def quiet_evaluator():
        return EvaluationPlugin(accuracy_metrics(experience=True, stream=True), loggers=[])

    def sgd(params, momentum=0.9, weight_decay=0.0):
        return torch.optim.SGD(params, lr=LR, momentum=momentum, weight_decay=weight_decay)

    def mlp():
        model = SimpleMLP(num_classes=CLASSES, input_size=784, hidden_size=400, hidden_layers=2,
                          drop_rate=0)
        assert sum(p.numel() for p in model.parameters()) == 478_410
        return model

    class VanDeVenVae(Generator, nn.Module):
        """clbench's dgr generator (methods/generative/vae.h) in Avalanche's interface: van de
        Ven's MLP VAE for 28x28, 784-400-400 to a 100-d latent (the log-variance layer without
        bias) and 100-400-400-784 back, sigmoid output."""

        def __init__(self, z_dim=100, hidden=400, pixels=784):
            super().__init__()
            self.z_dim = z_dim
            self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(pixels, hidden), nn.ReLU(),
                                         nn.Linear(hidden, hidden), nn.ReLU())
            self.calc_mean = nn.Linear(hidden, z_dim)
            self.calc_logvar = nn.Linear(hidden, z_dim, bias=False)
            self.decoder = nn.Sequential(nn.Linear(z_dim, hidden), nn.ReLU(),
                                         nn.Linear(hidden, hidden), nn.ReLU(),
                                         nn.Linear(hidden, pixels), nn.Sigmoid())

        def get_features(self, x):
            return self.encoder(x)

        def generate(self, batch_size=None):
            z = torch.randn(batch_size or 1, self.z_dim)
            return self.decoder(z).view(-1, 1, 28, 28)

        def forward(self, x):
            h = self.encoder(x)
            mean, logvar = self.calc_mean(h), self.calc_logvar(h)
            z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
            return self.decoder(z).view(-1, 1, 28, 28), mean, logvar

    def van_de_ven_loss(x, forward_output):
        """van de Ven's VAE loss (average=True), as clbench's vae_loss: BCE averaged over the
        pixels plus the KL divergence over the pixel count, averaged over the batch."""
        x_hat, mean, logvar = forward_output
        reconstruction = F.binary_cross_entropy(x_hat.flatten(1), x.flatten(1),
                                                reduction="none").mean(1)
        kl = -0.5 * (1 + logvar - mean.pow(2) - logvar.exp()).sum(1) / x[0].numel()
        return (reconstruction + kl).mean()

    def build_strategy(method, criterion, plugins):
        common = dict(train_mb_size=BATCH, train_epochs=EPOCHS, eval_mb_size=EVAL_BATCH,
                      device="cpu", evaluator=quiet_evaluator())
        if method == "icarl":
            # The MLP split into iCaRL's feature extractor (784-400-400, ReLU) and linear head;
            # clbench adds wd * sum(theta^2) to the loss, i.e. SGD weight decay 2 * wd = 2e-5.
            model = mlp()
            features = nn.Sequential(nn.Flatten(), model.features)
            return ICaRL(feature_extractor=features, classifier=model.classifier,
                         optimizer=sgd(model.parameters(), weight_decay=2e-5),
                         memory_size=2000, buffer_transform=None, fixed_memory=True,
                         plugins=plugins, **common)
        if method == "pnn":
            model = PNN(num_layers=2, in_features=784, hidden_features_per_column=400,
                        adapter="mlp")
            return PNNStrategy(model=model, optimizer=sgd(model.parameters()),
                               criterion=criterion, plugins=plugins, **common)
        model = mlp()
        if method in ("gem", "agem"):  # clbench's defaults for them: plain SGD (momentum 0)
            optimizer = sgd(model.parameters(), momentum=0.0)
        else:
            optimizer = sgd(model.parameters())
        base = dict(model=model, optimizer=optimizer, criterion=criterion, plugins=plugins, **common)
        if method == "finetune":
            return Naive(**base)
        if method == "joint":  # clbench's joint: at task t train on tasks 1..t
            return Cumulative(**base)
        if method == "ewc":  # clbench adds lambda/2 F (theta - theta*)^2, Avalanche lambda F (...)^2
            return EWC(ewc_lambda=1000 / 2, mode="separate", **base)
        if method == "si":  # clbench adds c Omega (...)^2, Avalanche si_lambda/2 Omega (...)^2
            return SynapticIntelligence(si_lambda=2 * 10, eps=0.1, **base)
        if method == "lwf":
            return LwF(alpha=1, temperature=2, **base)
        if method == "er":  # clbench: class-balanced memory, each batch + a memory batch of 128
            base["plugins"] = plugins + [ReplayPlugin(
                mem_size=500, batch_size_mem=BATCH,
                storage_policy=ClassBalancedBuffer(max_size=500, adaptive_size=True))]
            return Naive(**base)
        if method == "mas":
            return MAS(lambda_reg=1, alpha=0, **base)
        if method == "gem":
            return GEM(patterns_per_exp=256, memory_strength=0.5, **base)
        if method == "agem":  # clbench: 25 per class = 50 per task, 256 per reference gradient
            return AGEM(patterns_per_exp=2 * 25, sample_size=256, **base)
        if method == "der":
            return DER(mem_size=500, alpha=0.3, beta=0.0, batch_size_mem=BATCH, **base)
        if method == "der++":
            return DER(mem_size=500, alpha=0.2, beta=0.5, batch_size_mem=BATCH, **base)
        if method == "dgr":
            # Avalanche's default generator (what GenerativeReplay builds when given none), built
            # here only to give it an evaluator without the default's progress-bar logger.
            generator = MlpVAE((1, 28, 28), nhid=2, device="cpu")
            generator_strategy = VAETraining(
                model=generator,
                optimizer=torch.optim.Adam(generator.parameters(), lr=0.01, weight_decay=1e-4),
                criterion=VAE_loss, train_mb_size=BATCH, train_epochs=EPOCHS,
                eval_mb_size=EVAL_BATCH, device="cpu", plugins=[GenerativeReplayPlugin()],
                evaluator=EvaluationPlugin(loggers=[]))
            return GenerativeReplay(generator_strategy=generator_strategy, **base)
        if method == "dgr-vdv":
            # The same replay with clbench's generator instead (van de Ven's VAE, its loss and its
            # Adam), so that both sides do the same arithmetic and only the time compares.
            generator = VanDeVenVae()
            generator_strategy = VAETraining(
                model=generator, optimizer=torch.optim.Adam(generator.parameters(), lr=1e-3),
                criterion=van_de_ven_loss, train_mb_size=BATCH, train_epochs=EPOCHS,
                eval_mb_size=EVAL_BATCH, device="cpu", plugins=[GenerativeReplayPlugin()],
                evaluator=EvaluationPlugin(loggers=[]))
            return GenerativeReplay(generator_strategy=generator_strategy, **base)
        raise ValueError(method)

    torch.set_num_threads(1)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    start = time.perf_counter()
    # The VAE of dgr generates 1x28x28 images, so its classifier reads them in that shape
    # (SimpleMLP flattens its input); every other method reads the flattened 784 pixels.
    image_shape = (1, 28, 28) if args.method.startswith("dgr") else (784,)
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist(args.data_root, image_shape)
    benchmark = nc_benchmark(
        _make_taskaware_tensor_classification_dataset(x_train, y_train),
        _make_taskaware_tensor_classification_dataset(x_test, y_test),
        n_experiences=TASKS, task_labels=task_il, shuffle=False,
        fixed_class_order=list(range(CLASSES)))
    data_s = time.perf_counter() - start

    # dgr labels its replay with the previous model's argmax over all 10 outputs, which can name
    # a class no loss has seen yet; the masked loss would be infinite there, so dgr keeps
    # Avalanche's plain cross-entropy.
    criterion = nn.CrossEntropyLoss() if args.method.startswith("dgr") else ScenarioCrossEntropy()
    matrix = AccuracyMatrix()
    strategy = build_strategy(args.method, criterion, [matrix])

    train_s = eval_s = 0.0
    for t, experience in enumerate(benchmark.train_stream):
        start = time.perf_counter()
        strategy.train(experience, reset_optimizer_state=True)
        train_s += time.perf_counter() - start
        start = time.perf_counter()
        # PNN has no column for a task it has not trained yet: it is evaluated on the seen ones.
        stream = benchmark.test_stream[:t + 1] if args.method == "pnn" else benchmark.test_stream
        strategy.eval(stream)
        eval_s += time.perf_counter() - start

    final_class_il, final_task_il = matrix.class_il[-1], matrix.task_il[-1]
    result = {
        "method": args.method,
        "seed": args.seed,
        "scenario": args.scenario,
        # PNN answers from the test task's own column and head: only task-IL means something.
        "acc_class_il": None if args.method == "pnn" else round(sum(final_class_il) / TASKS, 2),
        "acc_task_il": round(sum(final_task_il) / TASKS, 2),
        "import_s": round(import_s, 3),
        "data_s": round(data_s, 3),
        "train_s": round(train_s, 3),
        "eval_s": round(eval_s, 3),
    }
    result["total_s"] = round(import_s + data_s + train_s + eval_s, 3)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    sys.exit(main())
