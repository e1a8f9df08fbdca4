#!/usr/bin/env python3
"""A troupe peer in Python, written from docs/protocol.md alone: it proves that the document is
enough to write a peer, and it plays the hostile peers of the node tests.

Usage (Debian's python3 with python3-protobuf; protoc generates the _pb2 modules at start-up
from messages/*.proto into a temporary directory):

  wire_peer.py --connect 127.0.0.1:7000 [--secret-file FILE] --role ROLE [options]

Roles:
  worker            answer SpawnRequest for "echo" and "troupe.task_runner"; echo answers Ping
                    with Pong(2 * value); the task runner answers TaskBatch ("square" only)
  silent-worker     a worker that heartbeats but never answers a TaskBatch
  malformed-result  a worker that answers its first TaskBatch with a ResultBatch whose results do
                    not parse as Items, then leaves (closes the socket, no Goodbye)
  hold-requests     a worker whose echo actors hold Ping requests (each printed as
                    "request target=T sender=S request_id=R value=V") until a one-way Ping with
                    text "release" arrives, then answer them all
  forge-response    send a response to a request this peer never received (--target,
                    --request-id, --value: a Pong), then a SpawnRequest of an unknown type as a
                    round trip (the node processed the forgery once its answer is here), print
                    "forged", and stay connected
  spawn-flood       send --count SpawnRequests for --actor-type, print
                    "spawned N refused M code C", then close the connection
  partial-frame     announce an Envelope of --announce bytes, send --send bytes of it, print
                    "holding N bytes", then wait
  trickle           announce an Envelope of --announce bytes, then send one byte of it every
                    --interval-ms
  bad-frame         send one frame of --kind with the body --body-hex (or the raw bytes --raw-hex),
                    then nothing more

Every role prints "connected" after the handshake, "goodbye code=C reason=R" when the node says
Goodbye, "closed" when the connection ends, and stops after --timeout-s ("timeout"). Worker
roles send a Heartbeat every 500 ms.
"""

import argparse
import atexit
import hashlib
import hmac
import os
import pathlib
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

# -- the messages: generated from the .proto files of this tree ---------------------------------

ROOT = pathlib.Path(__file__).resolve().parents[2]
PROTOS = ["messages/wire.proto", "messages/pool.proto", "tests/messages/test.proto"]


def generate_messages():
    out = tempfile.mkdtemp(prefix="wire_peer_pb2_")
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    subprocess.run(["protoc", f"-I{ROOT}", f"--python_out={out}", *PROTOS], check=True)
    sys.path.insert(0, out)


generate_messages()
from messages import pool_pb2, wire_pb2  # noqa: E402
from tests.messages import test_pb2  # noqa: E402
from google.protobuf import wrappers_pb2  # noqa: E402

MESSAGE_TYPES = {}
for module in (wire_pb2, pool_pb2, test_pb2, wrappers_pb2):
    for descriptor in module.DESCRIPTOR.message_types_by_name.values():
        MESSAGE_TYPES[descriptor.full_name] = getattr(module, descriptor.name)

# -- framing (docs/protocol.md, "Frames") -------------------------------------------------------

HELLO, AUTH, GOODBYE, HEARTBEAT, ENVELOPE, ACTOR_DOWN, SPAWN_REQUEST, SPAWN_RESPONSE = range(1, 9)
PROTOCOL_VERSION = 1
MAX_FRAME_SIZE = 16 * 1024 * 1024
HEARTBEAT_INTERVAL = 0.5

# troupe error codes (messages/errc.hpp) this peer sends
UNKNOWN_ACTOR_TYPE = 9
UNKNOWN_TASK = 10


def frame(kind, body):
    if not isinstance(body, (bytes, bytearray)):
        body = body.SerializeToString()
    return struct.pack(">IB", 1 + len(body), kind) + body


def say(*words):
    print(*words, flush=True)


class Closed(Exception):
    pass


