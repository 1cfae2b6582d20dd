// SPDX-License-Identifier: MIT
#include "daemon/core/schemas.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/descriptor.h"
#include "switchboard/v1/broker.pb.h"

namespace switchboard::core {

// One connection's files, each after its imports, and the symbols they
// define. A symbol is kept as a 64-bit hash of its full name: 16 bytes a
// symbol instead of a string each. Two names of one hash (about one chance
// in 10^8 for a million symbols, and the hash is seeded per process) can
// only make a file be refused as clashing; lookups check the file they
// find really defines the type.
struct KeptFiles {
  struct File {
    std::string name;
    // FileDescriptorProto as built (FileDescriptor::CopyTo()), serialized.
    std::string proto;
    // Indexes into `files` of what it imports, in order.
    std::vector<uint32_t> imports;
  };
  enum class Kind : uint8_t {
    kType,     // message or enum, at any depth: what Describe looks up
    kPackage,  // may be shared by files
    kOther,    // service, top-level enum value or extension
  };
  struct Symbol {
    uint32_t file;
    Kind kind;
  };

  std::vector<std::shared_ptr<const File>> files;
  absl::flat_hash_map<std::string, uint32_t> by_name;
  absl::flat_hash_map<uint64_t, Symbol> symbols;
  // The files' serialized bytes.
  size_t bytes = 0;
};

namespace {

using google::protobuf::DescriptorPool;
using google::protobuf::DescriptorProto;
using google::protobuf::FileDescriptorProto;
using google::protobuf::FileDescriptorSet;

using Kind = KeptFiles::Kind;

// Keeps the first few build errors, for the refusal's message.
class ErrorCollector : public DescriptorPool::ErrorCollector {
 public:
  void AddError(const std::string& filename, const std::string& element_name,
                const google::protobuf::Message*, ErrorLocation,
                const std::string& message) override {
    if (errors_.size() < 3) {
      errors_.push_back(absl::StrCat(filename, ": ", element_name,
                                     element_name.empty() ? "" : ": ",
                                     message));
    }
  }
  std::string Text() const { return absl::StrJoin(errors_, "; "); }

