// SPDX-License-Identifier: MIT
//
// TempDir: a fresh folder under /tmp for one test, removed with everything
// in it when the object is destroyed. Declare it before the members that
// use the folder (a BrokerProcess running in it), so it outlives them.
//
//   TempDir temp_{"sb-act"};  // /tmp/sb-act-XXXXXX
#ifndef SWITCHBOARD_TESTS_TESTING_TEMP_DIR_H_
#define SWITCHBOARD_TESTS_TESTING_TEMP_DIR_H_

#include <string>

#include "absl/strings/string_view.h"

namespace switchboard::testing {

class TempDir {
 public:
  // Makes /tmp/PREFIX-XXXXXX (mode 0700). On failure the test fails
  // (ADD_FAILURE) and path() is empty.
  explicit TempDir(absl::string_view prefix);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_TEMP_DIR_H_
