// SPDX-License-Identifier: MIT
//
// `switchboard describe NAME` / `describe --type=TYPE`: a name's methods in
// .proto syntax and the definitions of the types they use, or one type's
// definition (switchboard.Broker/Describe).
#include <deque>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "broker.h"
#include "commands.h"
#include "google/protobuf/descriptor.h"
#include "json.h"
#include "schemas.h"
#include "switchboard/status_macros.h"
#include "switchboard/v1/broker.pb.h"

namespace switchboard::cli {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::FieldDescriptor;

const Descriptor* Outermost(const Descriptor* type) {
  while (type->containing_type() != nullptr) type = type->containing_type();
  return type;
}

// The definitions (outermost messages and top-level enums, in the order
// first reached) of `roots` and of every type their fields use.
std::string Definitions(const std::vector<const Descriptor*>& roots) {
  absl::flat_hash_set<const void*> seen;
  std::deque<const Descriptor*> to_visit;
  std::string out;
  auto visit_message = [&](const Descriptor* type) {
    type = Outermost(type);
    if (!seen.insert(type).second) return;
    to_visit.push_back(type);
    absl::StrAppend(&out, "\n// ", type->full_name(), " (",
                    type->file()->name(), ")\n", type->DebugString());
  };
  auto visit_enum = [&](const EnumDescriptor* type) {
    if (type->containing_type() != nullptr) {
      visit_message(type->containing_type());
      return;
    }
    if (!seen.insert(type).second) return;
    absl::StrAppend(&out, "\n// ", type->full_name(), " (",
                    type->file()->name(), ")\n", type->DebugString());
  };
  for (const Descriptor* root : roots) visit_message(root);
  while (!to_visit.empty()) {
    const Descriptor* type = to_visit.front();
    to_visit.pop_front();
    std::deque<const Descriptor*> nested = {type};
    while (!nested.empty()) {  // the fields of nested types count too
      const Descriptor* t = nested.front();
      nested.pop_front();
      for (int i = 0; i < t->nested_type_count(); ++i) {
        nested.push_back(t->nested_type(i));
      }
      for (int i = 0; i < t->field_count(); ++i) {
        const FieldDescriptor* field = t->field(i);
        if (field->message_type() != nullptr)
          visit_message(field->message_type());
        if (field->enum_type() != nullptr) visit_enum(field->enum_type());
      }
    }
  }
  return out;
}

std::string MethodLine(const v1::MethodSchema& method) {
  auto type_or_bytes = [](const std::string& type) {
    return type.empty() ? std::string("bytes") : type;
  };
  return absl::StrCat("rpc ", method.name(), "(",
                      type_or_bytes(method.request_type()), ") returns (",
                      method.streaming() ? "stream " : "",
                      type_or_bytes(method.response_type()), ")\n");
}

absl::StatusOr<std::string> DescribeName(const v1::Description& description,
                                         Schemas& schemas) {
  std::string out =
      absl::StrCat(description.name(),
                   description.owner() == 0
                       ? std::string(" (the broker itself)")
                       : absl::StrCat(" (owner :", description.owner(), ")"),
                   "\n");
  if (description.methods_size() == 0) {
    absl::StrAppend(&out, "(no schema: the owner listed no methods)\n");
  }
  std::vector<const Descriptor*> roots;
  for (const v1::MethodSchema& method : description.methods()) {
    absl::StrAppend(&out, MethodLine(method));
    for (const std::string* type :
         {&method.request_type(), &method.response_type()}) {
      if (type->empty()) continue;
      SB_ASSIGN_OR_RETURN(const Descriptor* d, schemas.FindType(*type));
      roots.push_back(d);
    }
  }
  absl::StrAppend(&out, Definitions(roots));
  return out;
}

}  // namespace

absl::Status RunDescribe(const Options& options) {
  SB_ASSIGN_OR_RETURN(std::unique_ptr<Client> client, ConnectToBroker(options));
  Schemas schemas(*client, options.TimeoutOr(kDefaultTimeout));
  v1::DescribeRequest request;
  if (options.type.empty()) {
    request.set_name(options.args[0]);
  } else {
    request.set_type(options.type);
  }
  SB_ASSIGN_OR_RETURN(v1::Description description, schemas.Describe(request));
  if (options.json) {
    SB_ASSIGN_OR_RETURN(std::string json, MessageToJson(description));
    PrintLine(json);
    return absl::OkStatus();
  }
  SB_RETURN_IF_ERROR(schemas.AddFiles(description.files()));
  std::string out;
  if (options.type.empty()) {
    SB_ASSIGN_OR_RETURN(out, DescribeName(description, schemas));
  } else {
    SB_ASSIGN_OR_RETURN(const Descriptor* type, schemas.FindType(options.type));
    out = Definitions({type});
    out.erase(0, 1);  // the blank line before the first definition
  }
  std::fputs(out.c_str(), stdout);
  return absl::OkStatus();
}

}  // namespace switchboard::cli