 private:
  std::vector<std::string> errors_;
};

bool IsIdentifier(absl::string_view token) {
  if (token.empty() || (token[0] >= '0' && token[0] <= '9')) return false;
  return std::all_of(token.begin(), token.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_';
  });
}

// "" (raw bytes) or dot-separated identifiers.
bool IsTypeName(absl::string_view type) {
  if (type.empty()) return true;
  if (type.size() > 512) return false;
  for (absl::string_view token : absl::StrSplit(type, '.')) {
    if (!IsIdentifier(token)) return false;
  }
  return true;
}

uint64_t HashOf(absl::string_view name) {
  return static_cast<uint64_t>(absl::Hash<absl::string_view>{}(name));
}

size_t MethodBytes(const v1::ServiceSchema& schema) {
  size_t bytes = 0;
  for (const v1::MethodSchema& method : schema.methods()) {
    bytes += method.ByteSizeLong();
  }
  return bytes;
}

template <typename Fn>
void ForEachMessageSymbol(const DescriptorProto& message,
                          const std::string& name, Fn& fn) {
  fn(name, Kind::kType);
  for (const DescriptorProto& nested : message.nested_type()) {
    ForEachMessageSymbol(nested, absl::StrCat(name, ".", nested.name()), fn);
  }
  for (const auto& enumeration : message.enum_type()) {
    fn(absl::StrCat(name, ".", enumeration.name()), Kind::kType);
  }
}

// Calls fn(full name, kind) for every symbol of `file` another file could
// clash with: its package and the package's parents, its messages and
// enums at every depth, and whatever else sits at its top level. (Symbols
// inside a message, such as fields, clash only if the message does.)
template <typename Fn>
void ForEachSymbol(const FileDescriptorProto& file, Fn fn) {
  const std::string& package = file.package();
  for (size_t dot = package.find('.'); dot != std::string::npos;
       dot = package.find('.', dot + 1)) {
    fn(package.substr(0, dot), Kind::kPackage);
  }
  if (!package.empty()) fn(package, Kind::kPackage);
  const std::string prefix = package.empty() ? "" : absl::StrCat(package, ".");
  for (const DescriptorProto& message : file.message_type()) {
    ForEachMessageSymbol(message, absl::StrCat(prefix, message.name()), fn);
  }
  for (const auto& enumeration : file.enum_type()) {
    fn(absl::StrCat(prefix, enumeration.name()), Kind::kType);
    // C++ scoping: an enum's values are its siblings.
    for (const auto& value : enumeration.value()) {
      fn(absl::StrCat(prefix, value.name()), Kind::kOther);
    }
  }
  for (const auto& service : file.service()) {
    fn(absl::StrCat(prefix, service.name()), Kind::kOther);
  }
  for (const auto& extension : file.extension()) {
    fn(absl::StrCat(prefix, extension.name()), Kind::kOther);
  }
}

bool DefinesType(const FileDescriptorProto& file, absl::string_view type) {
  bool found = false;
  ForEachSymbol(file, [&](const std::string& name, Kind kind) {
    found = found || (kind == Kind::kType && name == type);
  });
  return found;
}

// Appends file `index` of `kept` to `out` after its imports, leaving out
// those `added` says are there. False if a kept file does not parse back.
bool AppendWithImports(const KeptFiles& kept, uint32_t index,
                       std::vector<bool>& added, FileDescriptorSet& out) {
  if (added[index]) return true;
  added[index] = true;
  const KeptFiles::File& file = *kept.files[index];
  for (uint32_t import : file.imports) {
    if (!AppendWithImports(kept, import, added, out)) return false;
  }
  return out.add_file()->ParseFromString(file.proto);
}

// Where `kept` defines message or enum `type`, if it does.
std::optional<uint32_t> FileOfType(const KeptFiles* kept,
                                   absl::string_view type) {
  if (kept == nullptr) return std::nullopt;
  auto it = kept->symbols.find(HashOf(type));
  if (it == kept->symbols.end() || it->second.kind != Kind::kType) {
    return std::nullopt;
  }
  return it->second.file;
}

// A new file found good, with its symbols' hashes.
struct Fresh {
  KeptFiles::File file;
  std::vector<std::string> imports;
  std::vector<std::pair<uint64_t, Kind>> symbols;
};

// The checks of a file set (and the methods naming its types) against the
// session's `base`: it builds alone, defines the methods' types, and its
// files are the same as the session's of their names. The new files go to
// `fresh`; the first of their symbols that clashes with the session's
// files, to `clash` (reported after the limits, as when a pool was kept).
absl::Status CheckFiles(const FileDescriptorSet& files,
                        const v1::ServiceSchema* methods, const KeptFiles* base,
                        std::vector<Fresh>& fresh, absl::Status& clash) {
  // Built alone: the set must hold every file it imports. The pool costs
  // tens of times the set's bytes and goes when this returns.
  DescriptorPool scratch;
  for (const FileDescriptorProto& file : files.file()) {
    ErrorCollector errors;
    if (scratch.BuildFileCollectingErrors(file, &errors) == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("the schema's file '", file.name(),
                       "' does not build: ", errors.Text()));
    }
  }
  if (methods != nullptr) {
    for (const v1::MethodSchema& method : methods->methods()) {
      for (const std::string* type :
           {&method.request_type(), &method.response_type()}) {
        if (!type->empty() && scratch.FindMessageTypeByName(*type) == nullptr) {
          return absl::InvalidArgumentError(
              absl::StrCat("method '", method.name(), "' names type '", *type,
                           "', which the schema's files do not define"));
        }
      }
    }
  }
  absl::flat_hash_set<std::string> seen;
  for (const FileDescriptorProto& file : files.file()) {
    if (!seen.insert(file.name()).second) continue;  // the same file twice
    FileDescriptorProto built;
    scratch.FindFileByName(file.name())->CopyTo(&built);
    std::string bytes = built.SerializeAsString();
    // Files the session already has must be the same.
    if (base != nullptr) {
      if (auto kept = base->by_name.find(file.name());
          kept != base->by_name.end()) {
        if (base->files[kept->second]->proto != bytes) {
          return absl::InvalidArgumentError(absl::StrCat(
              "file '", file.name(),
              "' differs from the file of that name this connection sent "
              "before"));
        }
        continue;
      }
    }
    Fresh entry;
    ForEachSymbol(built, [&](const std::string& name, Kind kind) {
      const uint64_t hash = HashOf(name);
      entry.symbols.emplace_back(hash, kind);
      if (base == nullptr || !clash.ok()) return;
      auto it = base->symbols.find(hash);
      if (it == base->symbols.end()) return;
      if (kind == Kind::kPackage && it->second.kind == Kind::kPackage) return;
      clash = absl::InvalidArgumentError(
          absl::StrCat("the schema's file '", file.name(),
                       "' clashes with this connection's earlier files: '",
                       name, "' is already defined in file '",
                       base->files[it->second.file]->name, "'"));
    });
    entry.file.name = file.name();
    entry.file.proto = std::move(bytes);
    entry.imports.assign(built.dependency().begin(), built.dependency().end());
    fresh.push_back(std::move(entry));
  }
  return absl::OkStatus();
}