class Peer:
    """One connection to a node: handshake, frames, heartbeats, payload type numbering."""

    def __init__(self, host, port, secret=None, name="python-peer"):
        self.sock = socket.create_connection((host, port), timeout=10)
        self.sock.setblocking(False)
        self.secret = secret
        self.name = name
        self.nonce = os.urandom(32)
        self.buffer = bytearray()
        self.inbound_types = {}  # type_id -> full type name, bound by the node's envelopes
        self.heartbeats = 0
        self.next_heartbeat = 0.0

    # -- bytes --

    def send_bytes(self, data):
        self.sock.setblocking(True)
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise Closed(str(e))
        finally:
            self.sock.setblocking(False)

    def send(self, kind, body):
        self.send_bytes(frame(kind, body))

    def read_frame(self, deadline):
        """The next frame as (kind, body), or None once `deadline` (time.monotonic) passed."""
        while True:
            if len(self.buffer) >= 4:
                (length,) = struct.unpack(">I", self.buffer[:4])
                if length == 0:
                    raise Closed("the node sent an empty frame")
                if len(self.buffer) >= 4 + length:
                    kind, body = self.buffer[4], bytes(self.buffer[5 : 4 + length])
                    del self.buffer[: 4 + length]
                    return kind, body
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.sock], [], [], left)
            if not ready:
                return None
            try:
                data = self.sock.recv(65536)
            except ConnectionError:
                data = b""
            if not data:
                raise Closed("end of stream")
            self.buffer += data

    # -- handshake (docs/protocol.md, "Handshake") --

    def mac(self, role, verifier_nonce, own_nonce):
        text = b"troupe-auth-v1|" + role + b"|" + verifier_nonce + b"|" + own_nonce
        return hmac.new(self.secret, text, hashlib.sha256).digest()

    def handshake(self, timeout=10):
        hello = wire_pb2.Hello(
            magic="troupe",
            protocol_version=PROTOCOL_VERSION,
            node_name=self.name,
            nonce=self.nonce,
            authenticate=self.secret is not None,
            max_frame_size=MAX_FRAME_SIZE,
        )
        hello.node_id.process_id = os.getpid()
        hello.node_id.host_id = hashlib.sha1(socket.gethostname().encode()).digest()
        self.send(HELLO, hello)
        deadline = time.monotonic() + timeout
        kind, body = self.expect(deadline, HELLO)
        theirs = wire_pb2.Hello.FromString(body)
        if theirs.magic != "troupe" or theirs.protocol_version != PROTOCOL_VERSION:
            raise Closed(f"not a troupe version {PROTOCOL_VERSION} node")
        if theirs.authenticate != (self.secret is not None):
            self.send(GOODBYE, wire_pb2.Goodbye(code=8, reason="authentication differs"))
            raise Closed("one side has a cluster secret, the other not")
        self.node_name = theirs.node_name
        if self.secret is None:
            return
        self.send(AUTH, wire_pb2.Auth(mac=self.mac(b"connector", theirs.nonce, self.nonce)))
        kind, body = self.expect(deadline, AUTH)
        expected = self.mac(b"acceptor", self.nonce, theirs.nonce)
        if not hmac.compare_digest(wire_pb2.Auth.FromString(body).mac, expected):
            self.send(GOODBYE, wire_pb2.Goodbye(code=8, reason="wrong cluster secret"))
            raise Closed("the node does not know the cluster secret")

    def expect(self, deadline, kind):
        got = self.read_frame(deadline)
        if got is None:
            raise Closed("handshake timed out")
        if got[0] == GOODBYE:
            report_goodbye(got[1])
            raise Closed("refused")
        if got[0] != kind:
            raise Closed(f"expected frame kind {kind}, got {got[0]}")
        return got

    # -- heartbeats --

    def heartbeat_if_due(self):
        now = time.monotonic()
        if now >= self.next_heartbeat:
            self.heartbeats += 1
            self.send(HEARTBEAT, wire_pb2.Heartbeat(sequence=self.heartbeats))
            self.next_heartbeat = now + HEARTBEAT_INTERVAL

    # -- envelopes (docs/protocol.md, "Messages between actors") --

    def payload_of(self, env):
        """The envelope's payload as a message, or None for an empty message."""
        name = env.type_name
        if env.type_id != 0:
            if name:
                self.inbound_types[env.type_id] = name
            else:
                name = self.inbound_types[env.type_id]
        if not name:
            return None
        return MESSAGE_TYPES[name].FromString(env.payload)

    def send_envelope(self, target, sender, message, request_id=0, is_response=False):
        # Always named, never numbered: allowed by the protocol, and simplest.
        env = wire_pb2.Envelope(target=target, sender=sender, request_id=request_id,
                                is_response=is_response)
        if message is not None:
            env.type_name = message.DESCRIPTOR.full_name
            env.payload = message.SerializeToString()
        self.send(ENVELOPE, env)

    def respond(self, env, actor, message):
        self.send_envelope(env.sender, actor, message, env.request_id, True)

    def respond_error(self, env, actor, code, text):
        self.respond(env, actor, wire_pb2.Error(code=code, category="troupe", message=text))


