#!/usr/bin/env python3
"""A pool worker that lies about its mandelbrot tiles, for the demo's head (--listen).

It speaks the wire protocol through tests/nodes/wire_peer.py (written from docs/protocol.md)
and answers every "mandelbrot.tile" batch with one crafted TileResult per request:

  far-rows    row_begin 2000000000: the head used to copy there (SIGSEGV)
  huge-rgb    the requested rows with 4 MiB more RGB than they hold (a heap overflow)
  short-rgb   the requested rows with one byte less
  other-rows  the rows of another band, correctly sized (a hole in the image)

Usage: hostile_tile_worker.py --connect HOST:PORT --lie MODE [--secret-file FILE]
Prints "connected", then "lied N" for each batch, and ends when the head closes the link.
"""

import argparse
import atexit
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests" / "nodes"))
import wire_peer  # noqa: E402  (generates the wire's _pb2 modules)


def tile_messages():
    out = tempfile.mkdtemp(prefix="hostile_tile_pb2_")
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    subprocess.run(["protoc", f"-I{ROOT}", f"--python_out={out}",
                    "examples/mandelbrot/tile.proto"], check=True)
    sys.path.insert(0, out)
    from examples.mandelbrot import tile_pb2
    return tile_pb2


tile_pb2 = tile_messages()


def lie(mode, request):
    rows = request.row_end - request.row_begin
    honest_size = rows * request.width * 3
    tile = tile_pb2.TileResult(row_begin=request.row_begin, row_end=request.row_end,
                               rgb=b"\x7f" * honest_size)
    if mode == "far-rows":
        tile.row_begin, tile.row_end = 2000000000, 2000000000 + rows
    elif mode == "huge-rgb":
        tile.rgb = b"\x7f" * (honest_size + 4 * 1024 * 1024)
    elif mode == "short-rgb":
        tile.rgb = b"\x7f" * (honest_size - 1)
    elif mode == "other-rows":
        shift = rows if request.row_end + rows <= request.height else -rows
        tile.row_begin, tile.row_end = request.row_begin + shift, request.row_end + shift
    return tile


# A task's argument record is a message whose fields 1..N are its arguments, and a result record
# one whose field 1 is the result (docs/protocol.md, "Task values"): here a nested TileRequest
# in, a nested Tile out.
def read_varint(data, at):
    value, shift = 0, 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def field_1(record):
    """The bytes of field 1 (length-delimited) of a record; empty if absent."""
    at = 0
    while at < len(record):
        tag, at = read_varint(record, at)
        if tag & 7 != 2:
            raise ValueError(f"unexpected wire type in a task record: {tag & 7}")
        size, at = read_varint(record, at)
        if tag >> 3 == 1:
            return record[at:at + size]
        at += size
    return b""


def as_field_1(payload):
    size, header = len(payload), bytearray(b"\x0a")
    while True:
        header.append((size & 0x7F) | (0x80 if size > 0x7F else 0))
        size >>= 7
        if not size:
            return bytes(header) + payload


class LyingWorker(wire_peer.Worker):
    lies = 0

    def on_task_batch(self, env, actor, batch):
        if batch.task != "mandelbrot.tile":
            self.peer.respond_error(env, actor, wire_peer.UNKNOWN_TASK, f"no task {batch.task}")
            return
        results = wire_peer.pool_pb2.Items()
        for record in wire_peer.pool_pb2.Items.FromString(batch.args).item:
            tile = lie(self.args.lie, tile_pb2.TileRequest.FromString(field_1(record)))
            results.item.append(as_field_1(tile.SerializeToString()))
        answer = wire_peer.pool_pb2.ResultBatch(batch_id=batch.batch_id,
                                                results=results.SerializeToString())
        self.peer.respond(env, actor, answer)
        LyingWorker.lies += 1
        wire_peer.say(f"lied {LyingWorker.lies}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connect", required=True)
    parser.add_argument("--lie", required=True,
                        choices=["far-rows", "huge-rgb", "short-rgb", "other-rows"])
    parser.add_argument("--secret-file")
    parser.add_argument("--timeout-s", type=float, default=60)
    args = parser.parse_args()
    host, _, port = args.connect.rpartition(":")
    secret = None
    if args.secret_file:
        secret = pathlib.Path(args.secret_file).read_bytes().rstrip(b"\r\n")
    peer = wire_peer.Peer(host, int(port), secret, f"liar-{os.getpid()}")
    worker = LyingWorker(peer, args)
    try:
        peer.handshake()
        wire_peer.say("connected")

        def on_frame(kind, body):
            if kind == wire_peer.SPAWN_REQUEST:
                worker.on_spawn_request(wire_peer.wire_pb2.SpawnRequest.FromString(body))
            elif kind == wire_peer.ENVELOPE:
                worker.on_envelope(wire_peer.wire_pb2.Envelope.FromString(body))
            return False

        wire_peer.serve(peer, time.monotonic() + args.timeout_s, on_frame)
    except wire_peer.Closed as e:
        wire_peer.say(f"closed ({e})")
    peer.sock.close()


if __name__ == "__main__":
    main()