// `base` with `fresh` added.
std::shared_ptr<const KeptFiles> Merge(const KeptFiles* base,
                                       std::vector<Fresh> fresh) {
  auto merged = base == nullptr ? std::make_shared<KeptFiles>()
                                : std::make_shared<KeptFiles>(*base);
  for (Fresh& entry : fresh) {
    const auto index = static_cast<uint32_t>(merged->files.size());
    // The scratch pool built each file after its imports, so these are
    // kept already.
    for (const std::string& import : entry.imports) {
      entry.file.imports.push_back(merged->by_name.at(import));
    }
    for (const auto& [hash, kind] : entry.symbols) {
      merged->symbols.try_emplace(hash, KeptFiles::Symbol{index, kind});
    }
    merged->bytes += entry.file.proto.size();
    merged->by_name.emplace(entry.file.name, index);
    merged->files.push_back(
        std::make_shared<const KeptFiles::File>(std::move(entry.file)));
  }
  return merged;
}

// Fills `verdict` (whose `base` is set) for `files`.
void CheckInto(const FileDescriptorSet& files, const v1::ServiceSchema* methods,
               SchemaVerdict& verdict) {
  std::vector<Fresh> fresh;
  verdict.built =
      CheckFiles(files, methods, verdict.base.get(), fresh, verdict.clash);
  if (!verdict.built.ok()) return;
  for (const Fresh& entry : fresh) {
    verdict.added_bytes += entry.file.proto.size();
  }
  if (!verdict.clash.ok()) return;
  if (fresh.empty()) {
    verdict.kept = verdict.base;
    return;
  }
  verdict.kept = Merge(verdict.base.get(), std::move(fresh));
}

}  // namespace

SchemaRegistry::SchemaRegistry(UidAccounts* accounts) : accounts_(accounts) {}
SchemaRegistry::~SchemaRegistry() = default;

absl::StatusOr<v1::ServiceSchema> SchemaRegistry::Parse(
    absl::string_view payload) {
  v1::ServiceSchema schema;
  if (!schema.ParseFromArray(payload.data(),
                             static_cast<int>(payload.size()))) {
    return absl::InvalidArgumentError(
        "the REGISTER_NAME payload is not a switchboard.v1.ServiceSchema");
  }
  absl::flat_hash_set<std::string> seen;
  for (const v1::MethodSchema& method : schema.methods()) {
    if (method.name().empty()) {
      return absl::InvalidArgumentError("the schema has a method without name");
    }
    if (!seen.insert(method.name()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("the schema lists method '", method.name(), "' twice"));
    }
    for (const std::string* type :
         {&method.request_type(), &method.response_type()}) {
      if (!IsTypeName(*type)) {
        return absl::InvalidArgumentError(
            absl::StrCat("method '", method.name(), "' names type '", *type,
                         "', which is not a protobuf type name"));
      }
    }
  }
  return schema;
}

absl::Status SchemaRegistry::CheckSize(size_t bytes) {
  if (bytes <= kMaxSchemaBytesPerSession) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(
      "the schema is ", bytes, " bytes, over the broker's limit of ",
      kMaxSchemaBytesPerSession, " for all of one connection's schemas"));
}

SchemaJob SchemaRegistry::MakeJob(SessionId session, SchemaJob::Kind kind,
                                  absl::string_view payload) {
  SchemaJob job;
  job.kind = kind;
  job.payload = std::string(payload);
  job.ticket = next_ticket_++;
  jobs_[job.ticket] = session;
  if (auto it = sessions_.find(session); it != sessions_.end()) {
    job.kept = it->second.files;
  }
  return job;
}

