"""Writes the Lightning CSVLogger fixtures the tests read.

The writer below is Lightning's own `_ExperimentWriter` logic
(lightning/fabric/loggers/csv_logs.py, 2.1+) without its fsspec wrapper: rows are kept in
memory; every 100 steps `save()` appends them to metrics.csv with csv.DictWriter (header
only on a fresh file, keys sorted); when a row brings a new key, the whole file is first
rewritten with the new header. `lightning.pytorch` adds an `epoch` key to every row.
Snapshots of the file are copied after each save, so a test can replay what a reader
polling the file would see. Run: python3 make_fixtures.py (no packages needed).
"""

import csv
import math
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))


class ExperimentWriter:
    NAME_METRICS_FILE = "metrics.csv"

    def __init__(self, log_dir):
        self.metrics = []
        self.metrics_keys = []
        self.log_dir = log_dir
        os.makedirs(self.log_dir, exist_ok=True)
        self.metrics_file_path = os.path.join(self.log_dir, self.NAME_METRICS_FILE)

    def log_metrics(self, metrics_dict, step=None):
        if step is None:
            step = len(self.metrics)
        metrics = dict(metrics_dict)
        metrics["step"] = step
        self.metrics.append(metrics)

    def save(self):
        if not self.metrics:
            return
        new_keys = self._record_new_keys()
        file_exists = os.path.isfile(self.metrics_file_path)
        if new_keys and file_exists:
            self._rewrite_with_new_header(self.metrics_keys)
        with open(self.metrics_file_path, mode=("a" if file_exists else "w"), newline="") as file:
            writer = csv.DictWriter(file, fieldnames=self.metrics_keys)
            if not file_exists:
                writer.writeheader()
            writer.writerows(self.metrics)
        self.metrics = []

    def _record_new_keys(self):
        current_keys = set().union(*self.metrics)
        new_keys = current_keys - set(self.metrics_keys)
        self.metrics_keys.extend(new_keys)
        self.metrics_keys.sort()
        return new_keys

    def _rewrite_with_new_header(self, fieldnames):
        with open(self.metrics_file_path, "r", newline="") as file:
            metrics = list(csv.DictReader(file))
        with open(self.metrics_file_path, "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=fieldnames)
            writer.writeheader()
            writer.writerows(metrics)


def main():
    root = os.path.join(HERE, "lightning_logs")
    shutil.rmtree(root, ignore_errors=True)
    log_dir = os.path.join(root, "version_0")
    writer = ExperimentWriter(log_dir)
    snapshots = 0
    flush_every = 100
    steps_per_epoch = 150
    for epoch in range(2):
        for batch in range(steps_per_epoch):
            step = epoch * steps_per_epoch + batch
            if (step + 1) % 50 == 0:  # Trainer(log_every_n_steps=50)
                loss = 0.7 * math.exp(-step / 200)
                writer.log_metrics({"train_loss_step": loss, "lr-Adam": 0.001, "epoch": epoch}, step)
            if (step + 1) % flush_every == 0:
                writer.save()
                snapshots += 1
                shutil.copy(writer.metrics_file_path, os.path.join(HERE, f"metrics-{snapshots}.csv"))
        last = epoch * steps_per_epoch + steps_per_epoch - 1
        # Validation and epoch-level keys arrive at the end of the epoch: new columns.
        writer.log_metrics({"val/loss": 0.65 - 0.1 * epoch, "val/acc": 0.5 + 0.2 * epoch, "epoch": epoch}, last)
        writer.log_metrics({"train_loss_epoch": 0.66 - 0.1 * epoch, "epoch": epoch}, last)
    writer.log_metrics({"test_loss": float("nan"), "grad_norm": float("inf"), "epoch": 1}, 299)
    writer.save()  # finalize()
    snapshots += 1
    shutil.copy(writer.metrics_file_path, os.path.join(HERE, f"metrics-{snapshots}.csv"))
    # CSVLogger.log_hyperparams → save_hparams_to_yaml (yaml.dump of the hparams dict).
    with open(os.path.join(log_dir, "hparams.yaml"), "w") as f:
        f.write(
            "batch_size: 32\n"
            "data:\n  name: mnist\n  num_workers: 4\n"
            "lr: 0.001\n"
            "model:\n  hidden: [64, 128]\n  dropout: 0.1\n  use_bn: true\n"
            "optimizer: adam\n"
        )


if __name__ == "__main__":
    main()
