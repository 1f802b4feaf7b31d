#!/usr/bin/env python3
"""A tiny, dependency-free training script to try exp with.

Trains a one-hidden-layer MLP (tanh, sigmoid output) with mini-batch SGD on a synthetic
two-class dataset (two interleaved half-moons with noise), in pure Python. Takes a second or
two with the defaults.

Prints one line per epoch, such as `epoch 3 | loss: 0.4123 | acc: 0.87`. When the
EXP_METRICS_FILE environment variable is set (exp run sets it), also appends one JSON object
per epoch to that file: {"step": 3, "loss": 0.4123, "acc": 0.87}.
"""

import argparse
import json
import math
import os
import random


def make_moons(n, noise, rng):
    """n points of two interleaved half circles, labelled 0 and 1, with Gaussian noise."""
    points = []
    for i in range(n):
        label = i % 2
        angle = rng.uniform(0.0, math.pi)
        if label == 0:
            x, y = math.cos(angle), math.sin(angle)
        else:
            x, y = 1.0 - math.cos(angle), 0.5 - math.sin(angle)
        points.append(((x + rng.gauss(0.0, noise), y + rng.gauss(0.0, noise)), label))
    return points


def sigmoid(z):
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


class MLP:
    """2 inputs -> `hidden` tanh units -> 1 sigmoid output."""

    def __init__(self, hidden, rng):
        scale = 1.0 / math.sqrt(2.0)
        self.w1 = [[rng.gauss(0.0, scale) for _ in range(2)] for _ in range(hidden)]
        self.b1 = [0.0] * hidden
        self.w2 = [rng.gauss(0.0, 1.0 / math.sqrt(hidden)) for _ in range(hidden)]
        self.b2 = 0.0

    def forward(self, x):
        h = [math.tanh(w[0] * x[0] + w[1] * x[1] + b) for w, b in zip(self.w1, self.b1)]
        p = sigmoid(sum(w * hi for w, hi in zip(self.w2, h)) + self.b2)
        return h, p

    def step(self, batch, lr):
        """One SGD step on `batch`; returns the batch's summed loss."""
        hidden = len(self.b1)
        g_w1 = [[0.0, 0.0] for _ in range(hidden)]
        g_b1 = [0.0] * hidden
        g_w2 = [0.0] * hidden
        g_b2 = 0.0
        total = 0.0
        for x, y in batch:
            h, p = self.forward(x)
            total += -math.log(max(p, 1e-12)) if y == 1 else -math.log(max(1.0 - p, 1e-12))
            d_out = p - y  # d(loss)/d(logit) for sigmoid + binary cross-entropy
            g_b2 += d_out
            for j in range(hidden):
                g_w2[j] += d_out * h[j]
                d_h = d_out * self.w2[j] * (1.0 - h[j] * h[j])
                g_w1[j][0] += d_h * x[0]
                g_w1[j][1] += d_h * x[1]
                g_b1[j] += d_h
        n = len(batch)
        for j in range(hidden):
            self.w1[j][0] -= lr * g_w1[j][0] / n
            self.w1[j][1] -= lr * g_w1[j][1] / n
            self.b1[j] -= lr * g_b1[j] / n
            self.w2[j] -= lr * g_w2[j] / n
        self.b2 -= lr * g_b2 / n
        return total

    def accuracy(self, data):
        return sum((self.forward(x)[1] >= 0.5) == (y == 1) for x, y in data) / len(data)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Train a tiny MLP on synthetic half-moons.")
    parser.add_argument("--lr", type=float, default=0.5, help="learning rate (default 0.5)")
    parser.add_argument("--epochs", type=int, default=10, help="passes over the data (default 10)")
    parser.add_argument("--batch-size", type=int, default=16, help="examples per SGD step (default 16)")
    parser.add_argument("--seed", type=int, default=0, help="random seed for data and weights (default 0)")
    parser.add_argument("--hidden", type=int, default=8, help="hidden units (default 8)")
    parser.add_argument("--samples", type=int, default=400, help="training examples (default 400)")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.batch_size < 1 or args.hidden < 1 or args.samples < 2:
        parser.error("--epochs, --batch-size, --hidden must be >= 1 and --samples >= 2")
    return args


def main(argv=None):
    args = parse_args(argv)
    rng = random.Random(args.seed)
    data = make_moons(args.samples, noise=0.15, rng=rng)
    model = MLP(args.hidden, rng)
    metrics_path = os.environ.get("EXP_METRICS_FILE")
    for epoch in range(1, args.epochs + 1):
        rng.shuffle(data)
        loss = 0.0
        for start in range(0, len(data), args.batch_size):
            loss += model.step(data[start:start + args.batch_size], args.lr)
        loss /= len(data)
        acc = model.accuracy(data)
        print(f"epoch {epoch} | loss: {loss:.4f} | acc: {acc:.2f}", flush=True)
        if metrics_path:
            with open(metrics_path, "a", encoding="utf-8") as f:
                record = {"step": epoch, "loss": round(loss, 6), "acc": round(acc, 6)}
                f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