SchemaVerdict SchemaRegistry::Check(const SchemaJob& job) {
  SchemaVerdict verdict;
  verdict.ticket = job.ticket;
  verdict.base = job.kept;
  if (job.kind == SchemaJob::Kind::kService) {
    absl::StatusOr<v1::ServiceSchema> schema = Parse(job.payload);
    if (!schema.ok()) {
      verdict.parsed = schema.status();
      return verdict;
    }
    verdict.methods = *std::move(schema);
    CheckInto(verdict.methods.files(), &verdict.methods, verdict);
    verdict.methods.clear_files();
    return verdict;
  }
  v1::RegisterTypesRequest request;
  if (!request.ParseFromArray(job.payload.data(),
                              static_cast<int>(job.payload.size()))) {
    verdict.parsed = absl::InvalidArgumentError(
        absl::StrCat("the request is not a ",
                     v1::RegisterTypesRequest::descriptor()->full_name()));
    return verdict;
  }
  CheckInto(request.files(), nullptr, verdict);
  return verdict;
}

bool SchemaRegistry::FinishJob(SessionId session, uint64_t ticket) {
  auto it = jobs_.find(ticket);
  if (it == jobs_.end() || it->second != session) return false;
  jobs_.erase(it);
  return true;
}

absl::Status SchemaRegistry::CheckCommit(SessionId session,
                                         const SchemaVerdict& verdict,
                                         size_t added) const {
  if (!verdict.parsed.ok()) return verdict.parsed;
  if (!verdict.built.ok()) return verdict.built;
  auto it = sessions_.find(session);
  const SessionSchemas* schemas = it == sessions_.end() ? nullptr : &it->second;
  // A server holds a session's frames while its job runs, so only a
  // misbehaving caller gets here.
  if ((schemas == nullptr ? nullptr : schemas->files.get()) !=
      verdict.base.get()) {
    return absl::AbortedError(
        "this connection's schemas changed while this one was checked");
  }
  const size_t held = schemas == nullptr ? 0 : schemas->bytes;
  if (held + added > kMaxSchemaBytesPerSession) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "this connection's schemas would take ", held + added,
        " bytes, over the broker's limit of ", kMaxSchemaBytesPerSession));
  }
  if (accounts_ != nullptr) {
    if (absl::Status s = accounts_->Check(session, Quota::kSchemaBytes, added);
        !s.ok()) {
      return s;
    }
  }
  return verdict.clash;
}

SchemaRegistry::SessionSchemas& SchemaRegistry::Keep(SessionId session,
                                                     SchemaVerdict& verdict,
                                                     size_t added) {
  SessionSchemas& schemas = sessions_[session];
  schemas.files = std::move(verdict.kept);
  schemas.bytes += added;
  if (accounts_ != nullptr) {
    accounts_->Charge(session, Quota::kSchemaBytes, added);
  }
  return schemas;
}

absl::Status SchemaRegistry::CommitService(SessionId session,
                                           absl::string_view name,
                                           SchemaVerdict verdict) {
  DropService(session, name);
  const size_t method_bytes = MethodBytes(verdict.methods);
  const size_t added = verdict.added_bytes + method_bytes;
  if (absl::Status s = CheckCommit(session, verdict, added); !s.ok()) {
    return s;
  }
  SessionSchemas& schemas = Keep(session, verdict, added);
  Service& service = schemas.services[std::string(name)];
  service.methods = std::move(verdict.methods);
  service.methods.clear_files();
  service.bytes = method_bytes;
  return absl::OkStatus();
}

absl::Status SchemaRegistry::CommitTypes(SessionId session,
                                         SchemaVerdict verdict) {
  if (absl::Status s = CheckCommit(session, verdict, verdict.added_bytes);
      !s.ok()) {
    return s;
  }
  Keep(session, verdict, verdict.added_bytes);
  return absl::OkStatus();
}

absl::Status SchemaRegistry::SetService(SessionId session,
                                        absl::string_view name,
                                        v1::ServiceSchema schema) {
  SchemaVerdict verdict;
  if (auto it = sessions_.find(session); it != sessions_.end()) {
    verdict.base = it->second.files;
  }
  verdict.methods = std::move(schema);
  CheckInto(verdict.methods.files(), &verdict.methods, verdict);
  return CommitService(session, name, std::move(verdict));
}