def report_goodbye(body):
    bye = wire_pb2.Goodbye.FromString(body)
    say(f"goodbye code={bye.code} reason={bye.reason}")


# -- the worker roles --------------------------------------------------------------------------


def square_batch(batch):
    items = pool_pb2.Items.FromString(batch.args)
    results = pool_pb2.Items()
    for item in items.item:
        x = wrappers_pb2.Int64Value.FromString(item).value
        results.item.append(wrappers_pb2.Int64Value(value=x * x).SerializeToString())
    return pool_pb2.ResultBatch(batch_id=batch.batch_id, results=results.SerializeToString())


class Worker:
    """Spawns echo actors and task runners for the node, and answers their messages."""

    def __init__(self, peer, args):
        self.peer = peer
        self.args = args
        self.actors = {}  # actor id -> type
        self.held = []  # (envelope, actor) of requests held back (hold-requests)
        self.done = False

    def on_spawn_request(self, req):
        if req.actor_type not in ("echo", "troupe.task_runner"):
            error = wire_pb2.Error(code=UNKNOWN_ACTOR_TYPE, category="troupe",
                                   message=f"no actor type {req.actor_type} here")
            self.peer.send(SPAWN_RESPONSE, wire_pb2.SpawnResponse(request_id=req.request_id,
                                                                  error=error))
            return
        actor = len(self.actors) + 1
        self.actors[actor] = req.actor_type
        self.peer.send(SPAWN_RESPONSE, wire_pb2.SpawnResponse(request_id=req.request_id,
                                                              actor=actor))

    def on_envelope(self, env):
        actor = env.target
        kind = self.actors.get(actor)
        message = self.peer.payload_of(env)
        if kind == "echo" and isinstance(message, test_pb2.Ping):
            self.on_ping(env, actor, message)
        elif kind == "troupe.task_runner" and isinstance(message, pool_pb2.TaskBatch):
            self.on_task_batch(env, actor, message)

    def on_ping(self, env, actor, ping):
        role = self.args.role
        if role == "hold-requests" and env.request_id == 0 and ping.text == "release":
            for held_env, held_actor, held_ping in self.held:
                self.peer.respond(held_env, held_actor, test_pb2.Pong(value=2 * held_ping.value))
            self.held.clear()
        elif env.request_id == 0:
            return
        elif role == "hold-requests":
            say(f"request target={actor} sender={env.sender} request_id={env.request_id} "
                f"value={ping.value}")
            self.held.append((env, actor, ping))
        else:
            self.peer.respond(env, actor, test_pb2.Pong(value=2 * ping.value))

    def on_task_batch(self, env, actor, batch):
        say(f"batch {batch.batch_id} task={batch.task} count={batch.count}")
        role = self.args.role
        if role == "silent-worker":
            return
        if role == "malformed-result":
            bad = pool_pb2.ResultBatch(batch_id=batch.batch_id, results=b"\xff\xff\xff")
            self.peer.respond(env, actor, bad)
            say("sent a malformed result; leaving")
            self.done = True
            return
        if batch.task != "square":
            self.peer.respond_error(env, actor, UNKNOWN_TASK, f"no task {batch.task} here")
            return
        self.peer.respond(env, actor, square_batch(batch))


def serve(peer, deadline, on_frame, heartbeats=True):
    """Reads frames until the node closes (Closed), on_frame returns True, or `deadline`."""
    while time.monotonic() < deadline:
        if heartbeats:
            peer.heartbeat_if_due()
        wait_until = min(deadline, peer.next_heartbeat) if heartbeats else deadline
        got = peer.read_frame(wait_until)
        if got is None:
            continue
        kind, body = got
        if kind == GOODBYE:
            report_goodbye(body)  # the node closes next: Closed ends the loop
            continue
        if on_frame(kind, body):
            return
    say("timeout")


def run_worker(peer, args, deadline):
    worker = Worker(peer, args)

    def on_frame(kind, body):
        if kind == SPAWN_REQUEST:
            worker.on_spawn_request(wire_pb2.SpawnRequest.FromString(body))
        elif kind == ENVELOPE:
            worker.on_envelope(wire_pb2.Envelope.FromString(body))
        return worker.done

    serve(peer, deadline, on_frame)


