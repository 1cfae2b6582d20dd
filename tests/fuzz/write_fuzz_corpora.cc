// SPDX-License-Identifier: MIT
//
// Writes the structured seed corpora of router_fuzz, handshake_fuzz,
// schema_fuzz, output_queue_fuzz and the PUBLISH-header seeds of
// names_topics_fuzz: real frames, descriptor sets and operation sequences in
// each target's input format (see each target's header), so the fuzzers
// start from deep inside the code. The text seeds of address_fuzz,
// activation_file_fuzz and names_topics_fuzz are written by hand. The files
// are committed under tests/fuzz/corpus/; run this again after changing an
// input format:
//
//   write_fuzz_corpora tests/fuzz/corpus
#include <cstdint>
#include <fstream>
#include <iostream>
#include <string>

#include "google/protobuf/descriptor.pb.h"
#include "switchboard/v1/broker.pb.h"
#include "switchboard/v1/header.pb.h"
#include "switchboard/v1/schema.pb.h"
#include "wire/descriptor_files.h"

namespace switchboard {
namespace {

// Appends the pieces of a fuzz input.
class Input {
 public:
  Input& Byte(uint8_t byte) {
    bytes_.push_back(static_cast<char>(byte));
    return *this;
  }
  Input& U16(uint16_t value) { return Byte(value & 0xff).Byte(value >> 8); }
  Input& Short(const std::string& text) {
    Byte(static_cast<uint8_t>(text.size()));
    bytes_ += text;
    return *this;
  }
  Input& Long(const std::string& text) {
    U16(static_cast<uint16_t>(text.size()));
    bytes_ += text;
    return *this;
  }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

bool Write(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return out.good();
}

google::protobuf::FileDescriptorSet ProtocolFiles() {
  google::protobuf::FileDescriptorSet files;
  wire::AppendWithImports(v1::BrokerStatus::descriptor()->file(), files);
  return files;
}

// router_fuzz: indexes into its dictionaries (router_fuzz.cc).
enum RouterName : uint8_t { kVideo = 0, kAudio, kActSvc, kBroker };
enum RouterMethod : uint8_t {
  kGetFrame = 0,
  kGetStatus,
  kListNames,
  kListConnections,
  kDescribe,
  kRegisterTypes,
  kMonitor,
  kStartService
};

Input& Register(Input& in, uint8_t slot, uint8_t name, bool schema) {
  in.Byte(3).Byte(slot).Byte(schema ? 4 | 0x20 : 4).Byte(1).Byte(name).Byte(0);
  if (schema) in.Byte(kGetFrame).Byte(0);  // GetFrame takes video.Frame
  return in;
}
// A CALL from `slot`; `request` is the AdminRequest() bytes after its shape.
Input& Call(Input& in, uint8_t slot, uint8_t request_id, uint8_t name,
            uint8_t method, uint8_t shape, bool stream = false) {
  in.Byte(3).Byte(slot).Byte(stream ? 0x10 : 0).Byte(request_id);
  in.Byte(name).Byte(method).U16(500);
  if (stream) in.Byte(2);
  return in.Byte(shape);
}
Input& Reply(Input& in, uint8_t slot, uint8_t request_id, bool more) {
  return in.Byte(3)
      .Byte(slot)
      .Byte(more ? 1 | 0x20 : 1)
      .Byte(request_id)
      .Short("reply")
      .Byte(0);
}
Input& Subscribe(Input& in, uint8_t slot, uint8_t id, uint8_t pattern,
                 uint8_t policy) {
  return in.Byte(3)
      .Byte(slot)
      .Byte(6)
      .Byte(id)
      .Byte(id)
      .Byte(pattern)
      .Byte(2)
      .U16(0)
      .Byte(policy);
}
Input& Publish(Input& in, uint8_t slot, uint8_t request_id, uint8_t topic) {
  return in.Byte(3)
      .Byte(slot)
      .Byte(8)
      .Byte(request_id)
      .Byte(topic)
      .Short("message")
      .Byte(0);
}

bool WriteRouter(const std::string& dir) {
  bool ok = true;
  {
    Input in;
    in.Byte(0);
    Register(in, 1, kVideo, true);
    Call(in, 0, 1, kVideo, kGetFrame, 1).Short("request").Byte(0);
    Reply(in, 1, 1, false);
    Call(in, 2, 2, kVideo, kGetFrame, 1).Short("late").Byte(0);
    in.Byte(6).U16(1000);  // expires it
    ok &= Write(dir + "/call_reply", in.bytes());
  }
  {
    Input in;
    in.Byte(1);
    Register(in, 1, kVideo, false);
    Call(in, 0, 3, kVideo, kGetFrame, 1, /*stream=*/true).Short("s").Byte(0);
    Reply(in, 1, 1, true);
    Reply(in, 1, 1, true);
    Reply(in, 1, 1, true);
    in.Byte(3).Byte(0).Byte(3).Byte(3).Byte(2);  // CREDIT 2
    in.Byte(3).Byte(0).Byte(2).Byte(3);          // CANCEL
    in.Byte(7).Byte(1);                          // the callee goes
    ok &= Write(dir + "/stream", in.bytes());
  }
  {
    Input in;
    in.Byte(1);
    Subscribe(in, 2, 1, 1, 0);  // video.*
    Subscribe(in, 3, 2, 0, 2);  // > DROP_NEWEST
    Subscribe(in, 1, 3, 3, 3);  // switchboard.> DISCONNECT
    for (int i = 0; i < 6; ++i) Publish(in, 0, i % 2, 0);
    in.Byte(8).Byte(0).Byte(0).Byte(3).Short("a").Short("b").Short("c");
    in.Byte(9).Byte(0).Byte(2);  // session 2's socket takes everything
    in.Byte(3).Byte(2).Byte(7).Byte(4).Byte(1);  // UNSUBSCRIBE 1
    in.Byte(7).Byte(0);
    ok &= Write(dir + "/topics", in.bytes());
  }
  {
    Input in;
    in.Byte(2);
    Call(in, 0, 1, kBroker, kMonitor, 1).Byte(200).Byte(0);  // Monitor all
    Call(in, 2, 1, kBroker, kGetStatus, 1).Short("").Byte(0);
    // Page size 1, tokens "" and "owned:video.frames" (kPageTokens).
    Call(in, 2, 2, kBroker, kListNames, 1).Byte(1).Byte(0).Byte(0);
    Call(in, 2, 8, kBroker, kListNames, 1).Byte(1).Byte(3).Byte(0);
    Call(in, 2, 3, kBroker, kListConnections, 1).Byte(1).Byte(0).Byte(0);
    Call(in, 3, 1, kBroker, kRegisterTypes, 0x11).Byte(0);
    Call(in, 3, 2, kBroker, kRegisterTypes, 1).Byte(0);
    Call(in, 2, 4, kBroker, kDescribe, 1).Byte(0).Byte(0);     // a type
    Call(in, 2, 5, kBroker, kDescribe, 0x11).Byte(0).Byte(0);  // a name
    Call(in, 2, 6, kBroker, kStartService, 1).Byte(kActSvc).Byte(0);
    Call(in, 2, 7, kActSvc, kGetFrame, 1).Short("held").Byte(0);
    Register(in, 1, kActSvc, true);
    in.Byte(3).Byte(0).Byte(9).Byte(9);  // PING
    in.Byte(6).U16(30000);
    ok &= Write(dir + "/admin", in.bytes());
  }
  {
    // A raw frame: a REGISTER_NAME header as the bytes a client writes.
    v1::Header header;
    header.mutable_register_name()->set_name("video.frames");
    header.mutable_register_name()->set_flag(v1::NAME_FLAG_QUEUE);
    Input in;
    in.Byte(0);
    in.Byte(0)
        .Byte(1)
        .Byte(6)
        .Byte(0)
        .Byte(1)
        .Byte(0)
        .Long(header.SerializeAsString())
        .Short("");
    in.Byte(0)
        .Byte(2)
        .Byte(6)
        .Byte(0)
        .Byte(1)
        .Byte(0)
        .Long(header.SerializeAsString())
        .Short("");
    in.Byte(3).Byte(1).Byte(5).Byte(2).Byte(kVideo);  // RELEASE_NAME
    ok &= Write(dir + "/raw_names", in.bytes());
  }
  return ok;
}

bool WriteHandshake(const std::string& dir) {
  v1::Header header;
  header.mutable_hello()->set_client_name("slideshow");
  header.mutable_hello()->set_token("secret");
  header.mutable_hello()->add_features("fds");
  const std::string hello = header.SerializeAsString();
  Input tcp;
  tcp.Byte(1).Short("secret").Byte(0).Short(hello);
  Input unix;
  unix.Byte(0).Short("").Byte(0).Short(hello).Byte('p');
  return Write(dir + "/tcp_hello", tcp.bytes()) &&
         Write(dir + "/unix_hello", unix.bytes());
}

bool WriteSchema(const std::string& dir) {
  const google::protobuf::FileDescriptorSet files = ProtocolFiles();
  v1::ServiceSchema schema;
  v1::MethodSchema& method = *schema.add_methods();
  method.set_name("GetStatus");
  method.set_request_type("switchboard.v1.GetStatusRequest");
  method.set_response_type("switchboard.v1.BrokerStatus");
  *schema.mutable_files() = files;
  Input in;
  in.Byte(0).Byte(0).Long(files.SerializeAsString());
  in.Byte(1)
      .Byte(1)
      .Short("switchboard.Broker")
      .Long(schema.SerializeAsString());
  in.Byte(3).Short("switchboard.v1.Header").Byte(1);
  in.Byte(4).Byte(1).Short("switchboard.Broker").Short("GetStatus");
  in.Byte(6).Byte(2).Byte(0).U16(300).Byte(4);
  in.Byte(2).Byte(1).Short("switchboard.Broker");
  in.Byte(5).Byte(0);
  return Write(dir + "/protocol_files", in.bytes());
}

bool WriteOutputQueue(const std::string& dir) {
  Input in;
  in.Byte(0).Byte(5).Byte(10);            // Push
  in.Byte(1).Byte(0).Byte(0).Byte(0x85);  // PushMessage, large
  in.Byte(1).Byte(1).Byte(1);             // the same message again
  in.Byte(2).Byte(2).Byte(2).Byte(10).Byte(20).Byte(30).Byte(40);  // PushRun
  in.Byte(3).Byte(0).Byte(3);          // PushDropReport
  in.Byte(3).Byte(0).Byte(4);          // replaces it
  in.Byte(0).Byte(0x45).Byte(0x90);    // Push, with a descriptor, large
  in.Byte(1).Byte(0).Byte(4).Byte(7);  // PushMessage, two descriptors
  in.Byte(0).Byte(0xc6).Byte(3);       // Push, with three descriptors
  in.Byte(4).Byte(2);                  // DropOldest
  in.Byte(6).Byte(7).U16(100).Byte(6).Byte(7).U16(5000);
  in.Byte(5).Byte(6).Byte(8);
  // A compaction: behind a frame that stays at the front, 70 messages of
  // subscription 1 around a drop report of subscription 2; dropping 66 of
  // them leaves more tombstones than live entries, and the report, moved,
  // is then replaced.
  Input compaction;
  compaction.Byte(0).Byte(1).Byte(10);         // Push
  compaction.Byte(1).Byte(0).Byte(0).Byte(5);  // PushMessage, a new one
  for (int i = 0; i < 34; ++i) compaction.Byte(1).Byte(0).Byte(1);  // again
  compaction.Byte(3).Byte(1).Byte(3);  // PushDropReport
  for (int i = 0; i < 35; ++i) compaction.Byte(1).Byte(0).Byte(1);
  compaction.Byte(1).Byte(1).Byte(1);                       // subscription 2's
  for (int i = 0; i < 66; ++i) compaction.Byte(4).Byte(0);  // DropOldest
  compaction.Byte(3).Byte(1).Byte(4);  // replaces the report
  compaction.Byte(6).Byte(7).U16(5000).Byte(6);
  return Write(dir + "/mixed", in.bytes()) &&
         Write(dir + "/compaction", compaction.bytes());
}

bool WritePublishHeaders(const std::string& dir) {
  v1::Header plain;
  plain.mutable_publish()->set_topic("video.frames");
  plain.mutable_publish()->set_message_type("video.Frame");
  v1::Header other;
  other.mutable_call()->set_service("video.frames");
  return Write(dir + "/plain_publish", plain.SerializeAsString()) &&
         Write(dir + "/publish_then_call", plain.SerializeAsString() +
                                               other.SerializeAsString() +
                                               plain.SerializeAsString());
}

int Run(const std::string& root) {
  const bool ok = WriteRouter(root + "/router") &&
                  WriteHandshake(root + "/handshake") &&
                  WriteSchema(root + "/schema") &&
                  WriteOutputQueue(root + "/output_queue") &&
                  WritePublishHeaders(root + "/names_topics");
  if (!ok) std::cerr << "could not write the corpora under " << root << "\n";
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace switchboard

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: write_fuzz_corpora CORPUS_DIR (tests/fuzz/corpus)\n";
    return 2;
  }
  return switchboard::Run(argv[1]);
}
