// SPDX-License-Identifier: MIT
#include "wire/descriptor_files.h"

#include <algorithm>

namespace switchboard::wire {

void AppendWithImports(const google::protobuf::FileDescriptor* file,
                       google::protobuf::FileDescriptorSet& out) {
  const bool held = std::any_of(
      out.file().begin(), out.file().end(),
      [&](const auto& kept) { return kept.name() == file->name(); });
  if (held) return;
  for (int i = 0; i < file->dependency_count(); ++i) {
    AppendWithImports(file->dependency(i), out);
  }
  file->CopyTo(out.add_file());
}

}  // namespace switchboard::wire
