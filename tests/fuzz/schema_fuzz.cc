// SPDX-License-Identifier: MIT
//
// libFuzzer target for core::SchemaRegistry, which builds the protobuf
// descriptor sets clients send (the ServiceSchema payload of REGISTER_NAME,
// switchboard.Broker/RegisterTypes) and answers Describe from them. The
// input is a sequence of operations, each an op byte and its operands (see
// Step()); sessions are 1 to 3:
//   0 AddTypes(session, FileDescriptorSet from 2-byte-length bytes)
//   1 SetService(session, name, Parse(2-byte-length bytes))
//   2 DropService(session, name)
//   3 FilesDefining(type, prefer session)
//   4 MethodsOf / FilesOf / RequestTypeOf / ResponseTypeOf(session, name,
//     method)
//   5 ForgetSession(session)
//   6 AddTypes of a real set (the protocol's own files and their imports)
//     with one byte of one file flipped
//   7 a job as the router makes one (MakeJob, Check, FinishJob, Commit*)
//     of a REGISTER_NAME or RegisterTypes payload, its session forgotten
//     before the verdict is taken or not
// Properties, besides no crash, leak or sanitizer report (a descriptor that
// does not build must come back as a Status, never as a check failure):
//   - refusals are kInvalidArgument or kResourceExhausted, with a message;
//   - a refused AddTypes or SetService keeps the session's bytes as they
//     were, and no session ever holds more than kMaxSchemaBytesPerSession;
//   - after AddTypes succeeds, every message type of the set is found by
//     FilesDefining() preferring that session (and the set given out for
//     one of them, in turn, is built as below);
//   - every file set the registry gives out (FilesDefining, FilesOf) builds
//     in a fresh pool in its order (each file after its imports, each once)
//     and defines what was asked;
//   - a job whose session was forgotten is not finished (its verdict is
//     dropped), any other is; a job's verdict commits like the call at once;
//   - once every session is forgotten, the registry holds none, and no job.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "daemon/core/schemas.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/stubs/logging.h"
#include "switchboard/v1/broker.pb.h"
#include "tests/fuzz/fuzz_check.h"
#include "wire/descriptor_files.h"

namespace switchboard::core {
namespace {

using google::protobuf::DescriptorPool;
using google::protobuf::FileDescriptorProto;
using google::protobuf::FileDescriptorSet;

void CheckRefusal(const absl::Status& status) {
  SB_FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument ||
                status.code() == absl::StatusCode::kResourceExhausted);
  SB_FUZZ_CHECK(!status.message().empty());
}

// Builds `files` in a fresh pool in order; each file must be new.
bool BuildsAlone(const FileDescriptorSet& files, DescriptorPool& pool) {
  for (const FileDescriptorProto& file : files.file()) {
    if (pool.FindFileByName(file.name()) != nullptr) return false;
    if (pool.BuildFile(file) == nullptr) return false;
  }
  return true;
}

bool Defines(const DescriptorPool& pool, const std::string& type) {
  return pool.FindMessageTypeByName(type) != nullptr ||
         pool.FindEnumTypeByName(type) != nullptr;
}

// The protocol's own files, each after its imports: real sets to mutate.
const FileDescriptorSet& RealFiles() {
  static const FileDescriptorSet* files = [] {
    auto* set = new FileDescriptorSet;
    wire::AppendWithImports(v1::BrokerStatus::descriptor()->file(), *set);
    return set;
  }();
  return *files;
}

class SchemaFuzzer {
 public:
  explicit SchemaFuzzer(fuzz::InputReader& in) : in_(in) {}

  void Run() {
    for (int steps = 0; steps < 64 && !in_.empty(); ++steps) Step();
    for (uint64_t id = 1; id <= 3; ++id) registry_.ForgetSession(SessionId(id));
    SB_FUZZ_CHECK(registry_.session_count() == 0);
    SB_FUZZ_CHECK(registry_.jobs_in_flight() == 0);
  }

 private:
  SessionId Session() { return SessionId(1 + in_.Byte() % 3); }
  std::string Name() { return std::string(in_.ShortString()); }

