#!/usr/bin/env python3
"""A tiny, dependency-free training script to try exp with.

Trains a one-hidden-layer MLP (tanh, sigmoid output) with mini-batch SGD on a synthetic
two-class dataset (two interleaved half-moons with noise), in pure Python. Takes a second or
two with the defaults.

Prints one line per epoch, such as `epoch 3 | loss: 0.4123 | acc: 0.87`. When the
EXP_METRICS_FILE environment variable is set (exp run sets it), also appends one JSON object
per epoch to that file: {"step": 3, "loss": 0.4123, "acc": 0.87} (unless --no-metrics-file).

To try the other ways exp reads metrics, with no package installed:
  --csv-log DIR  writes DIR/lightning_logs/version_N/metrics.csv and hparams.yaml as
                 PyTorch Lightning's CSVLogger does (appended every --flush-every rows,
                 rewritten whole with a new header when a key appears: `val_acc` arrives
                 after the first epoch);
  --tb-log DIR   writes DIR/events.out.tfevents.* as TensorBoard's SummaryWriter does
                 (TFRecord framing with masked CRC-32C, Event protos with simple_value).
"""

import argparse
import json
import math
import os
import random
import socket
import struct
import time


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


class LightningCSV:
    """Lightning's CSVLogger: DIR/lightning_logs/version_N/{metrics.csv,hparams.yaml}."""

    def __init__(self, root, hparams, flush_every):
        base = os.path.join(root, "lightning_logs")
        os.makedirs(base, exist_ok=True)
        versions = [int(d.split("_")[1]) for d in os.listdir(base) if d.startswith("version_")]
        self.folder = os.path.join(base, f"version_{max(versions, default=-1) + 1}")
        os.makedirs(self.folder)
        self.path = os.path.join(self.folder, "metrics.csv")
        self.rows, self.keys, self.flush_every = [], [], flush_every
        with open(os.path.join(self.folder, "hparams.yaml"), "w", encoding="utf-8") as f:
            f.writelines(f"{key}: {value}\n" for key, value in sorted(hparams.items()))

    def log(self, metrics, step):
        self.rows.append(dict(metrics, step=step))
        if len(self.rows) >= self.flush_every:
            self.save()

    def save(self):
        import csv

        if not self.rows:
            return
        new_keys = set().union(*self.rows) - set(self.keys)
        self.keys = sorted(self.keys + list(new_keys))
        exists = os.path.isfile(self.path)
        if new_keys and exists:  # rewrite the whole file with the new header
            with open(self.path, newline="") as f:
                old = list(csv.DictReader(f))
            with open(self.path, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=self.keys)
                writer.writeheader()
                writer.writerows(old)
        with open(self.path, "a" if exists else "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.keys)
            if not exists:
                writer.writeheader()
            writer.writerows(self.rows)
        self.rows = []


def _crc32c(data, _table=[]):
    if not _table:
        for i in range(256):
            crc = i
            for _ in range(8):
                crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
            _table.append(crc)
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(n):
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number, wire, payload):
    if wire == 2:
        payload = _varint(len(payload)) + payload
    return _varint(number << 3 | wire) + payload


class TensorBoardEvents:
    """An events.out.tfevents.* file: TFRecords of Event protos, scalars as simple_value."""

    def __init__(self, folder):
        os.makedirs(folder, exist_ok=True)
        name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}.0"
        self.file = open(os.path.join(folder, name), "ab")
        self._write(_field(1, 1, struct.pack("<d", time.time())) + _field(3, 2, b"brain.Event:2"))

    def _write(self, event):
        header = struct.pack("<Q", len(event))
        self.file.write(header + struct.pack("<I", _crc32c(header)) + event + struct.pack("<I", _crc32c(event)))
        self.file.flush()

    def scalars(self, values, step):
        summary = b"".join(
            _field(1, 2, _field(1, 2, tag.encode()) + _field(2, 5, struct.pack("<f", value)))
            for tag, value in values.items())
        self._write(_field(1, 1, struct.pack("<d", time.time())) + _field(2, 0, _varint(step)) + _field(5, 2, summary))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Train a tiny MLP on synthetic half-moons.")
    parser.add_argument("--lr", type=float, default=0.5, help="learning rate (default 0.5)")
    parser.add_argument("--epochs", type=int, default=10, help="passes over the data (default 10)")
    parser.add_argument("--batch-size", type=int, default=16, help="examples per SGD step (default 16)")
    parser.add_argument("--seed", type=int, default=0, help="random seed for data and weights (default 0)")
    parser.add_argument("--hidden", type=int, default=8, help="hidden units (default 8)")
    parser.add_argument("--samples", type=int, default=400, help="training examples (default 400)")
    parser.add_argument("--csv-log", metavar="DIR", help="also log as Lightning's CSVLogger under DIR")
    parser.add_argument("--flush-every", type=int, default=2, help="CSV rows kept before each write (default 2)")
    parser.add_argument("--tb-log", metavar="DIR", help="also log TensorBoard events under DIR")
    parser.add_argument("--no-metrics-file", action="store_true", help="do not write to EXP_METRICS_FILE")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.batch_size < 1 or args.hidden < 1 or args.samples < 2:
        parser.error("--epochs, --batch-size, --hidden must be >= 1 and --samples >= 2")
    return args


def main(argv=None):
    args = parse_args(argv)
    rng = random.Random(args.seed)
    data = make_moons(args.samples, noise=0.15, rng=rng)
    model = MLP(args.hidden, rng)
    metrics_path = None if args.no_metrics_file else os.environ.get("EXP_METRICS_FILE")
    hparams = {"lr": args.lr, "batch_size": args.batch_size, "hidden": args.hidden, "seed": args.seed}
    csv_log = LightningCSV(args.csv_log, hparams, args.flush_every) if args.csv_log else None
    tb_log = TensorBoardEvents(args.tb_log) if args.tb_log else None
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
        if csv_log:
            csv_log.log({"train_loss": loss, "epoch": epoch}, step=epoch)
            if epoch > 2:  # a key that appears later: Lightning rewrites the file
                csv_log.log({"val_acc": acc, "epoch": epoch}, step=epoch)
        if tb_log:
            tb_log.scalars({"train/loss": loss, "train/acc": acc}, step=epoch)
    if csv_log:
        csv_log.save()


if __name__ == "__main__":
    main()