void SchemaRegistry::DropService(SessionId session, absl::string_view name) {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return;
  auto service = it->second.services.find(name);
  if (service == it->second.services.end()) return;
  const size_t bytes = service->second.bytes;
  it->second.bytes -= bytes;
  if (accounts_ != nullptr) {
    accounts_->Refund(session, Quota::kSchemaBytes, bytes);
  }
  it->second.services.erase(service);
}

absl::Status SchemaRegistry::AddTypes(SessionId session,
                                      const FileDescriptorSet& files) {
  SchemaVerdict verdict;
  if (auto it = sessions_.find(session); it != sessions_.end()) {
    verdict.base = it->second.files;
  }
  CheckInto(files, nullptr, verdict);
  return CommitTypes(session, std::move(verdict));
}

void SchemaRegistry::ForgetSession(SessionId session) {
  for (auto job = jobs_.begin(); job != jobs_.end();) {
    if (job->second == session) {
      jobs_.erase(job++);
    } else {
      ++job;
    }
  }
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return;
  if (accounts_ != nullptr) {
    accounts_->Refund(session, Quota::kSchemaBytes, it->second.bytes);
  }
  sessions_.erase(it);
}

const v1::MethodSchema* SchemaRegistry::FindMethod(
    SessionId session, absl::string_view name, absl::string_view method) const {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return nullptr;
  auto service = it->second.services.find(name);
  if (service == it->second.services.end()) return nullptr;
  for (const v1::MethodSchema& entry : service->second.methods.methods()) {
    if (entry.name() == method) return &entry;
  }
  return nullptr;
}

std::vector<v1::MethodSchema> SchemaRegistry::MethodsOf(
    SessionId session, absl::string_view name) const {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return {};
  auto service = it->second.services.find(name);
  if (service == it->second.services.end()) return {};
  const v1::ServiceSchema& methods = service->second.methods;
  return {methods.methods().begin(), methods.methods().end()};
}

FileDescriptorSet SchemaRegistry::FilesOf(SessionId session,
                                          absl::string_view name) const {
  FileDescriptorSet out;
  auto it = sessions_.find(session);
  if (it == sessions_.end() || it->second.files == nullptr) return out;
  auto service = it->second.services.find(name);
  if (service == it->second.services.end()) return out;
  const KeptFiles& kept = *it->second.files;
  std::vector<bool> added(kept.files.size());
  for (const v1::MethodSchema& method : service->second.methods.methods()) {
    for (const std::string* type :
         {&method.request_type(), &method.response_type()}) {
      if (type->empty()) continue;
      if (std::optional<uint32_t> file = FileOfType(&kept, *type)) {
        if (!AppendWithImports(kept, *file, added, out)) {
          return FileDescriptorSet();
        }
      }
    }
  }
  return out;
}

std::optional<FileDescriptorSet> SchemaRegistry::FilesDefining(
    absl::string_view type, SessionId prefer) const {
  std::vector<SessionId> order;
  if (sessions_.contains(prefer)) order.push_back(prefer);
  std::vector<SessionId> others;
  for (const auto& [session, schemas] : sessions_) {
    if (session != prefer) others.push_back(session);
  }
  std::sort(others.begin(), others.end());
  order.insert(order.end(), others.begin(), others.end());
  for (SessionId session : order) {
    const KeptFiles* kept = sessions_.at(session).files.get();
    std::optional<uint32_t> file = FileOfType(kept, type);
    if (!file) continue;
    std::vector<bool> added(kept->files.size());
    FileDescriptorSet out;
    if (!AppendWithImports(*kept, *file, added, out) ||
        !DefinesType(out.file(out.file_size() - 1), type)) {
      continue;  // two names of one hash
    }
    return out;
  }
  return std::nullopt;
}

std::string SchemaRegistry::ResponseTypeOf(SessionId session,
                                           absl::string_view name,
                                           absl::string_view method) const {
  const v1::MethodSchema* entry = FindMethod(session, name, method);
  return entry == nullptr ? std::string() : entry->response_type();
}

std::string SchemaRegistry::RequestTypeOf(SessionId session,
                                          absl::string_view name,
                                          absl::string_view method) const {
  const v1::MethodSchema* entry = FindMethod(session, name, method);
  return entry == nullptr ? std::string() : entry->request_type();
}

size_t SchemaRegistry::BytesOf(SessionId session) const {
  auto it = sessions_.find(session);
  return it == sessions_.end() ? 0 : it->second.bytes;
}

}  // namespace switchboard::core
