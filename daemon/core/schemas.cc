// SPDX-License-Identifier: MIT
#include "daemon/core/schemas.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/log.h"
#include "wire/descriptor_files.h"

namespace switchboard::core {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::DescriptorPool;
using google::protobuf::FileDescriptor;
using google::protobuf::FileDescriptorProto;
using google::protobuf::FileDescriptorSet;

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

const FileDescriptor* FileOfType(const DescriptorPool& pool,
                                 absl::string_view type) {
  const std::string name(type);
  if (const Descriptor* message = pool.FindMessageTypeByName(name)) {
    return message->file();
  }
  if (const auto* enumeration = pool.FindEnumTypeByName(name)) {
    return enumeration->file();
  }
  return nullptr;
}

size_t MethodBytes(const v1::ServiceSchema& schema) {
  size_t bytes = 0;
  for (const v1::MethodSchema& method : schema.methods()) {
    bytes += method.ByteSizeLong();
  }
  return bytes;
}

}  // namespace

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

absl::Status SchemaRegistry::AddFiles(SessionId session,
                                      const FileDescriptorSet& files,
                                      size_t service_bytes,
                                      const v1::ServiceSchema* methods) {
  // Built alone first: the set must hold every file it imports.
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
  std::unique_ptr<SessionSchemas>& slot = sessions_[session];
  if (slot == nullptr) slot = std::make_unique<SessionSchemas>();
  SessionSchemas& schemas = *slot;
  // Files the session already has must be the same; new ones are counted.
  std::vector<FileDescriptorProto> fresh;
  size_t bytes = service_bytes;
  for (const FileDescriptorProto& file : files.file()) {
    FileDescriptorProto built;
    scratch.FindFileByName(file.name())->CopyTo(&built);
    if (const FileDescriptor* kept =
            schemas.pool->FindFileByName(file.name())) {
      FileDescriptorProto before;
      kept->CopyTo(&before);
      if (before.SerializeAsString() != built.SerializeAsString()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "file '", file.name(),
            "' differs from the file of that name this connection sent "
            "before"));
      }
      continue;
    }
    bytes += built.ByteSizeLong();
    fresh.push_back(std::move(built));
  }
  if (schemas.bytes + bytes > kMaxSchemaBytesPerSession) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "this connection's schemas would take ", schemas.bytes + bytes,
        " bytes, over the broker's limit of ", kMaxSchemaBytesPerSession));
  }
  if (accounts_ != nullptr) {
    if (absl::Status s = accounts_->Check(session, Quota::kSchemaBytes, bytes);
        !s.ok()) {
      return s;
    }
  }
  const size_t kept = schemas.files.size();
  for (const FileDescriptorProto& file : fresh) {
    ErrorCollector errors;
    if (schemas.pool->BuildFileCollectingErrors(file, &errors) == nullptr) {
      // The scratch build passed, so only a clash of symbols across sets
      // gets here (two files defining one type). The set's files built
      // before this one go too.
      TruncatePool(schemas, kept);
      return absl::InvalidArgumentError(absl::StrCat(
          "the schema's file '", file.name(),
          "' clashes with this connection's earlier files: ", errors.Text()));
    }
    schemas.files.push_back(file.name());
  }
  schemas.bytes += bytes;
  if (accounts_ != nullptr) {
    accounts_->Charge(session, Quota::kSchemaBytes, bytes);
  }
  return absl::OkStatus();
}

void SchemaRegistry::TruncatePool(SessionSchemas& schemas, size_t keep) {
  auto pool = std::make_unique<DescriptorPool>();
  schemas.files.resize(keep);
  for (const std::string& name : schemas.files) {
    FileDescriptorProto file;
    schemas.pool->FindFileByName(name)->CopyTo(&file);
    SB_CHECK(pool->BuildFile(file) != nullptr);
  }
  schemas.pool = std::move(pool);
}

absl::Status SchemaRegistry::SetService(SessionId session,
                                        absl::string_view name,
                                        v1::ServiceSchema schema) {
  DropService(session, name);
  const size_t bytes = MethodBytes(schema);
  if (absl::Status s = AddFiles(session, schema.files(), bytes, &schema);
      !s.ok()) {
    return s;
  }
  schema.clear_files();  // they live in the pool
  sessions_[session]->services[std::string(name)] = std::move(schema);
  return absl::OkStatus();
}

void SchemaRegistry::DropService(SessionId session, absl::string_view name) {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return;
  auto service = it->second->services.find(name);
  if (service == it->second->services.end()) return;
  const size_t bytes = MethodBytes(service->second);
  it->second->bytes -= bytes;
  if (accounts_ != nullptr) {
    accounts_->Refund(session, Quota::kSchemaBytes, bytes);
  }
  it->second->services.erase(service);
}

absl::Status SchemaRegistry::AddTypes(SessionId session,
                                      const FileDescriptorSet& files) {
  return AddFiles(session, files, 0, nullptr);
}

void SchemaRegistry::ForgetSession(SessionId session) {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return;
  if (accounts_ != nullptr) {
    accounts_->Refund(session, Quota::kSchemaBytes, it->second->bytes);
  }
  sessions_.erase(it);
}

const v1::MethodSchema* SchemaRegistry::FindMethod(
    SessionId session, absl::string_view name, absl::string_view method) const {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return nullptr;
  auto service = it->second->services.find(name);
  if (service == it->second->services.end()) return nullptr;
  for (const v1::MethodSchema& entry : service->second.methods()) {
    if (entry.name() == method) return &entry;
  }
  return nullptr;
}

std::vector<v1::MethodSchema> SchemaRegistry::MethodsOf(
    SessionId session, absl::string_view name) const {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return {};
  auto service = it->second->services.find(name);
  if (service == it->second->services.end()) return {};
  return {service->second.methods().begin(), service->second.methods().end()};
}

FileDescriptorSet SchemaRegistry::FilesOf(SessionId session,
                                          absl::string_view name) const {
  FileDescriptorSet out;
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return out;
  auto service = it->second->services.find(name);
  if (service == it->second->services.end()) return out;
  for (const v1::MethodSchema& method : service->second.methods()) {
    for (const std::string* type :
         {&method.request_type(), &method.response_type()}) {
      if (type->empty()) continue;
      if (const FileDescriptor* file = FileOfType(*it->second->pool, *type)) {
        wire::AppendWithImports(file, out);
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
    const FileDescriptor* file = FileOfType(*sessions_.at(session)->pool, type);
    if (file == nullptr) continue;
    FileDescriptorSet out;
    wire::AppendWithImports(file, out);
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
  return it == sessions_.end() ? 0 : it->second->bytes;
}

}  // namespace switchboard::core
