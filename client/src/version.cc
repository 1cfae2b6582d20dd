// SPDX-License-Identifier: MIT
#include "switchboard/version.h"

namespace switchboard {

const char* Version() { return SWITCHBOARD_VERSION_STRING; }

}  // namespace switchboard
