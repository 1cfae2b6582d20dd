// SPDX-License-Identifier: MIT
#include "client/src/schema.h"

#include "absl/container/flat_hash_set.h"

namespace switchboard::client {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FileDescriptor;
using google::protobuf::FileDescriptorSet;

// Depth first, imports before the file that imports them.
void AddFile(const FileDescriptor* file,
             absl::flat_hash_set<const FileDescriptor*>& added,
             FileDescriptorSet& out) {
  if (!added.insert(file).second) return;
  for (int i = 0; i < file->dependency_count(); ++i) {
    AddFile(file->dependency(i), added, out);
  }
  file->CopyTo(out.add_file());
}

}  // namespace

std::string TypeName(const Descriptor* type) {
  return type == nullptr ? std::string() : std::string(type->full_name());
}

FileDescriptorSet FilesDefining(const std::vector<const Descriptor*>& types) {
  FileDescriptorSet out;
  absl::flat_hash_set<const FileDescriptor*> added;
  for (const Descriptor* type : types) {
    if (type != nullptr) AddFile(type->file(), added, out);
  }
  return out;
}

v1::ServiceSchema BuildServiceSchema(const Service& service) {
  v1::ServiceSchema schema;
  std::vector<const Descriptor*> types;
  for (const auto& [name, method] : service.methods()) {
    v1::MethodSchema* out = schema.add_methods();
    out->set_name(name);
    out->set_request_type(TypeName(method.request));
    out->set_response_type(TypeName(method.response));
    out->set_streaming(method.stream_handler != nullptr);
    types.push_back(method.request);
    types.push_back(method.response);
  }
  *schema.mutable_files() = FilesDefining(types);
  return schema;
}

}  // namespace switchboard::client
