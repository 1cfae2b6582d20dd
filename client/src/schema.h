// SPDX-License-Identifier: MIT
//
// What the library tells the broker about types (docs/PROTOCOL.md 5.1,
// 5.6): the ServiceSchema sent with REGISTER_NAME, built from the generated
// code's descriptors of a Service's typed methods, and the FileDescriptorSet
// of any set of types, each file after the files it imports.
#ifndef SWITCHBOARD_CLIENT_SRC_SCHEMA_H_
#define SWITCHBOARD_CLIENT_SRC_SCHEMA_H_

#include <string>
#include <vector>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "switchboard/service.h"
#include "switchboard/v1/schema.pb.h"

namespace switchboard::client {

// The full name of `type`, or "" for null (a raw method).
std::string TypeName(const google::protobuf::Descriptor* type);

// The files defining `types` and every file they import, transitively, each
// once and after its imports. Null entries are skipped.
google::protobuf::FileDescriptorSet FilesDefining(
    const std::vector<const google::protobuf::Descriptor*>& types);

// `service`'s methods (sorted by name, as Service keeps them) with their
// types, and the files defining those types.
v1::ServiceSchema BuildServiceSchema(const Service& service);

}  // namespace switchboard::client

#endif  // SWITCHBOARD_CLIENT_SRC_SCHEMA_H_
