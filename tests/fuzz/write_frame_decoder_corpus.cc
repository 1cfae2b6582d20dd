// SPDX-License-Identifier: MIT
//
// Writes the seed corpus of frame_decoder_fuzz: one file per interesting
// frame (every kind, empty and large payloads, several frames in a row, a
// frame over the large-frame threshold). The files are committed under
// tests/fuzz/corpus/frame_decoder/; run this again after a wire change:
//
//   write_frame_decoder_corpus tests/fuzz/corpus/frame_decoder
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

#include "switchboard/v1/header.pb.h"
#include "wire/frame.h"
#include "wire/frame_decoder.h"

namespace switchboard::wire {
namespace {

std::string Encode(Kind kind, uint64_t request_id, const v1::Header& header,
                   const std::string& payload = "") {
  Prefix prefix;
  prefix.kind = kind;
  prefix.request_id = request_id;
  return std::string(Frame::Build(prefix, header, payload).bytes());
}

bool Write(const std::string& dir, const std::string& name,
           const std::string& bytes) {
  std::ofstream out(dir + "/" + name, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return out.good();
}

int Run(const std::string& dir) {
  v1::Header hello;
  hello.mutable_hello()->set_client_name("slideshow");
  hello.mutable_hello()->set_token(std::string(64, 'a'));
  v1::Header publish;
  publish.mutable_publish()->set_topic("video.events.frame_ready");
  v1::Header welcome;
  welcome.mutable_welcome()->set_connection_id(42);
  welcome.mutable_welcome()->set_max_payload_bytes(64 << 20);
  welcome.mutable_welcome()->set_max_header_bytes(64 << 10);
  welcome.mutable_welcome()->set_broker_version("0.1.0");
  v1::Header call;
  call.mutable_call()->set_service("video.frames");
  call.mutable_call()->set_method("GetFrame");
  call.mutable_call()->set_timeout_us(5000000);
  call.mutable_call()->set_request_type("video.GetFrameRequest");
  v1::Header error_reply;
  error_reply.mutable_reply()->set_code(5);
  error_reply.mutable_reply()->set_message("no owner for video.frames");
  v1::Header register_name;
  register_name.mutable_register_name()->set_name("video.frames");
  register_name.mutable_register_name()->set_flag(v1::NAME_FLAG_QUEUE);
  register_name.mutable_register_name()->set_allow_replacement(true);
  v1::Header release_name;
  release_name.mutable_release_name()->set_name("video.frames");
  v1::Header event;
  event.mutable_event()->mutable_name_lost()->set_name("video.frames");
  event.mutable_event()->mutable_name_lost()->set_new_owner(7);
  v1::Header error;
  error.mutable_error()->set_code(8);
  error.mutable_error()->set_message("payload too large");
  error.mutable_error()->set_limit_name("max_payload_bytes");
  error.mutable_error()->set_limit_value(1 << 20);
  error.mutable_error()->add_supported_versions(1);
  const v1::Header empty;

  const std::string call_frame = Encode(Kind::kCall, 7, call, "request bytes");
  const std::string reply_frame = Encode(Kind::kReply, 7, empty, "response");
  bool ok =
      Write(dir, "hello", Encode(Kind::kHello, 0, hello)) &&
      Write(dir, "welcome", Encode(Kind::kWelcome, 0, welcome)) &&
      Write(dir, "call", call_frame) && Write(dir, "reply", reply_frame) &&
      Write(dir, "reply_error", Encode(Kind::kReply, 9, error_reply)) &&
      Write(dir, "cancel", Encode(Kind::kCancel, 7, empty)) &&
      Write(dir, "register_name",
            Encode(Kind::kRegisterName, 1, register_name)) &&
      Write(dir, "release_name", Encode(Kind::kReleaseName, 2, release_name)) &&
      Write(dir, "ping", Encode(Kind::kPing, 3, empty)) &&
      Write(dir, "event", Encode(Kind::kEvent, 0, event)) &&
      Write(dir, "error", Encode(Kind::kError, 0, error)) &&
      Write(dir, "conversation",
            Encode(Kind::kHello, 0, hello) + call_frame + reply_frame +
                Encode(Kind::kPing, 4, empty)) &&
      // Runs (TakePublishRun): small PUBLISH frames of one topic, then
      // MESSAGE frames of one subscription, each ended by another frame.
      Write(dir, "publish_run",
            Encode(Kind::kPublish, 0, publish, "m1") +
                Encode(Kind::kPublish, 0, publish, "m2") +
                Encode(Kind::kPublish, 0, publish, "m3") +
                Encode(Kind::kPublish, 5, publish, "confirmed")) &&
      Write(dir, "message_run",
            Encode(Kind::kMessage, 3, publish, "m1") +
                Encode(Kind::kMessage, 3, publish, "m2") +
                Encode(Kind::kMessage, 4, publish, "m3")) &&
      // Just over the staging buffer: takes the large-frame path.
      Write(dir, "large_reply",
            Encode(Kind::kReply, 8, empty,
                   std::string(FrameDecoder::kStagingBytes, 'p')));
  if (!ok) std::cerr << "could not write the corpus to " << dir << "\n";
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace switchboard::wire

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: write_frame_decoder_corpus DIR\n";
    return 2;
  }
  return switchboard::wire::Run(argv[1]);
}