# -- the hostile roles -------------------------------------------------------------------------


def run_forge_response(peer, args, deadline):
    pong = test_pb2.Pong(value=args.value)
    peer.send_envelope(args.target, 1, pong, args.request_id, True)
    peer.send(SPAWN_REQUEST, wire_pb2.SpawnRequest(request_id=1, actor_type="no-such-type"))

    def on_frame(kind, body):
        if kind == SPAWN_RESPONSE:
            say("forged")
        return False

    serve(peer, deadline, on_frame)


def run_spawn_flood(peer, args, deadline):
    requests = b"".join(
        frame(SPAWN_REQUEST, wire_pb2.SpawnRequest(request_id=i + 1, actor_type=args.actor_type))
        for i in range(args.count))
    peer.send_bytes(requests)
    spawned, refused, codes = 0, 0, set()

    def on_frame(kind, body):
        nonlocal spawned, refused
        if kind == SPAWN_RESPONSE:
            resp = wire_pb2.SpawnResponse.FromString(body)
            if resp.HasField("error"):
                refused += 1
                codes.add(resp.error.code)
            else:
                spawned += 1
        return spawned + refused == args.count

    serve(peer, deadline, on_frame)
    code = ",".join(str(c) for c in sorted(codes)) or "none"
    say(f"spawned {spawned} refused {refused} code {code}")


def envelope_header(announce):
    return struct.pack(">IB", announce, ENVELOPE)


def wait_for_end(peer, deadline):
    serve(peer, deadline, lambda kind, body: False, heartbeats=False)


def run_partial_frame(peer, args, deadline):
    peer.send_bytes(envelope_header(args.announce) + b"\x00" * args.send)
    say(f"holding {args.send} bytes")
    wait_for_end(peer, deadline)


def run_trickle(peer, args, deadline):
    peer.send_bytes(envelope_header(args.announce))
    sent = 0
    while time.monotonic() < deadline and sent + 1 < args.announce:
        got = peer.read_frame(time.monotonic() + args.interval_ms / 1000)
        if got is not None and got[0] == GOODBYE:
            report_goodbye(got[1])  # the node closes next: Closed ends the loop
        peer.send_bytes(b"\x00")
        sent += 1
    say("timeout")


def run_bad_frame(peer, args, deadline):
    if args.raw_hex is not None:
        peer.send_bytes(bytes.fromhex(args.raw_hex))
    else:
        peer.send(args.kind, bytes.fromhex(args.body_hex))
    wait_for_end(peer, deadline)


ROLES = {
    "worker": run_worker,
    "silent-worker": run_worker,
    "malformed-result": run_worker,
    "hold-requests": run_worker,
    "forge-response": run_forge_response,
    "spawn-flood": run_spawn_flood,
    "partial-frame": run_partial_frame,
    "trickle": run_trickle,
    "bad-frame": run_bad_frame,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connect", required=True, help="HOST:PORT of the node")
    parser.add_argument("--secret-file", help="file holding the cluster secret")
    parser.add_argument("--name", default="python-peer")
    parser.add_argument("--role", choices=sorted(ROLES), default="worker")
    parser.add_argument("--timeout-s", type=float, default=30)
    parser.add_argument("--target", type=int, default=0)
    parser.add_argument("--request-id", type=int, default=0)
    parser.add_argument("--value", type=int, default=0)
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--actor-type", default="echo")
    parser.add_argument("--announce", type=int, default=1024 * 1024)
    parser.add_argument("--send", type=int, default=0)
    parser.add_argument("--interval-ms", type=int, default=200)
    parser.add_argument("--kind", type=int, default=HEARTBEAT)
    parser.add_argument("--body-hex", default="")
    parser.add_argument("--raw-hex")
    args = parser.parse_args()
    host, _, port = args.connect.rpartition(":")
    secret = None
    if args.secret_file:
        secret = pathlib.Path(args.secret_file).read_bytes().rstrip(b"\r\n")
    deadline = time.monotonic() + args.timeout_s
    try:
        peer = Peer(host, int(port), secret, args.name)
    except OSError as e:
        say(f"cannot connect: {e}")
        sys.exit(1)
    try:
        peer.handshake()
        say("connected")
        ROLES[args.role](peer, args, deadline)
    except Closed as e:
        say(f"closed ({e})")
    peer.sock.close()


if __name__ == "__main__":
    main()
