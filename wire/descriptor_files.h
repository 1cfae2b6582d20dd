// SPDX-License-Identifier: MIT
//
// File sets of protobuf schemas as the protocol carries them
// (docs/PROTOCOL.md 5.1, 5.6): each file after the files it imports, each
// once. The library builds them from generated descriptors and the broker
// from the pools it keeps; both use this one function.
#ifndef SWITCHBOARD_WIRE_DESCRIPTOR_FILES_H_
#define SWITCHBOARD_WIRE_DESCRIPTOR_FILES_H_

#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"

namespace switchboard::wire {

// Appends `file` to `out` after the files it imports, transitively, leaving
// out every file `out` already holds (by name).
void AppendWithImports(const google::protobuf::FileDescriptor* file,
                       google::protobuf::FileDescriptorSet& out);

}  // namespace switchboard::wire

#endif  // SWITCHBOARD_WIRE_DESCRIPTOR_FILES_H_
