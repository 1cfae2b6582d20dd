// SPDX-License-Identifier: MIT
#include "client/src/schema.h"

#include "wire/descriptor_files.h"

namespace switchboard::client {

using google::protobuf::Descriptor;
using google::protobuf::FileDescriptorSet;

std::string TypeName(const Descriptor* type) {
  return type == nullptr ? std::string() : std::string(type->full_name());
}

FileDescriptorSet FilesDefining(const std::vector<const Descriptor*>& types) {
  FileDescriptorSet out;
  for (const Descriptor* type : types) {
    if (type != nullptr) wire::AppendWithImports(type->file(), out);
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