  void Step() {
    switch (in_.Byte() % 8) {
      case 0: {
        const SessionId session = Session();
        FileDescriptorSet files;
        const absl::string_view bytes = in_.LongString();
        if (!files.ParseFromArray(bytes.data(),
                                  static_cast<int>(bytes.size()))) {
          return;
        }
        AddTypes(session, files);
        return;
      }
      case 1: {
        const SessionId session = Session();
        const std::string name = Name();
        absl::StatusOr<v1::ServiceSchema> schema =
            SchemaRegistry::Parse(in_.LongString());
        if (!schema.ok()) {
          CheckRefusal(schema.status());
          return;
        }
        registry_.DropService(session, name);
        const size_t before = registry_.BytesOf(session);
        if (absl::Status s =
                registry_.SetService(session, name, std::move(*schema));
            !s.ok()) {
          CheckRefusal(s);
          SB_FUZZ_CHECK(registry_.BytesOf(session) == before);
        }
        CheckBytes(session);
        return;
      }
      case 2: {
        const SessionId session = Session();
        registry_.DropService(session, Name());
        return;
      }
      case 3: {
        const std::string type = Name();
        CheckFilesDefining(type, Session());
        return;
      }
      case 4: {
        const SessionId session = Session();
        const std::string name = Name();
        const std::string method = Name();
        for (const v1::MethodSchema& entry :
             registry_.MethodsOf(session, name)) {
          SB_FUZZ_CHECK(!entry.name().empty());
          SB_FUZZ_CHECK(registry_.RequestTypeOf(session, name, entry.name()) ==
                        entry.request_type());
          SB_FUZZ_CHECK(registry_.ResponseTypeOf(session, name, entry.name()) ==
                        entry.response_type());
        }
        (void)registry_.RequestTypeOf(session, name, method);
        DescriptorPool pool;
        SB_FUZZ_CHECK(BuildsAlone(registry_.FilesOf(session, name), pool));
        return;
      }
      case 5:
        registry_.ForgetSession(Session());
        return;
      case 6: {
        const SessionId session = Session();
        FileDescriptorSet files = RealFiles();
        const size_t index = in_.Byte() % files.file_size();
        std::string bytes =
            files.file(static_cast<int>(index)).SerializeAsString();
        const size_t at = in_.U16() % bytes.size();
        bytes[at] = static_cast<char>(bytes[at] ^ (in_.Byte() | 1));
        if (!files.mutable_file(static_cast<int>(index))
                 ->ParseFromString(bytes)) {
          return;
        }
        AddTypes(session, files);
        return;
      }
      case 7:
        Job();
        return;
    }
  }

  void Job() {
    const SessionId session = Session();
    const bool service = (in_.Byte() & 1) != 0;
    const bool forget = (in_.Byte() & 1) != 0;
    const std::string name = Name();
    SchemaJob job = registry_.MakeJob(
        session, service ? SchemaJob::Kind::kService : SchemaJob::Kind::kTypes,
        in_.LongString());
    SchemaVerdict verdict = SchemaRegistry::Check(job);
    if (forget) registry_.ForgetSession(session);
    const bool wanted = registry_.FinishJob(session, verdict.ticket);
    SB_FUZZ_CHECK(wanted == !forget);
    if (!wanted) return;
    SB_FUZZ_CHECK(!registry_.FinishJob(session, verdict.ticket));
    if (!verdict.parsed.ok()) {
      CheckRefusal(verdict.parsed);
      return;
    }
    if (service) registry_.DropService(session, name);
    const size_t before = registry_.BytesOf(session);
    const absl::Status s =
        service ? registry_.CommitService(session, name, std::move(verdict))
                : registry_.CommitTypes(session, std::move(verdict));
    if (!s.ok()) {
      CheckRefusal(s);
      SB_FUZZ_CHECK(registry_.BytesOf(session) == before);
    }
    CheckBytes(session);
  }

  void AddTypes(SessionId session, const FileDescriptorSet& files) {
    const size_t before = registry_.BytesOf(session);
    if (absl::Status s = registry_.AddTypes(session, files); !s.ok()) {
      CheckRefusal(s);
      SB_FUZZ_CHECK(registry_.BytesOf(session) == before);
      return;
    }
    CheckBytes(session);
    std::vector<std::string> types;
    for (const FileDescriptorProto& file : files.file()) {
      for (const google::protobuf::DescriptorProto& message :
           file.message_type()) {
        types.push_back(
            file.package().empty()
                ? message.name()
                : absl::StrCat(file.package(), ".", message.name()));
      }
    }
    // Every type is found; the set given out is built for one of them, a
    // different one each time: building a pool for each type of the
    // protocol's own files made most of the target's time.
    for (const std::string& type : types) {
      SB_FUZZ_CHECK(registry_.FilesDefining(type, session).has_value());
    }
    if (!types.empty()) {
      SB_FUZZ_CHECK(
          CheckFilesDefining(types[built_types_++ % types.size()], session));
    }
  }

  // Whether some session defines `type`; checks the set given out.
  bool CheckFilesDefining(const std::string& type, SessionId prefer) {
    const std::optional<FileDescriptorSet> files =
        registry_.FilesDefining(type, prefer);
    if (!files.has_value()) return false;
    DescriptorPool pool;
    SB_FUZZ_CHECK(BuildsAlone(*files, pool));
    SB_FUZZ_CHECK(Defines(pool, type));
    return true;
  }

  void CheckBytes(SessionId session) {
    SB_FUZZ_CHECK(registry_.BytesOf(session) <= kMaxSchemaBytesPerSession);
  }

  fuzz::InputReader& in_;
  SchemaRegistry registry_;
  size_t built_types_ = 0;  // AddTypes() calls whose sets were built
};

}  // namespace
}  // namespace switchboard::core

// Hostile descriptors make protobuf log lines per build; keep the run
// readable.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  switchboard::fuzz::InputReader in(data, size);
  switchboard::core::SchemaFuzzer(in).Run();
  return 0;
}
