// Writes the seed corpus for the fuzz targets: valid frames of each kind, a full handshake, a
// run of envelopes binding and reusing type numbers, task items of each codec, values of every
// shape fuzz_codec decodes.
//   make_fuzz_seeds tests/fuzz/corpus
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <tuple>
#include <vector>

#include "troupe/messages/codec.hpp"
#include "troupe/messages/flow.pb.h"
#include "troupe/messages/items.hpp"
#include "troupe/messages/pool.pb.h"
#include "troupe/nodes/wire/handshake.hpp"

using namespace troupe;
namespace fs = std::filesystem;

namespace {

void write(const fs::path& dir, const std::string& name, const std::string& bytes) {
  fs::create_directories(dir);
  std::ofstream{dir / name, std::ios::binary} << bytes;
}

std::string str(const std::vector<char>& v) {
  return std::string(v.begin(), v.end());
}

std::vector<char> hello_frame(const std::string& nonce, bool authenticate) {
  wire::Hello hello;
  hello.set_magic("troupe");
  hello.set_protocol_version(wire::protocol_version);
  hello.set_node_name("seed");
  hello.set_nonce(nonce);
  hello.set_authenticate(authenticate);
  hello.set_max_frame_size(1 << 20);
  std::vector<char> out;
  wire::append_frame(out, wire::kind::hello, hello);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_fuzz_seeds CORPUS_DIR\n";
    return 2;
  }
  fs::path root{argv[1]};
  // frame: one of each kind, and several back to back.
  std::vector<char> all;
  auto hello = hello_frame(std::string(32, 'p'), false);
  all.insert(all.end(), hello.begin(), hello.end());
  wire::Goodbye bye;
  bye.set_code(18);
  bye.set_reason("bye");
  wire::append_frame(all, wire::kind::goodbye, bye);
  wire::Heartbeat beat;
  beat.set_sequence(3);
  wire::append_frame(all, wire::kind::heartbeat, beat);
  wire::envelope_header h;
  h.target = 5;
  h.sender = 6;
  h.request_id = 7;
  h.type_id = 1;
  h.type_name = "troupe.flow.Demand";
  flow::Demand demand;
  demand.set_credit(8);
  wire::append_envelope(all, h, &demand);
  wire::ActorDown down;
  down.set_actor(5);
  wire::append_frame(all, wire::kind::actor_down, down);
  wire::SpawnRequest spawn;
  spawn.set_request_id(1);
  spawn.set_actor_type("echo");
  wire::append_frame(all, wire::kind::spawn_request, spawn);
  wire::SpawnResponse spawned;
  spawned.set_request_id(1);
  spawned.set_actor(9);
  wire::append_frame(all, wire::kind::spawn_response, spawned);
  write(root / "frame", "all-kinds", std::string(1, '\x07') + str(all));
  write(root / "frame", "one-byte-reads", std::string(1, '\x00') + str(hello));
  // handshake: a Hello without and with authentication, and a Hello followed by an Auth.
  write(root / "handshake", "hello", std::string(1, '\x00') + str(hello));
  auto auth_hello = hello_frame(std::string(32, 'q'), true);
  wire::Auth auth;
  auth.set_mac(wire::auth_mac("fuzzing secret", wire::role::connector, std::string(32, 'N'),
                              std::string(32, 'q')));
  std::vector<char> with_auth = auth_hello;
  wire::append_frame(with_auth, wire::kind::auth, auth);
  write(root / "handshake", "hello-auth", std::string(1, '\x03') + str(with_auth));
  // envelope: bind a number, reuse it, switch types, an error payload.
  std::vector<char> envs;
  wire::append_envelope(envs, h, &demand);
  h.type_name = {};
  wire::append_envelope(envs, h, &demand);
  h.type_id = 2;
  h.type_name = "troupe.pool.TaskBatch";
  pool::TaskBatch batch;
  batch.set_task("square");
  batch.set_count(2);
  items::append(*batch.mutable_args(), int64_t{3});
  items::append(*batch.mutable_args(), int64_t{-4});
  wire::append_envelope(envs, h, &batch);
  h.type_id = 0;
  h.is_response = true;
  h.type_name = "troupe.wire.Error";
  wire::Error err;
  err.set_code(5);
  err.set_category("troupe");
  err.set_message("node down");
  wire::append_envelope(envs, h, &err);
  write(root / "envelope", "sequence", str(envs));
  // items: every codec.
  std::string values;
  items::append(values, int64_t{-12345});
  items::append(values, 2.5);
  items::append(values, 1.5f);
  items::append(values, true);
  items::append(values, std::string{"hello"});
  items::append(values, batch);
  items::append_empty(values);
  write(root / "items", "every-codec", values);
  // codec: fuzz_codec's Shape with every field set (as troupe writes it: a tuple of fields
  // 1..10, Inner as a tuple of its fields), unpacked numbers, and nested containers.
  using inner = std::tuple<float, std::vector<uint64_t>, std::string>;
  std::string shape;
  encode_fields(shape, int64_t{-7}, uint64_t{1} << 40, 2.5, std::string{"bytes"},
                std::vector<int64_t>{1, -1, 300}, std::vector<std::string>{"a", ""},
                std::map<std::string, int64_t>{{"k", 1}, {"", 0}}, inner{1.5f, {1, 2}, "s"},
                std::vector<inner>{inner{}, inner{-0.0f, {9}, ""}}, std::optional<int64_t>{0});
  write(root / "codec", "shape", shape);
  write(root / "codec", "unpacked", "\x28\x01\x28\x02\x10\x05");
  write(root / "codec", "nested",
        encode(std::vector<std::vector<std::optional<std::string>>>{{"x", std::nullopt}, {}}));
  write(root / "codec", "map-of-vectors",
        encode(std::map<int32_t, std::vector<int8_t>>{{1, {-1, 2}}, {-5, {}}}));
  write(root / "codec", "tree",
        encode(std::vector<std::tuple<int64_t, std::vector<int64_t>>>{{1, {2, 3}}, {4, {}}}));
  std::cout << "seeds written to " << root << "\n";
  return 0;
}
