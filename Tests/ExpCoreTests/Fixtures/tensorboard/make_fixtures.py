"""Writes the TensorBoard event-file fixtures the tests read, with tensorboard's own writer.

Needs the `tensorboard` package (pip install tensorboard; 2.21.0 made the committed files):
    python3 -m venv /tmp/tb && /tmp/tb/bin/pip install tensorboard
    /tmp/tb/bin/python make_fixtures.py
Tests never run this: they read the committed files.

- events.out.tfevents.1700000000.fixture.scalars: what PyTorch's SummaryWriter writes
  (simple_value, and tensor scalars with new_style=True), what TF2's tf.summary.scalar
  writes (a DT_FLOAT scalar tensor with the "scalars" plugin), a DT_DOUBLE scalar in
  double_val and one in tensor_content, plus values that are no scalars (a 2-element
  tensor, a string tensor, a histogram) which must yield nothing.
- ...torn: the same file cut in the middle of its last record (a writer still going).
- ...badcrc: the same file with one data byte of the third record flipped (bad data CRC)
  and one length byte of the sixth record flipped (bad length CRC).
"""

import os
import shutil
import struct
import tempfile

from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2
from tensorboard.plugins.scalar import summary_v2
from tensorboard.summary.writer.event_file_writer import EventFileWriter

HERE = os.path.dirname(os.path.abspath(__file__))
BASE = "events.out.tfevents.1700000000.fixture"


def event(step, wall_time, *values):
    return event_pb2.Event(step=step, wall_time=wall_time, summary=summary_pb2.Summary(value=list(values)))


def simple(tag, value):
    return summary_pb2.Summary.Value(tag=tag, simple_value=value)


def tensor_value(tag, tensor):
    metadata = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))
    return summary_pb2.Summary.Value(tag=tag, tensor=tensor, metadata=metadata)


def main():
    folder = tempfile.mkdtemp()
    writer = EventFileWriter(folder)  # first record: the file_version event
    t0 = 1700000000.0
    for step in range(5):
        writer.add_event(event(step, t0 + step, simple("train/loss", 1.0 / (step + 1))))
    # TF2 tf.summary.scalar / SummaryWriter(new_style=True): a scalar DT_FLOAT tensor.
    for step in range(3):
        writer.add_event(event(step * 10, t0 + 10 + step, *summary_v2.scalar_pb("val/acc", 0.5 + 0.1 * step).value))
    double = tensor_pb2.TensorProto(dtype=2, tensor_shape=tensor_shape_pb2.TensorShapeProto(), double_val=[0.125])
    writer.add_event(event(20, t0 + 20, tensor_value("lr", double)))
    content = tensor_pb2.TensorProto(
        dtype=2, tensor_shape=tensor_shape_pb2.TensorShapeProto(), tensor_content=struct.pack("<d", 0.0625))
    writer.add_event(event(30, t0 + 30, tensor_value("lr", content)))
    # Not scalars: a vector, a string tensor, a histogram.
    vector = tensor_pb2.TensorProto(
        dtype=1, tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=2)]),
        float_val=[1.0, 2.0])
    text = tensor_pb2.TensorProto(dtype=7, tensor_shape=tensor_shape_pb2.TensorShapeProto(), string_val=[b"hello"])
    histogram = summary_pb2.Summary.Value(tag="weights", histo=summary_pb2.HistogramProto(min=0, max=1, num=3))
    writer.add_event(event(30, t0 + 31, tensor_value("vector", vector), tensor_value("note", text), histogram))
    writer.add_event(event(40, t0 + 40, simple("train/loss", float("nan")), simple("grad_norm", float("inf"))))
    writer.close()
    [name] = os.listdir(folder)
    data = open(os.path.join(folder, name), "rb").read()
    shutil.rmtree(folder)

    def write(suffix, content):
        with open(os.path.join(HERE, f"{BASE}.{suffix}"), "wb") as f:
            f.write(content)

    write("scalars", data)
    write("torn", data[:-7])
    # Offsets of the records.
    offsets = []
    offset = 0
    while offset < len(data):
        offsets.append(offset)
        (length,) = struct.unpack("<Q", data[offset:offset + 8])
        offset += 12 + length + 4
    broken = bytearray(data)
    broken[offsets[2] + 12 + 3] ^= 0xFF  # a data byte of record 3 (train/loss step 1)
    broken[offsets[5] + 2] ^= 0x01  # a length byte of record 6 (train/loss step 4)
    write("badcrc", bytes(broken))
    print(f"{len(offsets)} records, {len(data)} bytes")


if __name__ == "__main__":
    main()
