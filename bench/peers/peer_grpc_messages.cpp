// The code protoc generates from peer_grpc.proto (messages and the gRPC service stubs), compiled
// as one translation unit: each generated file pulls in gRPC's and Protobuf's large headers, so
// one TU costs about half of two.
#include "peer_grpc.grpc.pb.cc"
#include "peer_grpc.pb.cc"
