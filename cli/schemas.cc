// SPDX-License-Identifier: MIT
#include "schemas.h"

#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "json.h"
#include "switchboard/status_macros.h"

namespace switchboard::cli {
namespace {

constexpr char kBroker[] = "switchboard.Broker";

// Collects BuildFile's errors into one message.
class ErrorCollector : public google::protobuf::DescriptorPool::ErrorCollector {
 public:
  void AddError(const std::string& filename, const std::string& element_name,
                const google::protobuf::Message*, ErrorLocation,
                const std::string& message) override {
    if (!text_.empty()) text_ += "; ";
    absl::StrAppend(&text_, filename, ": ", element_name, ": ", message);
  }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

// Appends `file` to `files` after the files it imports, each once.
void AddWithImports(const google::protobuf::FileDescriptor* file,
                    google::protobuf::FileDescriptorSet& files,
                    absl::flat_hash_set<std::string>& added) {
  if (added.contains(file->name())) return;
  for (int i = 0; i < file->dependency_count(); ++i) {
    AddWithImports(file->dependency(i), files, added);
  }
  added.insert(file->name());
  file->CopyTo(files.add_file());
}

// The broker does not describe its own service or types (their definitions
// are switchboard/v1/broker.proto, compiled into every program), so the tool
// describes them itself from its generated code.
v1::Description DescribeBroker() {
  v1::Description description;
  description.set_name(kBroker);
  auto add = [&](const char* name, const google::protobuf::Descriptor* request,
                 const google::protobuf::Descriptor* response, bool streaming) {
    v1::MethodSchema* method = description.add_methods();
    method->set_name(name);
    method->set_request_type(request->full_name());
    method->set_response_type(response->full_name());
    method->set_streaming(streaming);
  };
  add("GetStatus", v1::GetStatusRequest::descriptor(),
      v1::BrokerStatus::descriptor(), false);
  add("ListNames", v1::ListNamesRequest::descriptor(),
      v1::NameList::descriptor(), false);
  add("ListConnections", v1::ListConnectionsRequest::descriptor(),
      v1::ConnectionList::descriptor(), false);
  add("Describe", v1::DescribeRequest::descriptor(),
      v1::Description::descriptor(), false);
  add("RegisterTypes", v1::RegisterTypesRequest::descriptor(),
      v1::RegisterTypesResult::descriptor(), false);
  add("StartService", v1::StartServiceRequest::descriptor(),
      v1::StartServiceResult::descriptor(), false);
  add("Monitor", v1::MonitorRequest::descriptor(),
      v1::MonitorEvent::descriptor(), true);
  absl::flat_hash_set<std::string> added;
  AddWithImports(v1::BrokerStatus::descriptor()->file(),
                 *description.mutable_files(), added);
  return description;
}

}  // namespace

Schemas::Schemas(Client& client, absl::Duration timeout)
    : client_(client),
      timeout_(timeout),
      pool_(google::protobuf::DescriptorPool::generated_pool()),
      factory_(&pool_) {
  factory_.SetDelegateToGeneratedFactory(true);
}

absl::StatusOr<v1::Description> Schemas::Describe(
    const v1::DescribeRequest& request) {
  if (request.name() == kBroker) return DescribeBroker();
  if (absl::StartsWith(request.type(), "switchboard.v1.")) {
    if (const google::protobuf::Descriptor* type =
            google::protobuf::DescriptorPool::generated_pool()
                ->FindMessageTypeByName(request.type())) {
      v1::Description description;
      absl::flat_hash_set<std::string> added;
      AddWithImports(type->file(), *description.mutable_files(), added);
      return description;
    }
  }
  return client_.Call<v1::Description>(kBroker, "Describe", request, timeout_);
}

absl::Status Schemas::AddFiles(
    const google::protobuf::FileDescriptorSet& files) {
  for (const google::protobuf::FileDescriptorProto& file : files.file()) {
    if (pool_.FindFileByName(file.name()) != nullptr) continue;
    ErrorCollector errors;
    if (pool_.BuildFileCollectingErrors(file, &errors) == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("the schema's file ", file.name(),
                       " does not build: ", errors.text()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<const v1::Description*> Schemas::DescribeName(
    absl::string_view name) {
  if (auto it = names_.find(name); it != names_.end()) return &it->second;
  v1::DescribeRequest request;
  request.set_name(std::string(name));
  absl::StatusOr<v1::Description> description = Describe(request);
  if (!description.ok()) return description.status();
  if (absl::Status s = AddFiles(description->files()); !s.ok()) return s;
  auto [it, inserted] =
      names_.emplace(std::string(name), *std::move(description));
  return &it->second;
}

absl::StatusOr<const google::protobuf::Descriptor*> Schemas::FindType(
    absl::string_view type) {
  const std::string full_name(type);
  if (const auto* found = pool_.FindMessageTypeByName(full_name)) return found;
  if (auto it = unknown_types_.find(full_name); it != unknown_types_.end()) {
    return it->second;
  }
  v1::DescribeRequest request;
  request.set_type(full_name);
  absl::StatusOr<v1::Description> description = Describe(request);
  absl::Status status = description.status();
  if (status.ok()) status = AddFiles(description->files());
  if (status.ok()) {
    if (const auto* found = pool_.FindMessageTypeByName(full_name)) {
      return found;
    }
    status = absl::NotFoundError(absl::StrCat(
        "the broker described ", full_name, " but its files do not define it"));
  }
  unknown_types_.emplace(full_name, status);
  return status;
}

std::unique_ptr<google::protobuf::Message> Schemas::NewMessage(
    const google::protobuf::Descriptor* type) {
  return std::unique_ptr<google::protobuf::Message>(
      factory_.GetPrototype(type)->New());
}

absl::StatusOr<std::string> Schemas::ToJson(absl::string_view type,
                                            absl::string_view bytes,
                                            bool indent) {
  SB_ASSIGN_OR_RETURN(const google::protobuf::Descriptor* descriptor,
                      FindType(type));
  std::unique_ptr<google::protobuf::Message> message = NewMessage(descriptor);
  SB_RETURN_IF_ERROR(MessageFromBytes(bytes, *message));
  return MessageToJson(*message, indent);
}

}  // namespace switchboard::cli
